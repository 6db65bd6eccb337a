package issuer

import (
	"fmt"

	"github.com/nats-io/jwt/v2"

	"github.com/pulseops/pulse/internal/protocol"
)

// Role is what a bus identity is for; it decides which scoped signing key
// issues it and so what the broker lets it publish and read.
type Role string

// The roles pulse issues credentials for.
const (
	// RoleNode is one node's agent: it hears requests for the agents it
	// hosts and for itself, and publishes only its own registrations,
	// results, changes, fleet-registry key and replies.
	RoleNode Role = "node"
	// RoleUser is a person's CLI (or automation acting as a person): it
	// sends requests under its own name and reads only its own replies and
	// the collector's events.
	RoleUser Role = "user"
	// RoleCollector ingests the fleet's streams, publishes events and sends
	// remediation requests under its own name.
	RoleCollector Role = "collector"
	// RoleAdmin is signed by the account key itself, without a template: it
	// may do anything in the account. For operators' `nats` tooling only.
	RoleAdmin Role = "admin"
)

// ScopedRoles are the roles issued through a scoped signing key.
var ScopedRoles = []Role{RoleNode, RoleUser, RoleCollector}

// ParseRole reads a role name.
func ParseRole(s string) (Role, error) {
	switch r := Role(s); r {
	case RoleNode, RoleUser, RoleCollector, RoleAdmin:
		return r, nil
	}
	return "", fmt.Errorf("role %q is not one of node, user, collector, admin", s)
}

// nameTemplate is what the broker replaces with the user JWT's name when it
// applies a scoped signing key's template, so one key issues every node
// (or user) and each gets permissions on its own subjects only.
const nameTemplate = "{{name()}}"

// CallerToken is the token a caller of role with name puts in the subjects
// of its requests and reads its replies under (protocol.Subjects): a person
// is "user=<name>", as MCollective named callers, and the collector goes by
// its name. Nodes send no requests.
func CallerToken(role Role, name string) string {
	if role == RoleUser {
		return "user=" + name
	}
	return name
}

// Permissions are the subject permissions every identity of role gets in
// collective, with {{name()}} standing for the identity's name. They are the
// templates of the role's scoped signing key, so the broker enforces them;
// SECURITY.md has them as a table.
func Permissions(collective string, role Role) (jwt.Permissions, error) {
	if !protocol.ValidToken(collective) {
		return jwt.Permissions{}, fmt.Errorf("collective %q is not a valid subject token", collective)
	}
	s := protocol.Subjects{Collective: collective}
	name := nameTemplate
	// The JetStream API answers and delivers on the process's own inbox
	// prefix (bus.InboxPrefix of its name).
	inbox := "_INBOX_" + name + ".>"
	var p jwt.Permissions
	switch role {
	case RoleNode:
		p.Pub.Allow.Add(
			s.Registry(name),
			s.Results(name, ">"),
			s.Reply("*", "*", name),
			s.Changes(name),
			// The fleet registry (a JetStream key-value bucket): a node
			// writes its own key only; the bucket refuses roll-up headers,
			// so that key cannot purge the others (internal/registry).
			s.FleetKey(name),
		)
		p.Sub.Allow.Add(s.AgentAll("*"), s.NodeAll(name), inbox)
	case RoleUser:
		caller := CallerToken(RoleUser, name)
		// The fleet registry is read as its keys (stream info) or its
		// values (batched direct gets), answered on the user's own inbox:
		// no consumer, nothing that writes.
		p.Pub.Allow.Add(s.Agent("*", caller), s.Node("*", caller), s.FleetRead(), "$JS.API.STREAM.INFO."+s.FleetStream())
		// `pulse rollout` holds its nodes in the lock bucket and records
		// the rollout; the JetStream API answers on the user's inbox.
		p.Pub.Allow.Add(rolloutSubjects(s)...)
		p.Sub.Allow.Add(s.RepliesTo(caller), s.Events(), inbox)
	case RoleCollector:
		p.Pub.Allow.Add(s.Agent("*", name), s.Node("*", name), s.Events(), "$JS.API.INFO")
		for _, stream := range []string{s.RegistryStream(), s.ResultsStream(), s.ChangesStream(), s.RolloutsStream()} {
			p.Pub.Allow.Add(jetStreamAPI(stream)...)
		}
		// The collector creates the fleet bucket (or brings its settings
		// into line) and reads it as users do.
		p.Pub.Allow.Add(s.FleetRead(),
			"$JS.API.STREAM.INFO."+s.FleetStream(),
			"$JS.API.STREAM.CREATE."+s.FleetStream(),
			"$JS.API.STREAM.UPDATE."+s.FleetStream())
		// The collector runs the action API's rollouts as the CLI runs
		// them, and follows every rollout's record.
		p.Pub.Allow.Add(rolloutSubjects(s)...)
		p.Sub.Allow.Add(s.RegistryAll(), s.ResultsAll(), s.ChangesAll(), s.RolloutsAll(), s.RepliesTo(name), inbox)
	default:
		return jwt.Permissions{}, fmt.Errorf("role %q has no permission template", role)
	}
	return p, nil
}

// rolloutSubjects are what running a rollout publishes: its record (with
// the records stream's API to create it when missing), and the keys of the
// lock bucket that keeps two rollouts off the same nodes, read directly.
func rolloutSubjects(s protocol.Subjects) []string {
	kv := "KV_" + s.RolloutLocks()
	return []string{
		"$JS.API.INFO",
		s.Rollouts("*"),
		"$JS.API.STREAM.INFO." + s.RolloutsStream(),
		"$JS.API.STREAM.CREATE." + s.RolloutsStream(),
		"$KV." + s.RolloutLocks() + ".>",
		"$JS.API.STREAM.INFO." + kv,
		"$JS.API.STREAM.CREATE." + kv,
		"$JS.API.STREAM.UPDATE." + kv,
		"$JS.API.STREAM.MSG.GET." + kv,
		"$JS.API.DIRECT.GET." + kv + ".>",
	}
}

// jetStreamAPI is what the collector needs of one stream: create it or
// bring its limits into line, and replay it through ordered consumers. It
// may not delete or purge it, nor touch any other stream.
func jetStreamAPI(stream string) []string {
	return []string{
		"$JS.API.STREAM.INFO." + stream,
		"$JS.API.STREAM.CREATE." + stream,
		"$JS.API.STREAM.UPDATE." + stream,
		"$JS.API.CONSUMER.CREATE." + stream,
		"$JS.API.CONSUMER.CREATE." + stream + ".>",
		"$JS.API.CONSUMER.DELETE." + stream + ".>",
		"$JS.API.CONSUMER.INFO." + stream + ".>",
		"$JS.API.CONSUMER.MSG.NEXT." + stream + ".>",
	}
}
