package registry

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pulseops/pulse/internal/broker"
	"github.com/pulseops/pulse/internal/bus"
	"github.com/pulseops/pulse/internal/issuer"
)

// securedBus is a broker that trusts pulse's issuer and nothing else, with
// credentials for two nodes, a user and the collector.
func securedBus(t *testing.T) (url string, creds map[string]string) {
	t.Helper()
	dir := t.TempDir()
	is, err := issuer.Create(filepath.Join(dir, "issuer"), "pulse")
	if err != nil {
		t.Fatal(err)
	}
	creds = map[string]string{}
	for name, role := range map[string]issuer.Role{"web-01": issuer.RoleNode, "web-02": issuer.RoleNode, "alice": issuer.RoleUser, "collector": issuer.RoleCollector} {
		c, err := is.Issue(role, name, issuer.IssueOptions{})
		if err != nil {
			t.Fatal(err)
		}
		creds[name] = filepath.Join(dir, name+".creds")
		if err := issuer.WriteCreds(creds[name], c, false); err != nil {
			t.Fatal(err)
		}
	}
	conf := filepath.Join(dir, "auth.conf")
	if err := os.WriteFile(conf, []byte(is.ServerConfig(filepath.Join(dir, "jwt"))), 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := broker.Start(broker.Options{Port: -1, ConfigFile: conf, JetStreamDir: filepath.Join(dir, "js")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Shutdown)
	return b.ClientURL(), creds
}

func login(t *testing.T, url, creds string) *nats.Conn {
	t.Helper()
	nc, err := bus.Dial(bus.Config{URLs: []string{url}, Credentials: bus.Credentials{CredsFile: creds}}, nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// Tried as an attacker would, with issued credentials on a broker that
// enforces them: a node writes only its own key and cannot purge the
// others' with a roll-up; a user and the collector read the registry and
// cannot write it; a node's key that names another node is not believed.
func TestOnlyANodeWritesItsOwnKey(t *testing.T) {
	url, creds := securedBus(t)
	ctx := context.Background()
	collector := login(t, url, creds["collector"])
	js, err := jetstream.New(collector)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Ensure(ctx, js, "pulse", 1); err != nil {
		t.Fatalf("the collector creates the bucket: %v", err)
	}
	web1, web2, alice := login(t, url, creds["web-01"]), login(t, url, creds["web-02"]), login(t, url, creds["alice"])
	now := time.Now()
	for nc, n := range map[*nats.Conn]string{web1: "web-01", web2: "web-02"} {
		if err := Put(nc, "pulse", n, registration(t, n, now, nil, map[string]any{"role": "web"}), time.Minute, 2*time.Second); err != nil {
			t.Fatalf("%s writes its own key: %v", n, err)
		}
	}
	// web-01 overwrites web-02's key: the broker refuses the publish, so
	// no answer comes.
	if err := Put(web1, "pulse", "web-02", registration(t, "web-02", now, nil, map[string]any{"role": "owned"}), time.Minute, 300*time.Millisecond); err == nil {
		t.Fatal("web-01 wrote web-02's key")
	}
	// web-01 purges every other key with a roll-up on its own.
	m := nats.NewMsg(keyPrefix("pulse") + "web-01")
	m.Header.Set("Nats-Rollup", "all")
	m.Data = registration(t, "web-01", now, nil, nil)
	if resp, err := web1.RequestMsg(m, 2*time.Second); err != nil || !strings.Contains(string(resp.Data), "rollup not permitted") {
		t.Fatalf("roll-up from web-01: %v %s", err, resp.Data)
	}
	// A user cannot write a key, nor purge or delete the bucket.
	if err := Put(alice, "pulse", "web-03", registration(t, "web-03", now, nil, nil), time.Minute, 300*time.Millisecond); err == nil {
		t.Fatal("a user wrote a key")
	}
	for _, api := range []string{"$JS.API.STREAM.PURGE.", "$JS.API.STREAM.DELETE."} {
		if _, err := alice.Request(api+Stream("pulse"), nil, 300*time.Millisecond); err == nil {
			t.Fatalf("a user was answered on %s", api)
		}
		if _, err := collector.Request(api+Stream("pulse"), nil, 300*time.Millisecond); err == nil {
			t.Fatalf("the collector was answered on %s", api)
		}
	}
	// web-01 writes, on its own key, a registration that names web-02.
	if err := Put(web1, "pulse", "web-01", registration(t, "web-02", now, nil, map[string]any{"role": "db"}), time.Minute, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	for who, nc := range map[string]*nats.Conn{"alice": alice, "collector": collector} {
		s, err := Read(ctx, nc, "pulse", ReadOptions{})
		if err != nil {
			t.Fatalf("%s reads the registry: %v", who, err)
		}
		if ids(s) != "web-02" || len(s.Corrupt) != 1 || s.Corrupt[0].Key != "web-01" || s.Corrupt[0].Reason != "forged" {
			t.Fatalf("%s read %q, corrupt %+v", who, ids(s), s.Corrupt)
		}
		if tg, _ := s.Entries[0].Target(); tg.Facts["role"] != "web" {
			t.Fatalf("web-02's key was changed: %+v", tg)
		}
		if k, err := Keys(ctx, nc, "pulse", 2*time.Second); err != nil || strings.Join(k.Identities, ",") != "web-01,web-02" {
			t.Fatalf("%s lists the keys: %+v %v", who, k, err)
		}
	}
	// A node has no business reading the registry.
	if _, err := Read(ctx, web1, "pulse", ReadOptions{Timeout: 300 * time.Millisecond}); err == nil {
		t.Fatal("a node read the registry")
	}
	if _, err := Keys(ctx, web1, "pulse", 300*time.Millisecond); err == nil {
		t.Fatal("a node listed the registry's keys")
	}
}
