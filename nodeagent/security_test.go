package nodeagent_test

// The attacker's suite: every way someone on the bus might make an agent do
// something it should not, each sent at real agents on an embedded broker.
// Each attack must be refused, leave an audit line saying why, and run
// nothing.

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/pulseops/pulse/internal/broker"
	"github.com/pulseops/pulse/internal/bus"
	"github.com/pulseops/pulse/internal/filter"
	"github.com/pulseops/pulse/internal/protocol"
	"github.com/pulseops/pulse/internal/rpc"
	"github.com/pulseops/pulse/internal/security"
	"github.com/pulseops/pulse/internal/testkit"
	"github.com/pulseops/pulse/nodeagent"
	"github.com/pulseops/pulse/nodeagent/actions"
	"github.com/pulseops/pulse/nodeagent/checks"
)

// secRecorder is an RPC agent that only records that it ran.
type secRecorder struct {
	mu    sync.Mutex
	calls []string
}

func (r *secRecorder) Name() string      { return "recorder" }
func (r *secRecorder) Actions() []string { return []string{"read", "write"} }
func (r *secRecorder) Call(_ context.Context, req actions.Request) actions.Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, req.Action+" "+req.ID)
	return actions.OK(map[string]any{"done": req.Action})
}

func (r *secRecorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.calls)
}

// secBuffer is an audit sink tests can read while the agent writes.
type secBuffer struct{ testkit.SyncBuffer }

func (b *secBuffer) records() []nodeagent.AuditRecord {
	var out []nodeagent.AuditRecord
	for _, line := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		var r nodeagent.AuditRecord
		if json.Unmarshal([]byte(line), &r) == nil {
			out = append(out, r)
		}
	}
	return out
}

type secWorld struct {
	t                   *testing.T
	br                  *broker.Broker
	alice, bob, mallory *security.Identity
	node, evil          *security.Identity
	trust               *security.Trust
	nodeKeys            *security.NodeKeys
	rec                 *secRecorder
	svc                 *actions.SimServiceProvider
	audit               *secBuffer
	nc                  *nats.Conn
}

func newSecWorld(t *testing.T) *secWorld {
	t.Helper()
	w := &secWorld{t: t, br: broker.StartTest(t), rec: &secRecorder{}, audit: &secBuffer{}}
	gen := func(name string) *security.Identity {
		id, err := security.GenerateIdentity(name)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	w.alice, w.bob, w.mallory, w.node, w.evil = gen("alice"), gen("bob"), gen("mallory"), gen("web-01"), gen("evil")
	var err error
	w.trust, err = security.NewTrust(
		security.Entry{Name: "alice", Key: w.alice.PublicKey(), Groups: []string{"ops"}},
		security.Entry{Name: "bob", Key: w.bob.PublicKey(), Groups: []string{"dev"}},
	)
	if err != nil {
		t.Fatal(err)
	}
	pol, err := security.NewPolicy("test policy", security.PolicyFile{Rules: append(security.ReadOnlyRules("*"),
		security.RuleSpec{Name: "anyone may read", Effect: "allow", Callers: []string{"*"}, Agent: "recorder", Actions: []string{"read"}},
		security.RuleSpec{Name: "ops may write", Effect: "allow", Callers: []string{"group:ops"}, Agent: "*"},
	)}, w.trust)
	if err != nil {
		t.Fatal(err)
	}
	w.nodeKeys, err = security.NewNodeKeys(map[string]string{"web-01": w.node.PublicKey()}, false)
	if err != nil {
		t.Fatal(err)
	}
	w.svc = actions.NewSimServiceProvider(actions.SimServiceOptions{Delay: -1})
	nrpe := actions.NewNRPEAgent(checks.NewRunner(checks.RunnerOptions{Commands: map[string][]string{"check_true": {"/bin/true"}}}), nil)
	anc, err := bus.Connect(bus.Config{URLs: []string{w.br.ClientURL()}, Name: "web-01"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, err := nodeagent.New(nodeagent.Options{
		Identity: "web-01", Conn: anc, Facts: secFacts{"role": "web"}, RegisterInterval: time.Hour,
		Agents: []actions.Agent{w.rec, actions.NewServiceAgent(w.svc, nil), nrpe},
		Signer: w.node.Signer, Verify: w.trust.Verifier(true), Authorize: pol.Authorize,
		Audit: nodeagent.NewAudit(w.audit),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Stop)
	if w.nc, err = nats.Connect(w.br.ClientURL()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.nc.Close)
	return w
}

type secFacts map[string]any

func (f secFacts) Facts() map[string]any { return f }

var secSeq int

func (w *secWorld) request(caller, agent, action string, data any) *protocol.Request {
	secSeq++
	b, _ := json.Marshal(data)
	return &protocol.Request{ID: fmt.Sprintf("attack-%d-%d", time.Now().UnixNano(), secSeq), Collective: "pulse", Agent: agent, Action: action,
		Data: b, Caller: caller, Time: time.Now().UTC(), TTL: 60}
}

func (w *secWorld) sign(id *security.Identity, r *protocol.Request) *protocol.Request {
	if err := id.Signer.SignRequest(r); err != nil {
		w.t.Fatal(err)
	}
	return r
}

// send publishes raw bytes to the node subject and returns the inbox
// channel for replies.
func (w *secWorld) send(b []byte) chan *nats.Msg {
	w.t.Helper()
	inbox := w.nc.NewRespInbox()
	ch := make(chan *nats.Msg, 4)
	if _, err := w.nc.ChanSubscribe(inbox, ch); err != nil {
		w.t.Fatal(err)
	}
	if err := w.nc.PublishMsg(&nats.Msg{Subject: "pulse.pulse.node.web-01", Reply: inbox, Data: b}); err != nil {
		w.t.Fatal(err)
	}
	if err := w.nc.Flush(); err != nil {
		w.t.Fatal(err)
	}
	return ch
}

func (w *secWorld) sendReq(r *protocol.Request) chan *nats.Msg {
	b, err := json.Marshal(r)
	if err != nil {
		w.t.Fatal(err)
	}
	return w.send(b)
}

// noReply fails if ch holds a reply. It first waits for the answer to a
// ping sent after: the agent handles the node subject's messages in order
// and the broker keeps one connection's messages in order, so any reply to
// the earlier request has arrived by then.
func (w *secWorld) noReply(ch chan *nats.Msg, what string) {
	w.t.Helper()
	select {
	case <-w.sendReq(w.sign(w.alice, w.request("user=alice", "rpcutil", "ping", nil))):
	case <-time.After(5 * time.Second):
		w.t.Fatal("no reply to the ping sent after " + what)
	}
	select {
	case m := <-ch:
		w.t.Fatalf("%s got a reply: %s", what, m.Data)
	default:
	}
}

// audited waits for the audit line of request id and returns it.
func (w *secWorld) audited(id string, n int) nodeagent.AuditRecord {
	w.t.Helper()
	var got []nodeagent.AuditRecord
	testkit.WaitFor(w.t, 5*time.Second, "audit line for "+id, func() bool {
		got = got[:0]
		for _, r := range w.audit.records() {
			if r.RequestID == id {
				got = append(got, r)
			}
		}
		return len(got) >= n
	})
	return got[n-1]
}

func TestAttackRefusedAndAudited(t *testing.T) {
	w := newSecWorld(t)
	tampered := w.sign(w.alice, w.request("user=alice", "recorder", "read", nil))
	tampered.Action = "write"
	expired := w.request("user=alice", "recorder", "write", nil)
	expired.Time = time.Now().Add(-2 * time.Minute).UTC()
	future := w.request("user=alice", "recorder", "write", nil)
	future.Time = time.Now().Add(time.Minute).UTC()
	for _, tc := range []struct {
		name   string
		req    *protocol.Request
		status protocol.Status
		msg    string
	}{
		{"unsigned", w.request("user=alice", "recorder", "write", nil), protocol.Unauthorized, "is not signed and this node requires signatures"},
		{"unknown key", w.sign(w.mallory, w.request("user=mallory", "recorder", "write", nil)), protocol.Unauthorized, "is signed by key " + w.mallory.Fingerprint() + ", which is not in built-in trust"},
		{"tampered after signing", tampered, protocol.Unauthorized, "signature does not match the message"},
		{"expired", w.sign(w.alice, expired), protocol.Aborted, "expired: created"},
		{"from the future", w.sign(w.alice, future), protocol.Aborted, "in the future (allowed skew 5s)"},
		{"caller spoofing", w.sign(w.bob, w.request("user=alice", "recorder", "write", nil)), protocol.Unauthorized, `claims caller "user=alice" but is signed by the key of "bob"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w.t = t
			ch := w.sendReq(tc.req)
			rec := w.audited(tc.req.ID, 1)
			if rec.Status != tc.status || !strings.Contains(rec.Message, tc.msg) {
				t.Fatalf("audit %d %q, want %d containing %q", rec.Status, rec.Message, tc.status, tc.msg)
			}
			if !strings.HasPrefix(rec.Message, "refused: ") {
				t.Fatalf("audit message %q does not say it was refused", rec.Message)
			}
			w.noReply(ch, "a refused request")
			if n := w.rec.count(); n != 0 {
				t.Fatalf("the recorder ran %d times: %v", n, w.rec.calls)
			}
		})
	}
}

func TestAttackPolicyDenied(t *testing.T) {
	w := newSecWorld(t)
	req := w.sign(w.bob, w.request("user=bob", "recorder", "write", nil))
	ch := w.sendReq(req)
	var rep protocol.Reply
	select {
	case m := <-ch:
		if err := json.Unmarshal(m.Data, &rep); err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no reply to a denied request")
	}
	want := "no rule allows bob recorder#write: default deny"
	if rep.Status != protocol.Unauthorized || rep.StatusMsg != want {
		t.Fatalf("reply %d %q, want 6 %q", rep.Status, rep.StatusMsg, want)
	}
	if err := w.nodeKeys.VerifyReply(&rep); err != nil {
		t.Fatalf("the refusal itself must be signed by the node: %v", err)
	}
	if rec := w.audited(req.ID, 1); rec.Status != protocol.Unauthorized || rec.Message != want || rec.Caller != "user=bob" || rec.Fingerprint != w.bob.Fingerprint() {
		t.Fatalf("audit %+v", rec)
	}
	if w.rec.count() != 0 {
		t.Fatal("a denied action ran")
	}
	// The same caller may read.
	ok := w.sign(w.bob, w.request("user=bob", "recorder", "read", nil))
	w.sendReq(ok)
	if rec := w.audited(ok.ID, 1); rec.Status != protocol.OK {
		t.Fatalf("allowed read audited as %+v", rec)
	}
}

func TestAttackReplay(t *testing.T) {
	w := newSecWorld(t)
	req := w.sign(w.alice, w.request("user=alice", "recorder", "write", nil))
	b, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	w.send(b)
	if rec := w.audited(req.ID, 1); rec.Status != protocol.OK {
		t.Fatalf("the genuine request: %+v", rec)
	}
	ch := w.send(b) // the same bytes, captured off the bus
	rec := w.audited(req.ID, 2)
	if rec.Status != protocol.Unauthorized || rec.Message != "refused: request id seen before (replay)" {
		t.Fatalf("replay audited as %+v", rec)
	}
	w.noReply(ch, "a replay")
	if n := w.rec.count(); n != 1 {
		t.Fatalf("recorder ran %d times, want exactly 1", n)
	}
}

// A process on the bus answers requests pretending to be a node: the client
// verifying replies against the node keys drops every forged one.
func TestAttackForgedReplies(t *testing.T) {
	w := newSecWorld(t)
	rogue, err := nats.Connect(w.br.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer rogue.Close()
	forge := func(m *nats.Msg, identity string, by *security.Identity) {
		var req protocol.Request
		_ = json.Unmarshal(m.Data, &req)
		rep := protocol.Reply{RequestID: req.ID, Identity: identity, Agent: req.Agent, Action: req.Action, Status: protocol.OK, StatusMsg: "OK", Time: time.Now().UTC()}
		if by != nil {
			_ = by.Signer.SignReply(&rep)
		}
		b, _ := json.Marshal(rep)
		_ = rogue.Publish(m.Reply, b)
	}
	if _, err := rogue.Subscribe("pulse.pulse.agent.rpcutil", func(m *nats.Msg) {
		forge(m, "web-01", w.evil) // another key for a real node
		forge(m, "ghost", w.evil)  // a node nobody knows
		forge(m, "web-02", nil)    // unsigned
	}); err != nil {
		t.Fatal(err)
	}
	if err := rogue.Flush(); err != nil {
		t.Fatal(err)
	}
	cl := rpc.New(w.nc, rpc.Options{Caller: "user=alice", Signer: w.alice.Signer, VerifyReply: w.nodeKeys.VerifyReply})
	res, err := cl.Do(context.Background(), rpc.Call{Agent: "rpcutil", Action: "ping", Quiet: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Replies) != 1 || res.Replies[0].Identity != "web-01" || res.Replies[0].PublicKey != w.node.PublicKey() {
		t.Fatalf("replies %+v, want only the genuine web-01", res.Replies)
	}
	if res.Forged != 3 {
		t.Fatalf("forged %d, want 3", res.Forged)
	}
}

// A forged registration for a real node is refused by the verifier the
// collector runs; the genuine heartbeat passes.
func TestAttackForgedRegistration(t *testing.T) {
	w := newSecWorld(t)
	sub, err := w.nc.SubscribeSync("pulse.pulse.registry.*")
	if err != nil {
		t.Fatal(err)
	}
	if err := w.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	forged := protocol.Registration{Identity: "web-01", Collective: "pulse", Facts: map[string]any{"role": "db"}, Time: time.Now().UTC()}
	if err := w.evil.Signer.SignRegistration(&forged); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(forged)
	if err := w.nc.Publish("pulse.pulse.registry.web-01", b); err != nil {
		t.Fatal(err)
	}
	m, err := sub.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var got protocol.Registration
	if err := protocol.Decode(m.Data, &got); err != nil {
		t.Fatal(err)
	}
	want := "registration from web-01 is signed by key " + w.evil.Fingerprint() + ", not web-01's key " + w.node.Fingerprint() + ": signed by a key that is not the node's"
	if err := w.nodeKeys.VerifyRegistration(&got); err == nil || err.Error() != want {
		t.Fatalf("forged registration: %v\nwant %s", err, want)
	}
}

// Hostile strings in every field that reaches a command line, sent through
// the whole agent path by a caller the policy allows: the action refuses
// them as invalid data and no service state changes.
func TestAttackInjectionThroughAgent(t *testing.T) {
	w := newSecWorld(t)
	for _, bad := range []string{"nginx; rm -rf /", "$(id)", "`id`", "nginx\x00", "-rf", "--help", "../../etc/passwd", "nginx|cat", "a b"} {
		for _, tc := range []struct {
			agent, action string
			data          any
		}{
			{"service", "stop", map[string]string{"service": bad}},
			{"nrpe", "runcommand", map[string]any{"command": bad}},
			{"nrpe", "runcommand", map[string]any{"command": "check_true", "args": []string{bad}}},
		} {
			req := w.sign(w.alice, w.request("user=alice", tc.agent, tc.action, tc.data))
			ch := w.sendReq(req)
			var rep protocol.Reply
			select {
			case m := <-ch:
				_ = json.Unmarshal(m.Data, &rep)
			case <-time.After(5 * time.Second):
				t.Fatalf("%s#%s %q: no reply", tc.agent, tc.action, bad)
			}
			if rep.Status == protocol.OK {
				t.Fatalf("%s#%s with %q succeeded: %s", tc.agent, tc.action, bad, rep.Data)
			}
		}
	}
	for name, s := range actions.DefaultSimServices() {
		if w.svc.Running(name) != s.Running {
			t.Fatalf("service %s changed state", name)
		}
	}
}

// TLS, credentials and subject permissions with a real agent: the agent
// logs in as itself, answers a client through the response permission, and
// cannot speak for another node.
func TestAgentOverTLSWithCredentials(t *testing.T) {
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
		{Name: "web-01", Role: security.RoleAgent, Password: "a"},
		{Name: "alice", Role: security.RoleClient, Password: "c"},
	} {
		if err := auth.Add("pulse", u); err != nil {
			t.Fatal(err)
		}
	}
	br, err := broker.Start(broker.Options{Port: -1, TLS: tlsCfg, Users: auth.Users})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(br.Shutdown)
	tlsFiles := bus.TLS{CAFile: pki.CAFile, CertFile: pki.ClientCert, KeyFile: pki.ClientKey}
	violations := make(chan string, 16)
	anc, err := bus.Connect(bus.Config{URLs: []string{br.ClientURL()}, Name: "web-01", TLS: tlsFiles, Credentials: bus.Credentials{User: "web-01", Password: "a"}}, nil,
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { violations <- err.Error() }))
	if err != nil {
		t.Fatal(err)
	}
	a, err := nodeagent.New(nodeagent.Options{Identity: "web-01", Conn: anc, RegisterInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Stop)
	cnc, err := bus.Dial(bus.Config{URLs: []string{br.ClientURL()}, TLS: tlsFiles, Credentials: bus.Credentials{User: "alice", Password: "c"}, InboxPrefix: bus.InboxPrefix("alice")})
	if err != nil {
		t.Fatal(err)
	}
	defer cnc.Close()
	res, err := rpc.New(cnc, rpc.Options{}).Do(context.Background(), rpc.Call{Agent: "rpcutil", Action: "ping", Quiet: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Replies) != 1 || res.Replies[0].Identity != "web-01" {
		t.Fatalf("ping over TLS with permissions: %+v", res.Replies)
	}
	// The agent's credentials cannot publish as another node.
	if err := anc.Publish("pulse.pulse.registry.web-02", []byte("{}")); err != nil {
		t.Fatal(err)
	}
	select {
	case v := <-violations:
		if !strings.Contains(v, `Permissions Violation for Publish to "pulse.pulse.registry.web-02"`) {
			t.Fatalf("unexpected async error %q", v)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no permissions violation for publishing to another node's registry subject")
	}
	// Without credentials, nothing connects.
	if _, err := nats.Connect(br.ClientURL(), nats.Secure(&tls.Config{InsecureSkipVerify: true})); err == nil {
		t.Fatal("a client without a certificate or credentials connected")
	}
}

func TestConfigSecurityBlock(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := dir + "/" + name
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cfg := write("bad.yaml", "identity: web-01\nsecurity:\n  key_file: id.key\n")
	_, err := nodeagent.LoadConfig(cfg)
	want := cfg + ":3: security: require_signatures is on (the default) but no trust_file names the keys to believe: set trust_file, or require_signatures: false to accept unsigned requests"
	if err == nil || err.Error() != want {
		t.Fatalf("got  %v\nwant %s", err, want)
	}
	node, err := security.CreateKeyFiles(dir+"/id.key", "web-01")
	if err != nil {
		t.Fatal(err)
	}
	alice, _ := security.GenerateIdentity("alice")
	bob, _ := security.GenerateIdentity("bob")
	write("trusted.yaml", "- name: alice\n  key: "+alice.PublicKey()+"\n  groups: [ops]\n- name: bob\n  key: "+bob.PublicKey()+"\n")
	write("policy.yaml", "rules:\n  - name: ops only\n    effect: allow\n    callers: ['group:ops']\n    agent: '*'\n")
	cfg = write("agent.yaml", "identity: web-01\npackage: {disabled: true}\nservice: {disabled: true}\nsecurity:\n  key_file: id.key\n  trust_file: trusted.yaml\n  policy_file: policy.yaml\n  skew: 2s\n")
	c, err := nodeagent.LoadConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	opts, _, err := c.Build(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if opts.Signer == nil || opts.Signer.PublicKey() != node.PublicKey() || opts.Verify == nil || opts.Authorize == nil || opts.Skew != 2*time.Second {
		t.Fatalf("security not applied: %+v", opts)
	}
	req := &protocol.Request{ID: "x", Agent: "nrpe", Action: "list", Caller: "user=bob", Time: time.Now(), TTL: 60}
	if err := opts.Verify(req); !errors.Is(err, protocol.ErrUnsigned) {
		t.Fatalf("unsigned request passed the configured verifier: %v", err)
	}
	if err := bob.Signer.SignRequest(req); err != nil {
		t.Fatal(err)
	}
	if err := opts.Verify(req); err != nil {
		t.Fatal(err)
	}
	if ok, reason := opts.Authorize(req, &filter.Target{Identity: "web-01"}); ok || reason != "no rule allows bob nrpe#list: default deny" {
		t.Fatalf("policy: %v %q", ok, reason)
	}
}
