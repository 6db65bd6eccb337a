package security_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pulseops/pulse/internal/protocol"
	"github.com/pulseops/pulse/internal/security"
)

func TestCreateKeyFilesRoundTripAndRefusesOverwrite(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "id.key")
	id, err := security.CreateKeyFiles(path, "alice")
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("private key mode %v, want 0600", st.Mode().Perm())
	}
	got, err := security.LoadIdentity(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "alice" || got.PublicKey() != id.PublicKey() {
		t.Fatalf("loaded %s %s, want alice %s", got.Name, got.PublicKey(), id.PublicKey())
	}
	key, name, err := security.ReadPublicKeyFile(filepath.Join(dir, "sub", "id.pub"))
	if err != nil || key != id.PublicKey() || name != "alice" {
		t.Fatalf("public key file: %q %q %v", key, name, err)
	}
	before, _ := os.ReadFile(path)
	_, err = security.CreateKeyFiles(path, "mallory")
	if err == nil || !strings.Contains(err.Error(), "refusing to overwrite") {
		t.Fatalf("second init: %v, want a refusal", err)
	}
	after, _ := os.ReadFile(path)
	if string(before) != string(after) {
		t.Fatal("the existing key was changed")
	}
	// A key signs requests that verify against its public key.
	req := &protocol.Request{ID: "1", Caller: "alice", Time: time.Now(), Deadline: time.Now().Add(time.Second), Subject: "pulse.pulse.agent.rpcutil",
		RequestBody: protocol.RequestBody{Agent: "rpcutil", Action: "ping"}}
	b, err := protocol.EncodeRequest(req, got.Signer)
	if err != nil {
		t.Fatal(err)
	}
	env, err := protocol.Open(b)
	if err != nil {
		t.Fatal(err)
	}
	if err := env.Verify(); err != nil || env.Signer != id.PublicKey() {
		t.Fatal(err)
	}
}

func TestLoadIdentityErrors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "id.key")
	if _, err := security.CreateKeyFiles(path, "alice"); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := security.LoadIdentity(path)
	want := "private key " + path + " has mode -rw-r--r--: it must be readable by its owner only (chmod 600 " + path + ")"
	if err == nil || err.Error() != want {
		t.Fatalf("got %v\nwant %s", err, want)
	}
	garbage := filepath.Join(dir, "garbage.key")
	if err := os.WriteFile(garbage, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = security.LoadIdentity(garbage)
	if want := "private key " + garbage + `: not a PEM "PRIVATE KEY" block`; err == nil || err.Error() != want {
		t.Fatalf("got %v\nwant %s", err, want)
	}
	_, err = security.LoadIdentity(filepath.Join(dir, "missing.key"))
	if err == nil || !strings.Contains(err.Error(), "pulse keys init") {
		t.Fatalf("missing key: %v, want advice to run pulse keys init", err)
	}
}

func TestValidName(t *testing.T) {
	for _, tc := range []struct{ name, want string }{
		{"alice", ""},
		{"web-01.example", ""},
		{"", "name is empty"},
		{"-rf", `name "-rf" must not start with '-' or '.'`},
		{"a;b", `name "a;b" may only hold letters, digits, '-', '_', '.' and '@'`},
		{"$(id)", `name "$(id)" may only hold letters, digits, '-', '_', '.' and '@'`},
		{"a\x00b", "name \"a\\x00b\" may only hold letters, digits, '-', '_', '.' and '@'"},
		{"../x", `name "../x" may only hold letters, digits, '-', '_', '.' and '@'`},
	} {
		err := security.ValidName(tc.name)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tc.want {
			t.Errorf("ValidName(%q) = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestFindKeyAndCredsOrder(t *testing.T) {
	cfg := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", cfg)
	t.Setenv("HOME", cfg)
	if id, err := security.FindKey(""); id != nil || err != nil {
		t.Fatalf("no keys: %v %v, want nothing", id, err)
	}
	if p := security.FindCreds(); p != "" {
		t.Fatalf("no credentials: found %s", p)
	}
	own, err := security.CreateKeyFiles(filepath.Join(security.UserKeyDir(), security.KeyFileName), "alice")
	if err != nil {
		t.Fatal(err)
	}
	if id, err := security.FindKey(""); err != nil || id.PublicKey() != own.PublicKey() {
		t.Fatalf("with an own key: %v %v", id, err)
	}
	if _, err := security.FindKey(filepath.Join(cfg, "nope.key")); err == nil {
		t.Fatal("an explicit missing key must be an error")
	}
	// The demo's credentials are found, and the user's own before them.
	for _, name := range []string{security.DemoCredsFileName, security.CredsFileName} {
		p := filepath.Join(security.UserKeyDir(), name)
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		if got := security.FindCreds(); got != p {
			t.Fatalf("with %s: found %q", name, got)
		}
	}
}

func FuzzParseIdentity(f *testing.F) {
	id, _ := security.GenerateIdentity("seed")
	dir := f.TempDir()
	p := filepath.Join(dir, "x.key")
	if c, err := security.CreateKeyFiles(p, "seed"); err == nil {
		_ = c
		b, _ := os.ReadFile(p)
		f.Add(b)
	}
	_ = id
	f.Add([]byte("-----BEGIN PRIVATE KEY-----\nPulse-Name: x\n\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, b []byte) {
		id, err := security.ParseIdentity(b)
		if err != nil {
			return
		}
		if security.ValidName(id.Name) != nil {
			t.Fatalf("parsed an invalid name %q", id.Name)
		}
	})
}

func FuzzParsePublicKey(f *testing.F) {
	id, _ := security.GenerateIdentity("seed")
	f.Add(id.PublicKey())
	f.Add("not base64")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		k, err := security.ParsePublicKey(s)
		if err != nil {
			return
		}
		if k2, err := security.ParsePublicKey(k); err != nil || k2 != k {
			t.Fatalf("canonical key %q does not round-trip: %q %v", k, k2, err)
		}
	})
}
