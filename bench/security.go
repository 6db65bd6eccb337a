package bench

import (
	"fmt"

	"github.com/pulseops/pulse/demo"
	"github.com/pulseops/pulse/internal/bus"
	"github.com/pulseops/pulse/internal/issuer"
	"github.com/pulseops/pulse/internal/protocol"
	sec "github.com/pulseops/pulse/internal/security"
)

// security is a secured run's identities: an issuer, credentials for every
// agent, the collector, the client and the raw baseline, and what agents
// believe requests with. A nil *security is an open run.
type security struct {
	local     *issuer.Local
	user      *sec.Identity
	verify    func(*protocol.Envelope) (*protocol.Principal, error)
	authorize *sec.Policy
}

// newSecurity issues credentials for the demo fleet of n nodes under dir.
func newSecurity(dir string, n int) (*security, error) {
	var ids []string
	for _, spec := range demo.Fleet(n, benchZones) {
		ids = append(ids, spec.Identity)
	}
	l, err := issuer.NewLocal(dir, issuer.LocalOptions{User: "bench", Nodes: ids})
	if err != nil {
		return nil, fmt.Errorf("issue the secured fleet's credentials: %w", err)
	}
	s := &security{local: l}
	if s.user, err = sec.LoadCreds(l.User); err != nil {
		return nil, err
	}
	t := l.TrustedIssuers()
	is, err := sec.NewIssuers([]string{t[issuer.RoleUser]}, []string{t[issuer.RoleCollector]})
	if err != nil {
		return nil, err
	}
	s.verify = (&sec.Verifier{Issuers: is, Require: true}).Verify
	// The demo's policy: anyone reads, ops (the bench user) does anything.
	if s.authorize, err = sec.NewPolicy("bench policy", sec.PolicyFile{Rules: append(sec.ReadOnlyRules("*"),
		sec.RuleSpec{Name: "ops may do anything", Effect: "allow", Callers: []string{"group:ops"}, Agent: "*"})}, nil); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *security) serverConfig() string {
	if s == nil {
		return ""
	}
	return s.local.ServerConfigFile
}

func (s *security) userCreds() string { return s.creds(func(l *issuer.Local) string { return l.User }) }
func (s *security) collectorCreds() string {
	return s.creds(func(l *issuer.Local) string { return l.Collector })
}
func (s *security) adminCreds() string {
	return s.creds(func(l *issuer.Local) string { return l.Admin })
}
func (s *security) nodeCreds(id string) string {
	return s.creds(func(l *issuer.Local) string { return l.Nodes[id] })
}

func (s *security) creds(f func(*issuer.Local) string) string {
	if s == nil {
		return ""
	}
	return f(s.local)
}

// login is the bus login of a .creds file (none for an open run).
func (s *security) login(creds string) bus.Credentials { return bus.Credentials{CredsFile: creds} }
