package nodeagent_test

// The attacker's suite: every way someone on the bus might make an agent do
// something it should not, each sent at real agents on an embedded broker.
// Each attack must be refused, leave an audit line saying why, and run
// nothing.

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/pulseops/pulse/internal/broker"
	"github.com/pulseops/pulse/internal/bus"
	"github.com/pulseops/pulse/internal/filter"
	"github.com/pulseops/pulse/internal/issuer"
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

func (r *secRecorder) ran() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.calls...)
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

// secNode is one agent of the attacker's world with what it ran, audited
// and logged.
type secNode struct {
	id string
	// open answers rpcutil broadcasts on the broker's word (Options.Open).
	open  bool
	key   *security.Identity
	rec   *secRecorder
	audit *secBuffer
	log   *testkit.SyncBuffer
	agent *nodeagent.Agent
}

type secWorld struct {
	t                   *testing.T
	br                  *broker.Broker
	alice, bob, mallory *security.Identity
	alicePriv           ed25519.PrivateKey
	node, evil          *security.Identity
	trust               *security.Trust
	pol                 *security.Policy
	nodeKeys            *security.NodeKeys
	rec                 *secRecorder
	svc                 *actions.SimServiceProvider
	audit               *secBuffer
	nc                  *nats.Conn
	nodes               map[string]*secNode
}

// newSecWorld starts web-01 and the other nodes named, each a real agent
// that requires signed requests and checks them against the same trust and
// policy, on an embedded broker.
func newSecWorld(t *testing.T, others ...string) *secWorld {
	t.Helper()
	// A broker that carries messages larger than pulse reads, so that the
	// agent's own limit is what refuses them.
	br, err := broker.Start(broker.Options{Port: -1, JetStreamDir: t.TempDir(), MaxPayload: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(br.Shutdown)
	w := &secWorld{t: t, br: br, nodes: map[string]*secNode{}}
	gen := func(name string) *security.Identity {
		id, err := security.GenerateIdentity(name)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	w.bob, w.mallory, w.node, w.evil = gen("bob"), gen("mallory"), gen("web-01"), gen("evil")
	// Alice's raw key lets a test sign bytes no pulse would write.
	_, w.alicePriv, _ = ed25519.GenerateKey(nil)
	w.alice = &security.Identity{Name: "alice", Signer: protocol.NewSigner(w.alicePriv)}
	w.trust, err = security.NewTrust(
		security.Entry{Name: "alice", Key: w.alice.PublicKey(), Groups: []string{"ops"}},
		security.Entry{Name: "bob", Key: w.bob.PublicKey(), Groups: []string{"dev"}},
	)
	if err != nil {
		t.Fatal(err)
	}
	w.pol, err = security.NewPolicy("test policy", security.PolicyFile{Rules: append(security.ReadOnlyRules("*"),
		security.RuleSpec{Name: "anyone may read", Effect: "allow", Callers: []string{"*"}, Agent: "recorder", Actions: []string{"read"}},
		security.RuleSpec{Name: "ops may write", Effect: "allow", Callers: []string{"group:ops"}, Agent: "*"},
	)}, w.trust)
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]string{"web-01": w.node.PublicKey()}
	w.nodes["web-01"] = &secNode{id: "web-01", key: w.node}
	for _, id := range others {
		w.nodes[id] = &secNode{id: id, key: gen(id)}
		keys[id] = w.nodes[id].key.PublicKey()
	}
	if w.nodeKeys, err = security.NewNodeKeys(keys, false); err != nil {
		t.Fatal(err)
	}
	w.svc = actions.NewSimServiceProvider(actions.SimServiceOptions{Delay: -1})
	for _, n := range w.nodes {
		w.start(n, w.br.ClientURL())
	}
	w.rec, w.audit = w.nodes["web-01"].rec, w.nodes["web-01"].audit
	if w.nc, err = nats.Connect(w.br.ClientURL()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.nc.Close)
	return w
}

// start runs n's agent, connected to the broker at url.
func (w *secWorld) start(n *secNode, url string) {
	t := w.t
	n.rec, n.audit, n.log = &secRecorder{}, &secBuffer{}, &testkit.SyncBuffer{}
	agents := []actions.Agent{n.rec}
	if n.id == "web-01" {
		nrpe := actions.NewNRPEAgent(checks.NewRunner(checks.RunnerOptions{Commands: map[string][]string{"check_true": {"/bin/true"}}}), nil)
		agents = append(agents, actions.NewServiceAgent(w.svc, nil), nrpe)
	}
	anc, err := bus.Connect(bus.Config{URLs: []string{url}, Name: n.id}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var open func(string) bool
	if n.open {
		open = w.pol.Open
	}
	a, err := nodeagent.New(nodeagent.Options{Open: open,
		Identity: n.id, Conn: anc, Facts: secFacts{"role": "web"}, RegisterInterval: time.Hour, Agents: agents,
		Signer: n.key.Signer, Verify: (&security.Verifier{Trust: w.trust, Require: true}).Verify, Authorize: w.pol.Authorize,
		Audit: nodeagent.NewAudit(n.audit), Logger: slog.New(slog.NewTextHandler(n.log, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Stop)
	n.agent = a
}

type secFacts map[string]any

func (f secFacts) Facts() map[string]any { return f }

var secSeq int

// request is a request directed at web-01 that its client waits 10 s for.
func (w *secWorld) request(caller, agent, action string, data any) *protocol.Request {
	secSeq++
	b, _ := json.Marshal(data)
	now := time.Now().UTC()
	return &protocol.Request{
		ID: fmt.Sprintf("attack-%d-%d", now.UnixNano(), secSeq), Caller: caller, Time: now, Deadline: now.Add(10 * time.Second),
		Targets:     []string{"web-01"},
		RequestBody: protocol.RequestBody{Collective: "pulse", Agent: agent, Action: action, Data: b},
	}
}

// seal puts r on the wire as its client would, signed by id unless id is nil.
func (w *secWorld) seal(id *security.Identity, r *protocol.Request) []byte {
	w.t.Helper()
	var s *protocol.Signer
	if id != nil {
		s = id.Signer
	}
	b, err := protocol.EncodeRequest(r, s)
	if err != nil {
		w.t.Fatal(err)
	}
	return b
}

// send publishes raw bytes to web-01's subject for the caller they name
// and returns the channel of replies to them.
func (w *secWorld) send(b []byte) chan *nats.Msg {
	caller := "nobody"
	if env, err := protocol.Open(b); err == nil {
		caller = env.From
	}
	return w.sendOn(protocol.Subjects{Collective: "pulse"}.Node("web-01", caller), b)
}

// sendOn publishes raw bytes on subject and returns the channel of the
// replies the request they hold asks for: nodes answer on the subject its
// caller and id name, whatever reply subject the message carries.
func (w *secWorld) sendOn(subject string, b []byte) chan *nats.Msg {
	w.t.Helper()
	ch := make(chan *nats.Msg, 4)
	if env, err := protocol.Open(b); err == nil && protocol.ValidToken(env.ID) {
		if _, err := w.nc.ChanSubscribe(protocol.Subjects{Collective: "pulse"}.Replies(env.From, env.ID), ch); err != nil {
			w.t.Fatal(err)
		}
	}
	if err := w.nc.PublishMsg(&nats.Msg{Subject: subject, Reply: w.nc.NewRespInbox(), Data: b}); err != nil {
		w.t.Fatal(err)
	}
	if err := w.nc.Flush(); err != nil {
		w.t.Fatal(err)
	}
	return ch
}

// reply reads the one reply on ch, checking that web-01 signed it.
func (w *secWorld) reply(ch chan *nats.Msg, what string) *protocol.Reply {
	w.t.Helper()
	select {
	case m := <-ch:
		env, err := protocol.Open(m.Data)
		if err != nil {
			w.t.Fatalf("%s: %v", what, err)
		}
		if err := w.nodeKeys.Verify(env); err != nil {
			w.t.Fatalf("%s: the reply must be signed by the node: %v", what, err)
		}
		rep, err := env.Reply()
		if err != nil {
			w.t.Fatalf("%s: %v", what, err)
		}
		return rep
	case <-time.After(5 * time.Second):
		w.t.Fatalf("%s: no reply", what)
	}
	return nil
}

// noReply fails if ch holds a reply. It first waits for the answer to a
// ping sent after: the agent handles the node subject's messages in order
// and the broker keeps one connection's messages in order, so any reply to
// the earlier request has arrived by then.
func (w *secWorld) noReply(ch chan *nats.Msg, what string) {
	w.t.Helper()
	w.reply(w.send(w.seal(w.alice, w.request("user=alice", "rpcutil", "ping", nil))), "the ping sent after "+what)
	select {
	case m := <-ch:
		w.t.Fatalf("%s got a reply: %s", what, m.Data)
	default:
	}
}

// audited waits for web-01's audit line n of request id and returns it.
func (w *secWorld) audited(id string, n int) nodeagent.AuditRecord {
	w.t.Helper()
	return w.auditedOn("web-01", id, n)
}

// auditedOn waits for node's audit line n of request id.
func (w *secWorld) auditedOn(node, id string, n int) nodeagent.AuditRecord {
	w.t.Helper()
	var got []nodeagent.AuditRecord
	testkit.WaitFor(w.t, 5*time.Second, node+"'s audit line for "+id, func() bool {
		got = got[:0]
		for _, r := range w.nodes[node].audit.records() {
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
	read := w.request("user=alice", "recorder", "read", nil)
	tampered := bytes.Replace(w.seal(w.alice, read), []byte(`"action":"read"`), []byte(`"action":"write"`), 1)
	expired := w.request("user=alice", "recorder", "write", nil)
	expired.Time, expired.Deadline = time.Now().Add(-2*time.Minute).UTC(), time.Now().Add(-time.Minute).UTC()
	future := w.request("user=alice", "recorder", "write", nil)
	future.Time, future.Deadline = time.Now().Add(time.Minute).UTC(), time.Now().Add(2*time.Minute).UTC()
	for _, tc := range []struct {
		name   string
		id     string
		msg    []byte
		status protocol.Status
		audit  string
	}{
		{"unsigned", "", w.seal(nil, w.request("user=alice", "recorder", "write", nil)), protocol.Unauthorized, "is not signed and this node requires signatures"},
		{"unknown key", "", w.seal(w.mallory, w.request("user=mallory", "recorder", "write", nil)), protocol.Unauthorized, "is signed by key " + w.mallory.Fingerprint() + ", which is not in built-in trust"},
		{"tampered after signing", read.ID, tampered, protocol.Unauthorized, "signature does not match the message"},
		{"expired", expired.ID, w.seal(w.alice, expired), protocol.Aborted, "after its deadline: its client had stopped waiting"},
		{"from the future", future.ID, w.seal(w.alice, future), protocol.Aborted, "in the future (allowed skew 5s)"},
		{"caller spoofing", "", w.seal(w.bob, w.request("user=alice", "recorder", "write", nil)), protocol.Unauthorized, `claims caller "user=alice" but is signed by the key of "bob"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w.t = t
			env, err := protocol.Open(tc.msg)
			if err != nil {
				t.Fatal(err)
			}
			ch := w.send(tc.msg)
			rec := w.audited(env.ID, 1)
			if rec.Status != tc.status || !strings.Contains(rec.Message, tc.audit) {
				t.Fatalf("audit %d %q, want %d containing %q", rec.Status, rec.Message, tc.status, tc.audit)
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
	req := w.request("user=bob", "recorder", "write", nil)
	rep := w.reply(w.send(w.seal(w.bob, req)), "a denied request")
	want := "no rule allows bob recorder#write: default deny"
	if rep.Status != protocol.Unauthorized || rep.StatusMsg != want {
		t.Fatalf("reply %d %q, want 6 %q", rep.Status, rep.StatusMsg, want)
	}
	if rec := w.audited(req.ID, 1); rec.Status != protocol.Unauthorized || rec.Message != want || rec.Caller != "user=bob" || rec.Fingerprint != w.bob.Fingerprint() {
		t.Fatalf("audit %+v", rec)
	}
	if w.rec.count() != 0 {
		t.Fatal("a denied action ran")
	}
	// The same caller may read.
	ok := w.request("user=bob", "recorder", "read", nil)
	w.send(w.seal(w.bob, ok))
	if rec := w.audited(ok.ID, 1); rec.Status != protocol.OK {
		t.Fatalf("allowed read audited as %+v", rec)
	}
}

func TestAttackReplay(t *testing.T) {
	w := newSecWorld(t)
	req := w.request("user=alice", "recorder", "write", nil)
	b := w.seal(w.alice, req)
	// Its reply arrives before the replay is sent: both wait on the same
	// subject, the one the request names.
	w.reply(w.send(b), "the genuine request")
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

// An agent answers on the subject its request's signed caller and id name,
// never on the reply subject the message carries: a request published with
// a reply subject that points at bob's replies sends nothing there.
func TestRepliesGoWhereTheRequestSays(t *testing.T) {
	w := newSecWorld(t)
	req := w.request("user=alice", "rpcutil", "ping", nil)
	subj := protocol.Subjects{Collective: "pulse"}
	bobs, alices := make(chan *nats.Msg, 4), make(chan *nats.Msg, 4)
	for subject, ch := range map[string]chan *nats.Msg{subj.RepliesTo("user=bob"): bobs, subj.Replies("user=alice", req.ID): alices} {
		if _, err := w.nc.ChanSubscribe(subject, ch); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.nc.PublishMsg(&nats.Msg{Subject: subj.Node("web-01", "user=alice"), Reply: subj.Reply("user=bob", req.ID, "web-01"), Data: w.seal(w.alice, req)}); err != nil {
		t.Fatal(err)
	}
	if rep := w.reply(alices, "the reply on the request's own subject"); rep.Identity != "web-01" || rep.RequestID != req.ID {
		t.Fatalf("reply %+v", rep)
	}
	w.noReply(bobs, "the reply subject the message named")
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
	// On a broker that does not enforce who publishes replies (this one
	// is open), reply signatures are what protects the client.
	forge := func(m *nats.Msg, identity, subject string, by *security.Identity) {
		env, err := protocol.Open(m.Data)
		if err != nil {
			return
		}
		rep := protocol.Reply{RequestID: env.ID, Identity: identity, Time: time.Now().UTC(),
			ReplyBody: protocol.ReplyBody{Agent: "rpcutil", Action: "ping", Status: protocol.OK, StatusMsg: "OK"}}
		var s *protocol.Signer
		if by != nil {
			s = by.Signer
		}
		b, _ := protocol.EncodeReply(&rep, s)
		_ = rogue.Publish(protocol.Subjects{Collective: "pulse"}.Reply(env.From, env.ID, subject), b)
	}
	if _, err := rogue.Subscribe("pulse.pulse.agent.rpcutil.*", func(m *nats.Msg) {
		forge(m, "web-01", "web-01", w.evil) // another key for a real node
		forge(m, "ghost", "ghost", w.evil)   // a node nobody knows
		forge(m, "web-02", "web-02", nil)    // unsigned
		forge(m, "web-01", "web-03", nil)    // on another node's subject
	}); err != nil {
		t.Fatal(err)
	}
	if err := rogue.Flush(); err != nil {
		t.Fatal(err)
	}
	cl := rpc.New(w.nc, rpc.Options{Caller: "user=alice", Signer: w.alice.Signer, VerifyReply: w.nodeKeys.Verify})
	res, err := cl.Do(context.Background(), rpc.Call{Agent: "rpcutil", Action: "ping", Quiet: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Replies) != 1 || res.Replies[0].Identity != "web-01" || res.Replies[0].PublicKey != w.node.PublicKey() {
		t.Fatalf("replies %+v, want only the genuine web-01", res.Replies)
	}
	if res.Forged != 4 {
		t.Fatalf("forged %d, want 4", res.Forged)
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
	forged := protocol.Registration{Identity: "web-01", Time: time.Now().UTC(), Stream: protocol.Stream{Boot: "forged", Seq: 1},
		RegistrationBody: protocol.RegistrationBody{Collective: "pulse", Facts: map[string]any{"role": "db"}}}
	b, err := protocol.EncodeRegistration(&forged, w.evil.Signer)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.nc.Publish("pulse.pulse.registry.web-01", b); err != nil {
		t.Fatal(err)
	}
	m, err := sub.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	env, err := protocol.Open(m.Data)
	if err != nil {
		t.Fatal(err)
	}
	want := "registration from web-01 is signed by key " + w.evil.Fingerprint() + ", not web-01's key " + w.node.Fingerprint() + ": signed by a key that is not the node's"
	if err := w.nodeKeys.Verify(env); err == nil || err.Error() != want {
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
			req := w.request("user=alice", tc.agent, tc.action, tc.data)
			rep := w.reply(w.send(w.seal(w.alice, req)), fmt.Sprintf("%s#%s %q", tc.agent, tc.action, bad))
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

// TLS, issued credentials and subject permissions with a real agent: the
// agent logs in as itself, runs the request of a user its issuers vouch
// for, answers on the subject that names it, and cannot speak for another
// node; the client needs no node keys.
func TestAgentOverTLSWithCredentials(t *testing.T) {
	dir := t.TempDir()
	pki, err := security.WritePKI(dir)
	if err != nil {
		t.Fatal(err)
	}
	tlsCfg, err := security.ServerTLSConfig(pki.ServerCert, pki.ServerKey, pki.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	is, err := issuer.Create(dir+"/issuer", "pulse")
	if err != nil {
		t.Fatal(err)
	}
	issue := func(role issuer.Role, name string, groups ...string) string {
		c, err := is.Issue(role, name, issuer.IssueOptions{Groups: groups})
		if err != nil {
			t.Fatal(err)
		}
		p := dir + "/" + name + ".creds"
		if err := issuer.WriteCreds(p, c, false); err != nil {
			t.Fatal(err)
		}
		return p
	}
	nodeCreds, aliceCreds := issue(issuer.RoleNode, "web-01"), issue(issuer.RoleUser, "alice", "ops")
	if err := os.WriteFile(dir+"/auth.conf", []byte(is.ServerConfig(dir+"/jwt")), 0o644); err != nil {
		t.Fatal(err)
	}
	br, err := broker.Start(broker.Options{Port: -1, TLS: tlsCfg, ConfigFile: dir + "/auth.conf"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(br.Shutdown)
	tlsFiles := bus.TLS{CAFile: pki.CAFile, CertFile: pki.ClientCert, KeyFile: pki.ClientKey}
	violations := make(chan string, 16)
	anc, err := bus.Connect(bus.Config{URLs: []string{br.ClientURL()}, Name: "web-01", TLS: tlsFiles, Credentials: bus.Credentials{CredsFile: nodeCreds}}, nil,
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { violations <- err.Error() }))
	if err != nil {
		t.Fatal(err)
	}
	trusted := is.TrustedIssuers()
	issuers, err := security.NewIssuers([]string{trusted[issuer.RoleUser]}, []string{trusted[issuer.RoleCollector]})
	if err != nil {
		t.Fatal(err)
	}
	pol, err := security.NewPolicy("ops only", security.PolicyFile{Rules: []security.RuleSpec{{Name: "ops", Effect: "allow", Callers: []string{"group:ops"}, Agent: "*"}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, err := nodeagent.New(nodeagent.Options{Identity: "web-01", Conn: anc, RegisterInterval: time.Hour,
		Verify: (&security.Verifier{Issuers: issuers, Require: true}).Verify, Authorize: pol.Authorize})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Stop)
	alice, err := security.LoadCreds(aliceCreds)
	if err != nil {
		t.Fatal(err)
	}
	cnc, err := bus.Dial(bus.Config{URLs: []string{br.ClientURL()}, TLS: tlsFiles, Credentials: bus.Credentials{CredsFile: aliceCreds}})
	if err != nil {
		t.Fatal(err)
	}
	defer cnc.Close()
	cl := rpc.New(cnc, rpc.Options{Caller: issuer.CallerToken(issuer.RoleUser, alice.Name), Signer: alice.Signer, JWT: alice.JWT})
	res, err := cl.Do(context.Background(), rpc.Call{Agent: "rpcutil", Action: "ping", Quiet: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Replies) != 1 || res.Replies[0].Identity != "web-01" || res.Replies[0].Status != protocol.OK {
		t.Fatalf("ping over TLS with issued credentials: %+v", res.Replies)
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
	want := cfg + ":3: security: require_signatures is on (the default) but neither issuers nor trust_file says whom to believe: set issuers (`pulse keys issuer` prints them), or trust_file, or require_signatures: false to accept unsigned requests"
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
	opts, err := c.Build(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if opts.Signer == nil || opts.Signer.PublicKey() != node.PublicKey() || opts.Verify == nil || opts.Authorize == nil || opts.Skew != 2*time.Second {
		t.Fatalf("security not applied: %+v", opts)
	}
	// sign_messages: false leaves replies, heartbeats and results unsigned
	// and requests still checked.
	unsignedCfg := write("unsigned.yaml", "identity: web-01\npackage: {disabled: true}\nservice: {disabled: true}\nsecurity:\n  key_file: id.key\n  trust_file: trusted.yaml\n  sign_messages: false\n")
	uc, err := nodeagent.LoadConfig(unsignedCfg)
	if err != nil {
		t.Fatal(err)
	}
	if uo, err := uc.Build(context.Background(), nil); err != nil || uo.Signer != nil || uo.Verify == nil {
		t.Fatalf("sign_messages: false: signer %v, verify set %v, %v", uo.Signer, uo.Verify != nil, err)
	}
	req := &protocol.Request{ID: "x", Caller: "user=bob", Time: time.Now(), Deadline: time.Now().Add(time.Second), Targets: []string{"web-01"},
		RequestBody: protocol.RequestBody{Agent: "nrpe", Action: "list"}}
	open := func(s *protocol.Signer) *protocol.Envelope {
		b, err := protocol.EncodeRequest(req, s)
		if err != nil {
			t.Fatal(err)
		}
		env, err := protocol.Open(b)
		if err != nil {
			t.Fatal(err)
		}
		return env
	}
	if _, err := opts.Verify(open(nil)); !errors.Is(err, protocol.ErrUnsigned) {
		t.Fatalf("unsigned request passed the configured verifier: %v", err)
	}
	env := open(bob.Signer)
	p, err := opts.Verify(env)
	if err != nil {
		t.Fatal(err)
	}
	signed, err := env.Request()
	if err != nil {
		t.Fatal(err)
	}
	signed.Principal = p
	if ok, reason := opts.Authorize(signed, &filter.Target{Identity: "web-01"}); ok || reason != "no rule allows bob nrpe#list: default deny" {
		t.Fatalf("policy: %v %q", ok, reason)
	}
}

// A flood of junk costs the agent CPU, not disk: 5,000 unsigned requests,
// each with its own id, and 1,000 copies of one captured request leave a
// line or two in the audit log and the log, every one counted.
func TestFloodCostsCPUNotDisk(t *testing.T) {
	w := newSecWorld(t)
	genuine := w.seal(w.alice, w.request("user=alice", "recorder", "write", nil))
	w.reply(w.send(genuine), "the genuine request")
	subject := protocol.Subjects{Collective: "pulse"}.Node("web-01", "user=alice")
	for i := 0; i < 5000; i++ {
		if err := w.nc.Publish(subject, w.seal(nil, w.request("user=alice", "recorder", "write", nil))); err != nil {
			t.Fatal(err)
		}
		if i < 1000 {
			if err := w.nc.Publish(subject, genuine); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := w.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	stats := w.nodes["web-01"].agent.Stats()
	testkit.WaitFor(t, 30*time.Second, "every junk request counted", func() bool { return stats.Unauthorized.Load() == 6000 })
	w.noReply(make(chan *nats.Msg), "the flood") // still serving
	refused := 0
	for _, r := range w.audit.records() {
		if strings.HasPrefix(r.Message, "refused: ") {
			refused++
		}
	}
	// One line for the unsigned ones, one for the copies of alice's.
	if refused != 2 || len(w.audit.String()) > 4096 {
		t.Fatalf("%d audit lines of refusals (%d bytes) for 6,000 refusals:\n%s", refused, len(w.audit.String()), w.audit.String())
	}
	if log := w.nodes["web-01"].log.String(); strings.Count(log, "refused a request") != 2 {
		t.Fatalf("log:\n%s", log)
	}
	if w.rec.count() != 1 {
		t.Fatalf("the recorder ran %d times, want once", w.rec.count())
	}
}

// Where the policy lets anyone ask rpcutil, an rpcutil broadcast is
// answered without checking its signature (the broker's subject names its
// caller); a directed one, and anything for another agent, still is
// checked, and a node whose policy opens nothing checks everything.
func TestOpenPingsNeedNoSignature(t *testing.T) {
	w := newSecWorld(t)
	open := &secNode{id: "web-02", key: w.evil, open: true}
	w.nodes["web-02"] = open
	w.nodeKeys.Pin("web-02", w.evil.PublicKey())
	w.start(open, w.br.ClientURL())
	subj := protocol.Subjects{Collective: "pulse"}
	broadcast := func(agent, action string) (*protocol.Request, []byte) {
		r := w.request("user=mallory", agent, action, nil)
		r.Targets, r.Subject = nil, subj.Agent(agent, "user=mallory")
		return r, w.seal(w.mallory, r) // signed by a key nobody trusts
	}
	ping, b := broadcast("rpcutil", "ping")
	ch := w.sendOn(ping.Subject, b)
	if rep := w.reply(ch, "an untrusted ping on the open node"); rep.Identity != "web-02" {
		t.Fatalf("reply from %s", rep.Identity)
	}
	// web-01 opens nothing: it refused the same ping.
	w.refusedOn("web-01", ping.ID, "which is not in built-in trust")
	read, b := broadcast("recorder", "read")
	w.sendOn(read.Subject, b)
	w.refusedOn("web-02", read.ID, "which is not in built-in trust")
	directed := w.request("user=mallory", "rpcutil", "ping", nil)
	directed.Targets = []string{"web-02"}
	w.sendOn(subj.Node("web-02", "user=mallory"), w.seal(w.mallory, directed))
	// Refused for the same reason as the read: counted, not audited again.
	testkit.WaitFor(t, 5*time.Second, "web-02 refusing the directed ping too", func() bool {
		return open.agent.Stats().Unauthorized.Load() == 2
	})
	if open.rec.count() != 0 {
		t.Fatal("the recorder ran")
	}
}
