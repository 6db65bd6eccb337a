package bus_test

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/pulseops/pulse/internal/broker"
	"github.com/pulseops/pulse/internal/bus"
	"github.com/pulseops/pulse/internal/issuer"
	"github.com/pulseops/pulse/internal/testkit"
)

// issued is an issuer, a broker that trusts it and a .creds file per name.
type issued struct {
	is  *issuer.Issuer
	b   *broker.Broker
	dir string
}

func newIssued(t *testing.T) *issued {
	t.Helper()
	dir := t.TempDir()
	is, err := issuer.Create(filepath.Join(dir, "issuer"), "pulse")
	if err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "auth.conf")
	if err := os.WriteFile(conf, []byte(is.ServerConfig(filepath.Join(dir, "jwt"))), 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := broker.Start(broker.Options{Port: -1, ConfigFile: conf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Shutdown)
	return &issued{is: is, b: b, dir: dir}
}

func (f *issued) creds(t *testing.T, role issuer.Role, name string, o issuer.IssueOptions) string {
	t.Helper()
	c, err := f.is.Issue(role, name, o)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(f.dir, name+".creds")
	if err := issuer.WriteCreds(p, c, true); err != nil {
		t.Fatal(err)
	}
	return p
}

// Every process judges a .creds file the same way before it logs in: a
// file others can read, an expired credential, or something that is not
// one are refused at start, naming the file and what to do.
func TestCredsFileRefusedAtStart(t *testing.T) {
	f := newIssued(t)
	good := f.creds(t, issuer.RoleNode, "web-01", issuer.IssueOptions{})
	info, err := bus.ReadCreds(good)
	if err != nil || info.Name != "web-01" || info.Account != f.is.AccountKey() {
		t.Fatalf("good creds: %+v %v", info, err)
	}
	loose := f.creds(t, issuer.RoleNode, "web-02", issuer.IssueOptions{})
	if err := os.Chmod(loose, 0o644); err != nil {
		t.Fatal(err)
	}
	expiring := f.creds(t, issuer.RoleUser, "brief", issuer.IssueOptions{Expires: time.Second})
	junk := filepath.Join(f.dir, "junk.creds")
	if err := os.WriteFile(junk, []byte("-----BEGIN NATS USER JWT-----\nnot a jwt\n------END NATS USER JWT------\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, 3*time.Second, "the brief credentials to expire", func() bool {
		_, err := bus.ReadCreds(expiring)
		return err != nil
	})
	for _, tc := range []struct{ path, want string }{
		{loose, "nats creds file " + loose + " has mode -rw-r--r--: it holds a secret seed and must be readable by its owner only (chmod 600 " + loose + ")"},
		{expiring, "nats creds file " + expiring + " expired at "},
		{junk, "nats creds file " + junk + " holds no valid user JWT"},
	} {
		c := bus.Config{URLs: []string{f.b.ClientURL()}, Credentials: bus.Credentials{CredsFile: tc.path}}
		for what, err := range map[string]error{"Options": func() error { _, err := c.Options(); return err }(), "Connect": func() error { _, err := bus.Connect(c, nil); return err }()} {
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("%s with %s: %v, want %q", what, filepath.Base(tc.path), err, tc.want)
			}
		}
	}
	if !strings.Contains(func() string { _, err := bus.ReadCreds(expiring); return err.Error() }(), "issue new credentials for \"brief\" (`pulse keys issue`)") {
		t.Error("the expiry error does not say what to do")
	}
}

// A daemon keeps trying while no broker answers, but a broker that refuses
// its login refuses it again every time: unknown or revoked credentials,
// or none where the broker wants some, stop it at start with the reason.
func TestConnectRefusedLoginStopsADaemon(t *testing.T) {
	f := newIssued(t)
	strange := newIssued(t) // another issuer, which f's broker does not trust
	foreign := strange.creds(t, issuer.RoleNode, "web-01", issuer.IssueOptions{})
	revoked := f.creds(t, issuer.RoleNode, "web-02", issuer.IssueOptions{})
	if _, err := f.is.Revoke(issuer.RoleNode, "web-02"); err != nil {
		t.Fatal(err)
	}
	sys, err := bus.Dial(bus.Config{URLs: []string{f.b.ClientURL()}, Credentials: bus.Credentials{CredsFile: f.is.SystemCreds()}})
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Close()
	if _, err := issuer.PushAccount(sys, f.is.AccountJWT(), 500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		creds, want string
	}{
		{foreign, "refused the credentials in " + foreign},
		{revoked, "refused the credentials in " + revoked},
		{"", "refused an anonymous connection (no credentials set)"},
	} {
		c := bus.Config{URLs: []string{f.b.ClientURL()}, Credentials: bus.Credentials{CredsFile: tc.creds}}
		nc, err := bus.Connect(c, nil)
		if err == nil {
			nc.Close()
			t.Errorf("%q: a refused daemon connected", tc.creds)
			continue
		}
		if !errors.Is(err, bus.ErrRefused) || !errors.Is(err, nats.ErrAuthorization) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want a refusal containing %q", tc.creds, err, tc.want)
		}
	}
}

// A publish the broker forbids is logged by the process that tried, with
// the subject, once however often it tries.
func TestPermissionViolationLoggedOnce(t *testing.T) {
	f := newIssued(t)
	node := f.creds(t, issuer.RoleNode, "web-01", issuer.IssueOptions{})
	var log testkit.SyncBuffer
	nc, err := bus.Connect(bus.Config{URLs: []string{f.b.ClientURL()}, Credentials: bus.Credentials{CredsFile: node}}, slog.New(slog.NewTextHandler(&log, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	for range 50 {
		if err := nc.Publish("pulse.pulse.registry.web-02", []byte("{}")); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, 5*time.Second, "the refusal in the log", func() bool {
		return strings.Contains(log.String(), `Permissions Violation for Publish to \"pulse.pulse.registry.web-02\"`)
	})
	if n := strings.Count(log.String(), "the broker refused a publish or subscription"); n != 1 {
		t.Fatalf("%d log lines for 50 refusals, want 1:\n%s", n, log.String())
	}
}
