package security

import (
	"fmt"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"

	"github.com/pulseops/pulse/internal/bus"
	"github.com/pulseops/pulse/internal/config"
	"github.com/pulseops/pulse/internal/protocol"
)

// Role is what a NATS user is for; it decides its subject permissions.
type Role string

// The roles a broker user can have.
const (
	// RoleAgent is one node: it hears requests for its agents and its own
	// node subject, replies only to requests it received, and publishes
	// only its own registrations and results.
	RoleAgent Role = "agent"
	// RoleClient is a person's CLI: it sends requests and hears replies on
	// its own inbox prefix and the collector's events.
	RoleClient Role = "client"
	// RoleCollector ingests registrations and results through JetStream,
	// publishes events and sends remediation requests.
	RoleCollector Role = "collector"
	// RoleAdmin may do anything; for operators and `nats` tooling.
	RoleAdmin Role = "admin"
)

// responseTTL is how long an agent may answer a request it received. It is
// longer than any sensible request TTL, so slow package installs still get
// their reply through.
const responseTTL = time.Hour

// Permissions builds the subject permissions of one broker user. identity
// is the node identity for RoleAgent and the user name otherwise.
func Permissions(collective string, role Role, identity string) (*server.Permissions, error) {
	if collective == "" {
		collective = "pulse"
	}
	if !protocol.ValidToken(collective) {
		return nil, fmt.Errorf("collective %q is not a valid subject token", collective)
	}
	s := protocol.Subjects{Collective: collective}
	inbox := bus.InboxPrefix(identity) + ".>"
	switch role {
	case RoleAgent:
		if !protocol.ValidToken(identity) {
			return nil, fmt.Errorf("agent identity %q is not a valid subject token", identity)
		}
		return &server.Permissions{
			Publish:   &server.SubjectPermission{Allow: []string{s.Registry(identity), s.Results(identity, ">")}},
			Subscribe: &server.SubjectPermission{Allow: []string{s.Agent("*"), s.Node(identity)}},
			// Replies go to the reply subject of a request this agent
			// received, and only once: an agent cannot publish into other
			// clients' inboxes at will.
			Response: &server.ResponsePermission{MaxMsgs: 1, Expires: responseTTL},
		}, nil
	case RoleClient:
		return &server.Permissions{
			Publish:   &server.SubjectPermission{Allow: []string{s.Agent("*"), s.Node("*")}},
			Subscribe: &server.SubjectPermission{Allow: []string{inbox, s.Events()}},
		}, nil
	case RoleCollector:
		return &server.Permissions{
			Publish: &server.SubjectPermission{Allow: []string{
				"$JS.API.>", "$JS.ACK.>", "$JS.FC.>", s.Events(), s.Agent("*"), s.Node("*"),
			}},
			Subscribe: &server.SubjectPermission{Allow: []string{s.RegistryAll(), s.ResultsAll(), inbox}},
		}, nil
	case RoleAdmin:
		return nil, nil
	}
	return nil, fmt.Errorf("role %q is not one of agent, client, collector, admin", role)
}

// BrokerUser is one user in a broker users file.
type BrokerUser struct {
	Name string `yaml:"name"`
	Role Role   `yaml:"role"`
	// Identity is the node identity of an agent user (default: Name).
	Identity string `yaml:"identity"`
	// Password, plain or a bcrypt hash ("$2a$..."), or NKey, the user's
	// public nkey ("U..."); exactly one.
	Password string `yaml:"password"`
	NKey     string `yaml:"nkey"`
}

// BrokerUsersFile is the YAML file `pulse broker --users` reads.
type BrokerUsersFile struct {
	Collective string       `yaml:"collective"`
	Users      []BrokerUser `yaml:"users"`
}

// BrokerAuth is what the embedded broker needs to require credentials.
type BrokerAuth struct {
	Users     []*server.User
	NkeyUsers []*server.NkeyUser
}

// LoadBrokerUsers reads a broker users file and builds the users with their
// permissions.
func LoadBrokerUsers(path string) (*BrokerAuth, error) {
	var f BrokerUsersFile
	doc, err := config.LoadNode(path, &f)
	if err != nil {
		return nil, err
	}
	auth := &BrokerAuth{}
	seen := map[string]bool{}
	for i, u := range f.Users {
		if seen[u.Name] {
			return nil, config.At(path, config.Find(doc, "users", i, "name"), "user %q is listed twice", u.Name)
		}
		seen[u.Name] = true
		if err := auth.Add(f.Collective, u); err != nil {
			return nil, config.At(path, config.Find(doc, "users", i), "user %d: %v", i+1, err)
		}
	}
	return auth, nil
}

// Add adds one user.
func (a *BrokerAuth) Add(collective string, u BrokerUser) error {
	if err := ValidName(u.Name); err != nil {
		return err
	}
	id := u.Identity
	if id == "" {
		id = u.Name
	}
	perms, err := Permissions(collective, u.Role, id)
	if err != nil {
		return fmt.Errorf("%s: %w", u.Name, err)
	}
	switch {
	case u.Password != "" && u.NKey != "":
		return fmt.Errorf("%s: set password or nkey, not both", u.Name)
	case u.NKey != "":
		if !nkeys.IsValidPublicUserKey(u.NKey) {
			return fmt.Errorf("%s: nkey %q is not a public user nkey (it starts with U; never put the seed here)", u.Name, abbreviate(u.NKey))
		}
		a.NkeyUsers = append(a.NkeyUsers, &server.NkeyUser{Nkey: u.NKey, Permissions: perms})
	case u.Password != "":
		a.Users = append(a.Users, &server.User{Username: u.Name, Password: u.Password, Permissions: perms})
	default:
		return fmt.Errorf("%s: no password or nkey", u.Name)
	}
	return nil
}

// GenerateNKey makes a user nkey pair: the seed (keep it secret, give it to
// the process as nkey_seed_file) and the public key for the users file.
func GenerateNKey() (seed []byte, public string, err error) {
	kp, err := nkeys.CreateUser()
	if err != nil {
		return nil, "", fmt.Errorf("create nkey: %w", err)
	}
	seed, err = kp.Seed()
	if err != nil {
		return nil, "", fmt.Errorf("nkey seed: %w", err)
	}
	public, err = kp.PublicKey()
	if err != nil {
		return nil, "", fmt.Errorf("nkey public key: %w", err)
	}
	return seed, public, nil
}
