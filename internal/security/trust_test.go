package security_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pulseops/pulse/internal/filter"
	"github.com/pulseops/pulse/internal/protocol"
	"github.com/pulseops/pulse/internal/security"
)

type fixture struct {
	alice, bob, mallory *security.Identity
	trustFile           string
	trust               *security.Trust
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{}
	var err error
	for _, p := range []struct {
		id   **security.Identity
		name string
	}{{&f.alice, "alice"}, {&f.bob, "bob"}, {&f.mallory, "mallory"}} {
		if *p.id, err = security.GenerateIdentity(p.name); err != nil {
			t.Fatal(err)
		}
	}
	f.trustFile = filepath.Join(t.TempDir(), "trusted_keys.yaml")
	yaml := "- name: alice\n  key: " + f.alice.PublicKey() + "\n  groups: [ops]\n" +
		"- name: bob\n  key: " + f.bob.PublicKey() + "\n  groups: [dev]\n"
	if err := os.WriteFile(f.trustFile, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	if f.trust, err = security.LoadTrust(f.trustFile); err != nil {
		t.Fatal(err)
	}
	return f
}

func request(caller, agent, action string) *protocol.Request {
	t := time.Unix(1700000000, 0).UTC()
	return &protocol.Request{ID: "req1", Caller: caller, Time: t, Deadline: t.Add(5 * time.Second), Subject: "pulse.pulse.agent." + agent + "." + caller,
		RequestBody: protocol.RequestBody{Collective: "pulse", Agent: agent, Action: action, Data: []byte(`{"service":"nginx"}`)}}
}

// envelope puts r on the wire, signed by id unless id is nil, and opens it
// as an agent would; change, when set, edits the bytes in between.
func envelope(t *testing.T, id *security.Identity, r *protocol.Request, change ...string) *protocol.Envelope {
	t.Helper()
	var s *protocol.Signer
	if id != nil {
		s = id.Signer
	}
	b, err := protocol.EncodeRequest(r, s)
	if err != nil {
		t.Fatal(err)
	}
	if len(change) == 2 {
		b = []byte(strings.Replace(string(b), change[0], change[1], 1))
	}
	env, err := protocol.Open(b)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// signed is r as an agent decodes it after its envelope verified.
func (f *fixture) signed(t *testing.T, id *security.Identity, r *protocol.Request) *protocol.Request {
	t.Helper()
	env := envelope(t, id, r)
	p, err := f.trust.Identify(env)
	if err != nil {
		t.Fatal(err)
	}
	got, err := env.Request()
	if err != nil {
		t.Fatal(err)
	}
	got.Principal = p
	return got
}

func TestTrustVerifyRequest(t *testing.T) {
	f := newFixture(t)
	tampered := envelope(t, f.alice, request("user=alice", "service", "status"), `"action":"status"`, `"action":"stop"`)
	for _, tc := range []struct {
		name   string
		req    *protocol.Envelope
		want   string
		wantIs error
	}{
		{"signed by alice", envelope(t, f.alice, request("user=alice", "service", "restart")), "", nil},
		{"bare caller name", envelope(t, f.bob, request("bob", "service", "restart")), "", nil},
		{"unsigned", envelope(t, nil, request("user=alice", "service", "restart")),
			`request req1 from "user=alice" is not signed and this node requires signatures: create a key with ` + "`pulse keys init`" + ` and have its public key added to ` + f.trustFile + `: message is not signed`, protocol.ErrUnsigned},
		{"unknown key", envelope(t, f.mallory, request("user=mallory", "service", "restart")),
			`request req1 from "user=mallory" is signed by key ` + f.mallory.Fingerprint() + `, which is not in ` + f.trustFile + `: key is not trusted`, security.ErrUntrustedKey},
		{"tampered", tampered, "request req1 signed by alice (key " + f.alice.Fingerprint() + "): signature does not match the message", protocol.ErrBadSignature},
		{"caller spoofing", envelope(t, f.bob, request("user=alice", "service", "restart")),
			`request req1 claims caller "user=alice" but is signed by the key of "bob": caller does not match the signing key`, security.ErrCallerMismatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.trust.Identify(tc.req)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tc.want {
				t.Fatalf("got  %q\nwant %q", got, tc.want)
			}
			if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
				t.Fatalf("%v is not %v", err, tc.wantIs)
			}
		})
	}
}

func TestVerifierRequireSignatures(t *testing.T) {
	f := newFixture(t)
	lax := &security.Verifier{Trust: f.trust}
	if p, err := lax.Verify(envelope(t, nil, request("user=anyone", "rpcutil", "ping"))); err != nil || p != nil {
		t.Fatalf("require_signatures false must accept an unsigned request, vouching for nobody: %v %v", p, err)
	}
	if _, err := lax.Verify(envelope(t, f.mallory, request("user=mallory", "rpcutil", "ping"))); !errors.Is(err, security.ErrUntrustedKey) {
		t.Fatalf("a signed request must be verified even when signatures are optional: %v", err)
	}
	strict := &security.Verifier{Trust: f.trust, Require: true}
	if _, err := strict.Verify(envelope(t, nil, request("user=anyone", "rpcutil", "ping"))); !errors.Is(err, protocol.ErrUnsigned) {
		t.Fatalf("require_signatures true must refuse unsigned: %v", err)
	}
	if p, err := strict.Verify(envelope(t, f.alice, request("user=alice", "rpcutil", "ping"))); err != nil || p.Name != "alice" || !p.InGroup("ops") {
		t.Fatalf("alice's request: %+v %v", p, err)
	}
}

func TestLoadTrustErrors(t *testing.T) {
	id, _ := security.GenerateIdentity("x")
	for _, tc := range []struct{ name, yaml, want string }{
		{"unknown field", "- name: a\n  key: " + id.PublicKey() + "\n  role: admin\n", `F:3: unknown key "role"`},
		{"bad key", "- name: a\n  key: AAAA\n", `F:1: trusted key 1: a: key "AAAA" is 3 bytes, an ed25519 public key is 32`},
		{"bad name", "- name: a;b\n  key: " + id.PublicKey() + "\n", `F:1: trusted key 1: name "a;b" may only hold letters, digits, '-', '_', '.' and '@'`},
		{"duplicate key", "- name: a\n  key: " + id.PublicKey() + "\n- name: b\n  key: " + id.PublicKey() + "\n", `F:3: trusted key 2: b: key ` + id.Fingerprint() + ` is already trusted as "a"; one key speaks for one name`},
		{"duplicate name", "- name: a\n  key: " + id.PublicKey() + "\n- name: a\n  key: " + id.PublicKey() + "\n", `F:3: trusted key 2: name "a" is listed twice`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "trust.yaml")
			if err := os.WriteFile(p, []byte(tc.yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := security.LoadTrust(p)
			want := strings.ReplaceAll(tc.want, "F:", p+":")
			if err == nil || err.Error() != want {
				t.Fatalf("got  %v\nwant %s", err, want)
			}
		})
	}
}

const policyYAML = `default: deny
rules:
  - name: everyone may read
    effect: allow
    callers: ["*"]
    agent: rpcutil
  - name: nobody stops the database
    effect: deny
    callers: ["*"]
    agent: service
    actions: [stop]
    nodes: {fact: ["role=db"]}
  - name: developers may only restart on role=web
    effect: allow
    callers: ["group:dev"]
    agent: service
    actions: [restart, status]
    nodes: {fact: ["role=web"]}
  - effect: deny
    callers: [bob]
    agent: service
  - name: ops may do anything
    effect: allow
    callers: ["group:ops"]
    agent: "*"
`

func TestPolicyAuthorize(t *testing.T) {
	f := newFixture(t)
	path := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(path, []byte(policyYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	pol, err := security.LoadPolicy(path, f.trust)
	if err != nil {
		t.Fatal(err)
	}
	web := &filter.Target{Identity: "web-01", Facts: map[string]any{"role": "web"}}
	db := &filter.Target{Identity: "db-01", Facts: map[string]any{"role": "db"}}
	for _, tc := range []struct {
		name string
		req  *protocol.Request
		node *filter.Target
		want string // "" means allowed
	}{
		{"anyone pings, even unsigned", request("user=nobody", "rpcutil", "ping"), db, ""},
		{"dev restarts web", f.signed(t, f.bob, request("bob", "service", "restart")), web, ""},
		{"dev restarts db", f.signed(t, f.bob, request("bob", "service", "restart")), db, "denied by rule 4 (" + path + ":19)"},
		{"dev installs a package", f.signed(t, f.bob, request("bob", "package", "install")), web, "no rule allows bob package#install: default deny"},
		{"ops stops web", f.signed(t, f.alice, request("alice", "service", "stop")), web, ""},
		{"ops stops db", f.signed(t, f.alice, request("alice", "service", "stop")), db, "denied by rule 2 (nobody stops the database)"},
		{"unsigned claims ops", request("user=alice", "service", "stop"), web, `no rule allows unsigned caller "user=alice" service#stop: default deny`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ok, reason := pol.Authorize(tc.req, tc.node)
			if ok != (tc.want == "") || reason != tc.want {
				t.Fatalf("got %v %q, want %q", ok, reason, tc.want)
			}
		})
	}
}

func TestLoadPolicyErrors(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct{ name, yaml, want string }{
		{"bad effect", "rules:\n  - effect: permit\n    callers: ['*']\n    agent: x\n", `F:2: rule 1: effect must be allow or deny, not "permit"`},
		{"no callers", "rules:\n  - effect: allow\n    agent: x\n", `F:2: rule 1: callers is empty: list key names, "group:<name>" or "*"`},
		{"unknown caller", "rules:\n  - effect: allow\n    callers: [carol]\n    agent: x\n", `F:3: rule 1: caller "carol" is not in the trusted keys ` + f.trustFile + `, so this rule could never match`},
		{"no agent", "rules:\n  - effect: allow\n    callers: ['*']\n", `F:2: rule 1: agent is empty: name an agent or "*"`},
		{"bad filter", "rules:\n  - effect: allow\n    callers: ['*']\n    agent: x\n    nodes: {fact: ['role']}\n", "F:5: rule 1: nodes: fact filter \"role\": expected an operator (= == != < > <= >= =~) after the fact name at column 5, found end of input"},
		{"bad default", "default: maybe\n", `F:1: default must be allow or deny, not "maybe"`},
		{"unknown key", "rules:\n  - effect: allow\n    caller: ['*']\n", `F:3: unknown key "caller"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "policy.yaml")
			if err := os.WriteFile(p, []byte(tc.yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := security.LoadPolicy(p, f.trust)
			want := strings.ReplaceAll(tc.want, "F:", p+":")
			if err == nil || err.Error() != want {
				t.Fatalf("got  %v\nwant %s", err, want)
			}
		})
	}
}

func TestNodeKeys(t *testing.T) {
	web, _ := security.GenerateIdentity("web-01")
	evil, _ := security.GenerateIdentity("evil")
	nk, err := security.NewNodeKeys(map[string]string{"web-01": web.PublicKey()}, false)
	if err != nil {
		t.Fatal(err)
	}
	open := func(b []byte, err error) *protocol.Envelope {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		env, err := protocol.Open(b)
		if err != nil {
			t.Fatal(err)
		}
		return env
	}
	now := time.Now()
	reply := func(id string, by *security.Identity) []byte {
		r := &protocol.Reply{RequestID: "r", Identity: id, Time: now, ReplyBody: protocol.ReplyBody{Agent: "rpcutil", Action: "ping", Data: []byte(`{"pong":1}`)}}
		var s *protocol.Signer
		if by != nil {
			s = by.Signer
		}
		b, err := protocol.EncodeReply(r, s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tampered := []byte(strings.Replace(string(reply("web-01", web)), `"pong":1`, `"pong":2`, 1))
	for _, tc := range []struct {
		name string
		r    []byte
		want string
	}{
		{"genuine", reply("web-01", web), ""},
		{"unsigned", reply("web-01", nil), "reply from web-01 is not signed: message is not signed"},
		{"forged by another key", reply("web-01", evil), "reply from web-01 is signed by key " + evil.Fingerprint() + ", not web-01's key " + web.Fingerprint() + ": signed by a key that is not the node's"},
		{"unknown node", reply("web-99", evil), "reply from web-99: no key is known for this node (add it to the node keys): key is not trusted"},
		{"tampered", tampered, "reply from web-01: signature does not match the message"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := nk.Verify(open(tc.r, nil))
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tc.want {
				t.Fatalf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
	// Trust on first use pins the first key, after which another is refused.
	tofu, _ := security.NewNodeKeys(nil, true)
	reg := func(by *security.Identity) *protocol.Envelope {
		r := &protocol.Registration{Identity: "new-01", Time: now, Stream: protocol.Stream{Boot: "b", Seq: 1},
			RegistrationBody: protocol.RegistrationBody{Collective: "pulse", Facts: map[string]any{"role": "web"}}}
		return open(protocol.EncodeRegistration(r, by.Signer))
	}
	if err := tofu.Verify(reg(web)); err != nil {
		t.Fatal(err)
	}
	if err := tofu.Verify(reg(evil)); !errors.Is(err, security.ErrWrongNodeKey) {
		t.Fatalf("second key for a pinned node: %v, want ErrWrongNodeKey", err)
	}
	res := &protocol.Result{Identity: "web-01", Time: now, Stream: protocol.Stream{Boot: "b", Seq: 2}, ResultBody: protocol.ResultBody{Kind: "check", Name: "load"}}
	if err := nk.Verify(open(protocol.EncodeResult(res, evil.Signer))); !errors.Is(err, security.ErrWrongNodeKey) {
		t.Fatalf("forged result: %v, want ErrWrongNodeKey", err)
	}
}

// A policy opens an agent only when the first rule that names it lets
// anyone run all of it everywhere; a default of allow opens nothing.
func TestPolicyOpen(t *testing.T) {
	for _, tc := range []struct {
		name  string
		pf    security.PolicyFile
		agent string
		open  bool
	}{
		{"read-only rules open rpcutil", security.PolicyFile{Rules: security.ReadOnlyRules("*")}, "rpcutil", true},
		{"but not service, whose status only is open", security.PolicyFile{Rules: security.ReadOnlyRules("*")}, "service", false},
		{"read-only for a group", security.PolicyFile{Rules: security.ReadOnlyRules("group:ops")}, "rpcutil", false},
		{"an earlier rule names it", security.PolicyFile{Rules: append([]security.RuleSpec{{Effect: "deny", Callers: []string{"bob"}, Agent: "rpcutil"}}, security.ReadOnlyRules("*")...)}, "rpcutil", false},
		{"a node filter", security.PolicyFile{Rules: []security.RuleSpec{{Effect: "allow", Callers: []string{"*"}, Agent: "rpcutil", Nodes: &filter.Spec{Fact: []string{"role=web"}}}}}, "rpcutil", false},
		{"a default of allow", security.PolicyFile{Default: "allow"}, "rpcutil", false},
		{"anyone may do anything", security.PolicyFile{Rules: []security.RuleSpec{{Effect: "allow", Callers: []string{"*"}, Agent: "*"}}}, "service", true},
	} {
		p, err := security.NewPolicy(tc.name, tc.pf, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := p.Open(tc.agent); got != tc.open {
			t.Errorf("%s: Open(%s) = %v, want %v", tc.name, tc.agent, got, tc.open)
		}
	}
}
