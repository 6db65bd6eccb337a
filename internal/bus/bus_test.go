package bus_test

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/pulseops/pulse/internal/broker"
	"github.com/pulseops/pulse/internal/bus"
	"github.com/pulseops/pulse/internal/config"
	"github.com/pulseops/pulse/internal/testkit"
)

func TestOptionsErrors(t *testing.T) {
	for _, tc := range []struct {
		c    bus.Config
		want string
	}{
		{bus.Config{Credentials: bus.Credentials{User: "a", NKeySeedFile: "x"}}, "nats credentials: set one of user/password, nkey_seed_file or creds_file"},
		{bus.Config{Credentials: bus.Credentials{Password: "p"}}, "nats credentials: password is set without user"},
		{bus.Config{TLS: bus.TLS{CertFile: "c"}}, "nats tls: cert_file and key_file go together"},
		{bus.Config{TLS: bus.TLS{CAFile: "/nonexistent/ca.pem"}}, "read CA file: open /nonexistent/ca.pem: no such file or directory"},
		{bus.Config{Credentials: bus.Credentials{CredsFile: "/nonexistent/alice.creds"}}, "nats creds file: stat /nonexistent/alice.creds: no such file or directory"},
		{bus.Config{Credentials: bus.Credentials{NKeySeedFile: "/nonexistent/alice.nk"}}, "nats nkey seed /nonexistent/alice.nk: "},
		{bus.Config{ConnectTimeout: -time.Second}, "nats: connect_timeout must not be negative"},
		{bus.Config{URLs: []string{" "}}, "nats: an empty URL in urls"},
	} {
		_, err := tc.c.Options()
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%+v: got %v, want %s", tc.c, err, tc.want)
		}
		// A daemon refuses the same configuration before it dials.
		if _, err := bus.Connect(tc.c, nil); err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("Connect %+v: got %v, want %s", tc.c, err, tc.want)
		}
	}
}

// The `nats:` block reads the same in the agent's and the collector's
// files, and the short forms of older configs still work.
func TestConfigYAML(t *testing.T) {
	type file struct {
		NATS bus.Config `yaml:"nats"`
	}
	for _, tc := range []struct {
		yaml string
		want bus.Config
	}{
		{"nats: [nats://a:4222, nats://b:4222]", bus.Config{URLs: []string{"nats://a:4222", "nats://b:4222"}}},
		{"nats: nats://a:4222,nats://b:4222", bus.Config{URLs: []string{"nats://a:4222", "nats://b:4222"}}},
		{"nats:\n  urls: [nats://a:4222]\n  name: edge\n  ca_file: ca.pem\n  cert_file: c.pem\n  key_file: k.pem\n  creds_file: n.creds\n  inbox_prefix: _INBOX_n\n  connect_timeout: 2s\n",
			bus.Config{URLs: []string{"nats://a:4222"}, Name: "edge", TLS: bus.TLS{CAFile: "ca.pem", CertFile: "c.pem", KeyFile: "k.pem"},
				Credentials: bus.Credentials{CredsFile: "n.creds"}, InboxPrefix: "_INBOX_n", ConnectTimeout: 2 * time.Second}},
		{"nats:\n  user: web-01\n  password: s3cret\n", bus.Config{Credentials: bus.Credentials{User: "web-01", Password: "s3cret"}}},
	} {
		var f file
		if err := config.Decode("x.yaml", []byte(tc.yaml), &f); err != nil {
			t.Errorf("%q: %v", tc.yaml, err)
			continue
		}
		if !reflect.DeepEqual(f.NATS, tc.want) {
			t.Errorf("%q: got %+v, want %+v", tc.yaml, f.NATS, tc.want)
		}
	}
	for yaml, want := range map[string]string{
		"nats:\n  urls: [nats://a:4222]\n  tls_ca: ca.pem\n": "x.yaml:3: unknown key \"tls_ca\"",
		"nats:\n  urls: {a: b}\n":                            "x.yaml:2: a mapping does not fit here (want []string)",
	} {
		var f file
		err := config.Decode("x.yaml", []byte(yaml), &f)
		if err == nil || err.Error() != want {
			t.Errorf("%q: got %v, want %s", yaml, err, want)
		}
	}
}

func TestResolvePaths(t *testing.T) {
	c := bus.Config{TLS: bus.TLS{CAFile: "ca.pem", CertFile: "/abs/c.pem", KeyFile: "k.pem"}, Credentials: bus.Credentials{CredsFile: "n.creds"}}
	c.ResolvePaths("/etc/pulse")
	if c.CAFile != "/etc/pulse/ca.pem" || c.CertFile != "/abs/c.pem" || c.KeyFile != "/etc/pulse/k.pem" || c.CredsFile != "/etc/pulse/n.creds" {
		t.Fatalf("resolved: %+v", c)
	}
}

// A daemon started before its broker connects when the broker comes up;
// a command fails at once, so its user is told.
func TestConnectWaitsForBrokerDialDoesNot(t *testing.T) {
	port := testkit.FreePort(t)
	c := bus.Config{URLs: []string{fmt.Sprintf("nats://127.0.0.1:%d", port)}, Name: "early", ConnectTimeout: time.Second}
	if _, err := bus.Dial(c); !errors.Is(err, nats.ErrNoServers) {
		t.Fatalf("Dial with no broker: %v, want %v", err, nats.ErrNoServers)
	}
	nc, err := bus.Connect(c, nil)
	if err != nil {
		t.Fatalf("Connect with no broker yet must not fail: %v", err)
	}
	defer nc.Close()
	b, err := broker.Start(broker.Options{Host: "127.0.0.1", Port: port})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Shutdown()
	testkit.WaitFor(t, 20*time.Second, "the daemon's connection", nc.IsConnected)
	if nc.Opts.Name != "early" {
		t.Fatalf("connection name %q", nc.Opts.Name)
	}
}

func TestInboxPrefixFollowsUser(t *testing.T) {
	for _, tc := range []struct {
		c    bus.Config
		want string
	}{
		{bus.Config{}, nats.InboxPrefix[:len(nats.InboxPrefix)-1]},
		{bus.Config{Credentials: bus.Credentials{User: "alice.ops", Password: "p"}}, "_INBOX_alice_ops"},
		{bus.Config{Credentials: bus.Credentials{User: "alice"}, InboxPrefix: "_INBOX_team"}, "_INBOX_team"},
	} {
		opts, err := tc.c.Options()
		if err != nil {
			t.Fatal(err)
		}
		o := nats.GetDefaultOptions()
		for _, f := range opts {
			if err := f(&o); err != nil {
				t.Fatal(err)
			}
		}
		got := o.InboxPrefix
		if got == "" {
			got = nats.InboxPrefix[:len(nats.InboxPrefix)-1]
		}
		if got != tc.want {
			t.Errorf("%+v: inbox prefix %q, want %q", tc.c, got, tc.want)
		}
	}
}
