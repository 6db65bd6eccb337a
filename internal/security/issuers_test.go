package security_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pulseops/pulse/internal/issuer"
	"github.com/pulseops/pulse/internal/protocol"
	"github.com/pulseops/pulse/internal/security"
)

// creds issues name in role and loads it as the CLI does.
func creds(t *testing.T, is *issuer.Issuer, role issuer.Role, name string, o issuer.IssueOptions) *security.Identity {
	t.Helper()
	c, err := is.Issue(role, name, o)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), name+".creds")
	if err := issuer.WriteCreds(p, c, false); err != nil {
		t.Fatal(err)
	}
	id, err := security.LoadCreds(p)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// carrying is r from id, with id's JWT, as the client sends it.
func carrying(t *testing.T, id *security.Identity, r *protocol.Request, change ...string) *protocol.Envelope {
	t.Helper()
	r.JWT = id.JWT
	return envelope(t, id, r, change...)
}

// TestIssuersVerifyRequest: a request carrying its caller's credentials is
// believed when a trusted role key issued them to the key that signed it
// for the caller it names, and in no other case.
func TestIssuersVerifyRequest(t *testing.T) {
	is, err := issuer.Create(filepath.Join(t.TempDir(), "issuer"), "pulse")
	if err != nil {
		t.Fatal(err)
	}
	other, err := issuer.Create(filepath.Join(t.TempDir(), "other"), "pulse")
	if err != nil {
		t.Fatal(err)
	}
	alice := creds(t, is, issuer.RoleUser, "alice", issuer.IssueOptions{Groups: []string{"ops"}})
	col := creds(t, is, issuer.RoleCollector, "collector", issuer.IssueOptions{Groups: []string{"automation"}})
	node := creds(t, is, issuer.RoleNode, "web-01", issuer.IssueOptions{})
	stranger := creds(t, other, issuer.RoleUser, "alice", issuer.IssueOptions{Groups: []string{"ops"}})
	brief := creds(t, is, issuer.RoleUser, "brief", issuer.IssueOptions{Expires: time.Second})
	mallory, _ := security.GenerateIdentity("mallory")
	trusted := is.TrustedIssuers()
	v := &security.Verifier{Require: true}
	if v.Issuers, err = security.NewIssuers([]string{trusted[issuer.RoleUser]}, []string{trusted[issuer.RoleCollector]}); err != nil {
		t.Fatal(err)
	}

	p, err := v.Verify(carrying(t, alice, request("user=alice", "service", "restart")))
	if err != nil || p.Name != "alice" || !p.InGroup("ops") || p.Fingerprint != protocol.Fingerprint(alice.PublicKey()) {
		t.Fatalf("alice: %+v %v", p, err)
	}
	if p, err = v.Verify(carrying(t, col, request("collector", "service", "restart"))); err != nil || p.Name != "collector" || !p.InGroup("automation") {
		t.Fatalf("collector: %+v %v", p, err)
	}
	// A JWT once verified is remembered; the signature is still checked.
	if _, err := v.Verify(carrying(t, alice, request("user=alice", "service", "status"))); err != nil {
		t.Fatal(err)
	}
	withAlicesJWT := request("user=alice", "service", "stop")
	withAlicesJWT.JWT = alice.JWT
	for _, tc := range []struct {
		name string
		env  *protocol.Envelope
		want string
		is   error
	}{
		{"caller spoofing", carrying(t, alice, request("user=bob", "service", "stop")), `claims caller "user=bob" but carries the credentials of "user=alice"`, security.ErrCallerMismatch},
		{"a user posing as the collector", carrying(t, alice, request("alice", "service", "stop")), `claims caller "alice" but carries the credentials of "user=alice"`, security.ErrCallerMismatch},
		{"someone else's JWT", envelope(t, mallory, withAlicesJWT), "not by the key its credentials were issued to", security.ErrCallerMismatch},
		{"a node's credentials", carrying(t, node, request("web-01", "service", "stop")), "which this node does not trust for requests", security.ErrUntrustedKey},
		{"another issuer", carrying(t, stranger, request("user=alice", "service", "stop")), "which this node does not trust for requests", security.ErrUntrustedKey},
		{"tampered", carrying(t, alice, request("user=alice", "service", "status"), `"action":"status"`, `"action":"stop"`), "signature does not match the message", protocol.ErrBadSignature},
		{"a forged JWT", carrying(t, alice, request("user=alice", "service", "status"), `"jwt":"ey`, `"jwt":"eX`), "its credentials do not verify", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := v.Verify(tc.env)
			if err == nil || !strings.Contains(err.Error(), tc.want) || tc.is != nil && !errors.Is(err, tc.is) {
				t.Fatalf("got %v, want %q (%v)", err, tc.want, tc.is)
			}
		})
	}
	env := carrying(t, brief, request("user=brief", "rpcutil", "ping"))
	deadline := time.Now().Add(3 * time.Second)
	for {
		_, err = v.Verify(env)
		if err != nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond) // until the JWT's expiry, a second after it was issued
	}
	if !errors.Is(err, security.ErrUntrustedKey) || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("expired credentials: %v", err)
	}
	if _, err := (&security.Verifier{Require: true}).Verify(carrying(t, alice, request("user=alice", "rpcutil", "ping"))); !errors.Is(err, security.ErrUntrustedKey) || !strings.Contains(err.Error(), "security.issuers") {
		t.Fatalf("credentials on a node without issuers: %v", err)
	}
	if _, err := security.NewIssuers([]string{node.JWT}, nil); err == nil || !strings.Contains(err.Error(), "pulse keys issuer") {
		t.Fatalf("a JWT given as issuer key: %v", err)
	}
}
