//go:build !agentonly

package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/pulseops/pulse/internal/bus"
	"github.com/pulseops/pulse/internal/testkit"
)

// An operator's whole round with `pulse keys` and `pulse broker`: create the
// issuer, issue a node and a user, start a broker that trusts the issuer
// from the printed configuration, log in, revoke the node with the broker
// running, and see it refused. Every mistake is refused with what to do.
func TestKeysIssueRevokeOnARunningBroker(t *testing.T) {
	dir := t.TempDir()
	iss := filepath.Join(dir, "issuer")
	out, errOut, code := pulse(t, nil, "keys", "issuer", "--issuer", iss)
	if code != exitOK || !strings.Contains(out, "Created the issuer of collective \"pulse\"") || !regexp.MustCompile(`users: \[A[A-Z0-9]{55}\]`).MatchString(out) {
		t.Fatalf("keys issuer: exit %d %s\n%s", code, errOut, out)
	}
	if out, _, code := pulse(t, nil, "keys", "issuer", "--issuer", iss); code != exitOK || !strings.Contains(out, "Issuer of collective \"pulse\" in "+iss) {
		t.Fatalf("keys issuer again shows it: exit %d\n%s", code, out)
	}
	node := filepath.Join(dir, "web-01.creds")
	if out, errOut, code := pulse(t, nil, "keys", "issue", "node", "web-01", "--issuer", iss, "-o", node); code != exitOK || !strings.Contains(out, "creds_file: /etc/pulse/pulse.creds") {
		t.Fatalf("issue node: exit %d %s\n%s", code, errOut, out)
	}
	if st, err := os.Stat(node); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("creds file: %v %v", st, err)
	}
	user := filepath.Join(dir, "alice.creds")
	if _, errOut, code := pulse(t, nil, "keys", "issue", "user", "alice", "--groups", "ops", "--issuer", iss, "-o", user); code != exitOK {
		t.Fatalf("issue user: exit %d %s", code, errOut)
	}
	if out, _, code := pulse(t, nil, "keys", "show", "--creds", user); code != exitOK || !regexp.MustCompile(`(?m)^name: +alice$`).MatchString(out) || !regexp.MustCompile(`(?m)^groups: +ops$`).MatchString(out) {
		t.Fatalf("keys show --creds: exit %d\n%s", code, out)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"keys", "issue", "user", "web-01", "--issuer", iss, "-o", filepath.Join(dir, "x.creds")}, `"web-01" was issued as node already`},
		{[]string{"keys", "issue", "node", "web.01", "--issuer", iss}, "it becomes a NATS subject token"},
		{[]string{"keys", "issue", "root", "x", "--issuer", iss}, `role "root" is not one of node, user, collector, admin`},
		{[]string{"keys", "issue", "node", "web-02", "--issuer", filepath.Join(dir, "none")}, "create one with `pulse keys issuer --issuer"},
		{[]string{"keys", "issue", "node", "web-02", "--issuer", iss, "-o", node}, "refusing to overwrite credentials"},
		{[]string{"keys", "revoke", "nobody", "--issuer", iss}, `nothing was issued to "nobody"`},
	} {
		if _, errOut, code := pulse(t, nil, tc.args...); code != exitUsage || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d %q, want 2 and %q", tc.args, code, errOut, tc.want)
		}
	}

	conf, _, code := pulse(t, nil, "keys", "server-config", "--issuer", iss, "--resolver-dir", filepath.Join(dir, "jwt"))
	// Public keys and JWTs only: no seed (S + the key type + base32).
	if code != exitOK || regexp.MustCompile(`S[UAO][A-Z2-7]{56}`).MatchString(conf) || !strings.Contains(conf, "resolver_preload") {
		t.Fatalf("server-config: exit %d\n%s", code, conf)
	}
	authFile := filepath.Join(dir, "auth.conf")
	if err := os.WriteFile(authFile, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	port := testkit.FreePort(t)
	url := "nats://127.0.0.1:" + strconv.Itoa(port)
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		pulseCtx(ctx, "broker", "--listen", "127.0.0.1:"+strconv.Itoa(port), "--auth", authFile, "--log-level", "error")
	}()
	t.Cleanup(func() { stop(); <-done })
	var nc *nats.Conn
	testkit.WaitFor(t, 20*time.Second, "the node to log in to pulse broker --auth", func() bool {
		var err error
		nc, err = bus.Dial(bus.Config{URLs: []string{url}, Credentials: bus.Credentials{CredsFile: node}})
		return err == nil
	})
	defer nc.Close()
	if _, err := nats.Connect(url, nats.Timeout(2*time.Second)); !errors.Is(err, nats.ErrAuthorization) {
		t.Fatalf("anonymous login to pulse broker --auth: %v", err)
	}

	out, errOut, code = pulse(t, nil, "keys", "revoke", "web-01", "--issuer", iss, "--push", "--nats", url, "--push-wait", "500ms")
	if code != exitOK || !strings.Contains(out, "revoked node web-01") || !strings.Contains(out, "took the account") {
		t.Fatalf("revoke --push: exit %d %s\n%s", code, errOut, out)
	}
	testkit.WaitFor(t, 5*time.Second, "the revoked node's connection to drop", func() bool { return !nc.IsConnected() })
	_, err := bus.Dial(bus.Config{URLs: []string{url}, Credentials: bus.Credentials{CredsFile: node}})
	if !errors.Is(err, bus.ErrRefused) {
		t.Fatalf("revoked node logs in: %v", err)
	}
	out, _, code = pulse(t, nil, "keys", "list", "--issuer", iss)
	if code != exitOK || !regexp.MustCompile(`(?m)^node +web-01 +revoked `).MatchString(out) || !regexp.MustCompile(`(?m)^user +alice +valid `).MatchString(out) {
		t.Fatalf("keys list: exit %d\n%s", code, out)
	}
	// The user still gets in, and `pulse ping` finds their credentials.
	if _, errOut, code := pulse(t, nil, "ping", "--nats", url, "--creds", user, "--discovery-timeout", "300ms"); code != exitFailed || strings.Contains(errOut, "refused") {
		t.Fatalf("ping as alice (no nodes): exit %d %q", code, errOut)
	}
}
