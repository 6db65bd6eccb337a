package issuer

import (
	"fmt"
	"os"
	"path/filepath"
)

// Local is an issuer and the credentials of a whole fleet on one machine,
// as `pulse demo`, `pulse bench --secured` and the tests make them: every
// file under one directory, the broker's trust included.
type Local struct {
	*Issuer
	// ServerConfigFile makes a broker trust the issuer (broker.Options.ConfigFile).
	ServerConfigFile string
	// User and Collector are the .creds files of the person at the keyboard
	// (group ops) and of the collector (group automation); Admin may do
	// anything in the account (a benchmark's raw baseline, a test's spy).
	User, Collector, Admin string
	// Nodes maps every node identity to its .creds file.
	Nodes map[string]string
}

// LocalOptions name what NewLocal issues.
type LocalOptions struct {
	Collective string
	// User is the user's name ("demo" when empty); Nodes the node
	// identities.
	User  string
	Nodes []string
}

// NewLocal creates an issuer in dir/issuer and issues credentials for the
// user, the collector and every node into dir/creds, and the broker's trust
// into dir/auth.conf with a resolver directory of dir/jwt.
func NewLocal(dir string, o LocalOptions) (*Local, error) {
	if o.Collective == "" {
		o.Collective = "pulse"
	}
	if o.User == "" {
		o.User = "demo"
	}
	is, err := Create(filepath.Join(dir, "issuer"), o.Collective)
	if err != nil {
		return nil, err
	}
	l := &Local{Issuer: is, Nodes: make(map[string]string, len(o.Nodes))}
	credsDir := filepath.Join(dir, "creds")
	issue := func(role Role, name string, groups ...string) (string, error) {
		c, err := is.Issue(role, name, IssueOptions{Groups: groups})
		if err != nil {
			return "", fmt.Errorf("issue %s %s: %w", role, name, err)
		}
		p := filepath.Join(credsDir, string(role)+"-"+name+".creds")
		return p, WriteCreds(p, c, false)
	}
	if l.User, err = issue(RoleUser, o.User, "ops"); err != nil {
		return nil, err
	}
	if l.Collector, err = issue(RoleCollector, "collector", "automation"); err != nil {
		return nil, err
	}
	if l.Admin, err = issue(RoleAdmin, "admin"); err != nil {
		return nil, err
	}
	for _, id := range o.Nodes {
		if l.Nodes[id], err = issue(RoleNode, id); err != nil {
			return nil, err
		}
	}
	l.ServerConfigFile = filepath.Join(dir, "auth.conf")
	if err := os.WriteFile(l.ServerConfigFile, []byte(is.ServerConfig(filepath.Join(dir, "jwt"))), 0o644); err != nil {
		return nil, fmt.Errorf("write the broker's trust: %w", err)
	}
	return l, nil
}
