package demo

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/pulseops/pulse/internal/issuer"
	"github.com/pulseops/pulse/internal/security"
)

// Identity is the demo's bus identity, made by itself as an operator would
// with `pulse keys`: an issuer, credentials for every simulated node, the
// collector and the person at the keyboard, a broker that refuses anything
// else, and what agents believe requests with.
type Identity struct {
	*issuer.Local
	// UserCreds is where the CLI finds the user's credentials.
	UserCreds string
	Collector *security.Identity
	Verifier  *security.Verifier
	Policy    *security.Policy
}

// newIdentity issues everything under dir. The user's credentials are
// copied to userDir/demo.creds when userDir is set, replacing an older
// demo's (they are good for the demo that made them only).
func newIdentity(dir, userDir string, nodes []string) (*Identity, error) {
	l, err := issuer.NewLocal(filepath.Join(dir, "identity"), issuer.LocalOptions{Nodes: nodes})
	if err != nil {
		return nil, err
	}
	id := &Identity{Local: l, UserCreds: l.User}
	if id.Collector, err = security.LoadCreds(l.Collector); err != nil {
		return nil, err
	}
	trusted := l.TrustedIssuers()
	issuers, err := security.NewIssuers([]string{trusted[issuer.RoleUser]}, []string{trusted[issuer.RoleCollector]})
	if err != nil {
		return nil, err
	}
	id.Verifier = &security.Verifier{Issuers: issuers, Require: true}
	rules := append(security.ReadOnlyRules("*"),
		security.RuleSpec{Name: "ops may do anything", Effect: "allow", Callers: []string{"group:ops"}, Agent: "*"},
		security.RuleSpec{Name: "automation may restart services", Effect: "allow", Callers: []string{"group:automation"}, Agent: "service"},
		// The action API's rollouts run as the collector.
		security.RuleSpec{Name: "automation may roll packages out and back", Effect: "allow", Callers: []string{"group:automation"}, Agent: "package", Actions: []string{"install", "uninstall", "status"}},
	)
	if id.Policy, err = security.NewPolicy("demo policy", security.PolicyFile{Rules: rules}, nil); err != nil {
		return nil, err
	}
	if userDir != "" {
		b, err := os.ReadFile(l.User)
		if err != nil {
			return nil, err
		}
		id.UserCreds = filepath.Join(userDir, security.DemoCredsFileName)
		if err := os.MkdirAll(userDir, 0o700); err != nil {
			return nil, fmt.Errorf("create %s: %w", userDir, err)
		}
		tmp := id.UserCreds + ".tmp"
		if err := os.WriteFile(tmp, b, 0o600); err != nil {
			return nil, fmt.Errorf("leave the demo's credentials for the CLI: %w", err)
		}
		if err := os.Rename(tmp, id.UserCreds); err != nil {
			return nil, fmt.Errorf("leave the demo's credentials for the CLI: %w", err)
		}
	}
	return id, nil
}

// IssueNode issues credentials for one more node: all it needs to join the
// demo's bus, with no change to the broker or anything else.
func (id *Identity) IssueNode(name string) (string, error) {
	c, err := id.Issue(issuer.RoleNode, name, issuer.IssueOptions{})
	if err != nil {
		return "", err
	}
	p := filepath.Join(filepath.Dir(id.Local.User), "node-"+name+".creds")
	return p, issuer.WriteCreds(p, c, false)
}
