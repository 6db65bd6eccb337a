package security_test

import (
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/pulseops/pulse/internal/broker"
	"github.com/pulseops/pulse/internal/bus"
	"github.com/pulseops/pulse/internal/security"
)

// asyncErrs collects the asynchronous errors the server sends a client,
// where permission violations arrive.
type asyncErrs struct {
	mu   sync.Mutex
	errs []string
}

func (a *asyncErrs) handler(_ *nats.Conn, _ *nats.Subscription, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.errs = append(a.errs, err.Error())
}

func (a *asyncErrs) waitFor(t *testing.T, substr string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for time.Now().Before(deadline) {
		a.mu.Lock()
		for _, e := range a.errs {
			if strings.Contains(e, substr) {
				a.mu.Unlock()
				return
			}
		}
		a.mu.Unlock()
		<-tick.C
	}
	t.Fatalf("no async error containing %q (got %v)", substr, a.errs)
}

func securedBroker(t *testing.T) (*broker.Broker, *security.PKI) {
	t.Helper()
	pki, err := security.WritePKI(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	tlsCfg, err := security.ServerTLSConfig(pki.ServerCert, pki.ServerKey, pki.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	auth := &security.BrokerAuth{}
	for _, u := range []security.BrokerUser{
		{Name: "web-01", Role: security.RoleAgent, Password: "pw1"},
		{Name: "web-02", Role: security.RoleAgent, Password: "pw2"},
		{Name: "alice", Role: security.RoleClient, Password: "pw3"},
		{Name: "collector", Role: security.RoleCollector, Password: "pw4"},
	} {
		if err := auth.Add("pulse", u); err != nil {
			t.Fatal(err)
		}
	}
	b, err := broker.Start(broker.Options{Port: -1, JetStreamDir: t.TempDir(), TLS: tlsCfg, Users: auth.Users, NkeyUsers: auth.NkeyUsers})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Shutdown)
	return b, pki
}

func connect(t *testing.T, url string, tr bus.Config, errs *asyncErrs) (*nats.Conn, error) {
	t.Helper()
	tr.URLs = []string{url}
	var opts []nats.Option
	if errs != nil {
		opts = append(opts, nats.ErrorHandler(errs.handler))
	}
	nc, err := bus.Dial(tr, opts...)
	if err == nil {
		t.Cleanup(nc.Close)
	}
	return nc, err
}

func TestBrokerRequiresTLSClientCertAndCredentials(t *testing.T) {
	b, pki := securedBroker(t)
	url := b.ClientURL()
	full := bus.Config{TLS: bus.TLS{CAFile: pki.CAFile, CertFile: pki.ClientCert, KeyFile: pki.ClientKey}, Credentials: bus.Credentials{User: "alice", Password: "pw3"}}
	if _, err := connect(t, url, full, nil); err != nil {
		t.Fatalf("a client with certificate and credentials must connect: %v", err)
	}
	noCreds := full
	noCreds.User, noCreds.Password = "", ""
	if _, err := connect(t, url, noCreds, nil); !errors.Is(err, nats.ErrAuthorization) {
		t.Fatalf("without credentials: %v, want an authorization violation", err)
	}
	wrong := full
	wrong.Password = "guess"
	if _, err := connect(t, url, wrong, nil); !errors.Is(err, nats.ErrAuthorization) {
		t.Fatalf("with a wrong password: %v, want an authorization violation", err)
	}
	noCert := full
	noCert.CertFile, noCert.KeyFile = "", ""
	if _, err := connect(t, url, noCert, nil); err == nil {
		t.Fatal("a client without a certificate must not connect")
	}
	if _, err := nats.Connect(url, nats.Timeout(3*time.Second)); err == nil {
		t.Fatal("a plain-text client must not connect")
	}
}

func TestAgentPermissions(t *testing.T) {
	b, pki := securedBroker(t)
	url := b.ClientURL()
	base := bus.Config{TLS: bus.TLS{CAFile: pki.CAFile, CertFile: pki.ClientCert, KeyFile: pki.ClientKey}}
	agentErrs := &asyncErrs{}
	a := base
	a.User, a.Password = "web-01", "pw1"
	agent, err := connect(t, url, a, agentErrs)
	if err != nil {
		t.Fatal(err)
	}
	c := base
	c.User, c.Password = "alice", "pw3" // the inbox prefix follows the user
	client, err := connect(t, url, c, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The agent answers a request it received: allowed once per request.
	if _, err := agent.Subscribe("pulse.pulse.agent.rpcutil", func(m *nats.Msg) { _ = m.Respond([]byte("pong")) }); err != nil {
		t.Fatal(err)
	}
	if err := agent.Flush(); err != nil {
		t.Fatal(err)
	}
	if m, err := client.Request("pulse.pulse.agent.rpcutil", []byte("ping"), 3*time.Second); err != nil || string(m.Data) != "pong" {
		t.Fatalf("request through permissions: %v %v", m, err)
	}
	// Its own registry subject is fine; another node's is refused.
	if err := agent.Publish("pulse.pulse.registry.web-01", []byte("{}")); err != nil {
		t.Fatal(err)
	}
	for _, subj := range []string{"pulse.pulse.registry.web-02", "pulse.pulse.results.web-02.load", "pulse.pulse.node.web-02", "pulse.pulse.agent.service", "_INBOX_alice.x"} {
		if err := agent.Publish(subj, []byte("{}")); err != nil {
			t.Fatal(err)
		}
		agentErrs.waitFor(t, `Permissions Violation for Publish to "`+subj+`"`)
	}
	// Nor may it listen to another node's requests or the clients' replies.
	for _, subj := range []string{"pulse.pulse.node.web-02", "_INBOX_alice.>", "pulse.pulse.registry.*"} {
		if _, err := agent.Subscribe(subj, func(*nats.Msg) {}); err != nil {
			t.Fatal(err)
		}
		agentErrs.waitFor(t, `Permissions Violation for Subscription to "`+subj+`"`)
	}
}

func TestPermissionsRoles(t *testing.T) {
	if _, err := security.Permissions("pulse", "root", "x"); err == nil || err.Error() != `role "root" is not one of agent, client, collector, admin` {
		t.Fatalf("unknown role: %v", err)
	}
	if _, err := security.Permissions("pulse", security.RoleAgent, "web.*"); err == nil || err.Error() != `agent identity "web.*" is not a valid subject token` {
		t.Fatalf("wildcard identity: %v", err)
	}
	p, err := security.Permissions("pulse", security.RoleCollector, "collector")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(p.Subscribe.Allow, " "); got != "pulse.pulse.registry.* pulse.pulse.results.> _INBOX_collector.>" {
		t.Fatalf("collector subscribe %q", got)
	}
}

func TestNKeyUser(t *testing.T) {
	seed, pub, err := security.GenerateNKey()
	if err != nil {
		t.Fatal(err)
	}
	auth := &security.BrokerAuth{}
	if err := auth.Add("pulse", security.BrokerUser{Name: "alice", Role: security.RoleClient, NKey: pub}); err != nil {
		t.Fatal(err)
	}
	if err := auth.Add("pulse", security.BrokerUser{Name: "bad", Role: security.RoleClient, NKey: string(seed)}); err == nil || !strings.Contains(err.Error(), "never put the seed here") {
		t.Fatalf("seed as nkey: %v", err)
	}
	b, err := broker.Start(broker.Options{Port: -1, NkeyUsers: auth.NkeyUsers})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Shutdown)
	seedFile := t.TempDir() + "/alice.nk"
	if err := writeFile(seedFile, seed); err != nil {
		t.Fatal(err)
	}
	if _, err := connect(t, b.ClientURL(), bus.Config{Credentials: bus.Credentials{NKeySeedFile: seedFile}, InboxPrefix: bus.InboxPrefix("alice")}, nil); err != nil {
		t.Fatalf("nkey login: %v", err)
	}
	if _, err := nats.Connect(b.ClientURL(), nats.Timeout(3*time.Second)); !errors.Is(err, nats.ErrAuthorization) {
		t.Fatalf("anonymous login: %v, want an authorization violation", err)
	}
}

func writeFile(path string, b []byte) error { return os.WriteFile(path, b, 0o600) }
