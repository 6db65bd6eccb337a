package nodeagent_test

// Attacks on where and when a request may run: a genuine, validly signed
// request captured off the bus and published again somewhere else, or
// delivered after its client gave up. Each is tried against real agents on
// an embedded broker, with the real client sending the genuine requests.

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/pulseops/pulse/internal/protocol"
	"github.com/pulseops/pulse/internal/rpc"
	"github.com/pulseops/pulse/internal/testkit"
	"github.com/pulseops/pulse/nodeagent"
)

// captured is one request an eavesdropper saw on the bus.
type captured struct {
	subject string
	data    []byte
	id      string
}

// eavesdrop records every request published on agent and node subjects, as
// anyone who may subscribe to them can.
func (w *secWorld) eavesdrop() (<-chan captured, *nats.Conn) {
	w.t.Helper()
	eve, err := nats.Connect(w.br.ClientURL())
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(eve.Close)
	ch := make(chan captured, 1024)
	for _, subject := range []string{"pulse.pulse.node.*.*", "pulse.pulse.agent.*.*"} {
		if _, err := eve.Subscribe(subject, func(m *nats.Msg) {
			env, err := protocol.Open(m.Data)
			if err != nil {
				return
			}
			ch <- captured{subject: m.Subject, data: m.Data, id: env.ID}
		}); err != nil {
			w.t.Fatal(err)
		}
	}
	if err := eve.Flush(); err != nil {
		w.t.Fatal(err)
	}
	return ch, eve
}

// refusedOn waits for node's audit line refusing request id with a message
// containing want.
func (w *secWorld) refusedOn(node, id, want string) {
	w.t.Helper()
	var last string
	testkit.WaitFor(w.t, 5*time.Second, node+" refusing "+id+" with "+want, func() bool {
		for _, r := range w.nodes[node].audit.records() {
			if r.RequestID == id && r.Status == protocol.Unauthorized && strings.HasPrefix(r.Message, "refused: ") {
				last = r.Message
				if strings.Contains(r.Message, want) {
					return true
				}
			}
		}
		return false
	})
	_ = last
}

// A request alice sent to web-01 alone, captured and published again on the
// broadcast subject and on web-02's subject: neither web-02 nor web-01 runs
// it again, and both audit why. A broadcast published again on a node's
// subject fares the same.
func TestAttackDirectedRequestReplayedElsewhere(t *testing.T) {
	w := newSecWorld(t, "web-02")
	caught, eve := w.eavesdrop()
	cl := rpc.New(w.nc, rpc.Options{Caller: "user=alice", Signer: w.alice.Signer, VerifyReply: w.nodeKeys.Verify})
	res, err := cl.Do(context.Background(), rpc.Call{Agent: "recorder", Action: "write", Nodes: []string{"web-01"}})
	if err != nil || !res.OK() || len(res.Replies) != 1 {
		t.Fatalf("the genuine request: %+v %v", res, err)
	}
	var c captured
	select {
	case c = <-caught:
	case <-time.After(5 * time.Second):
		t.Fatal("the eavesdropper saw no request")
	}
	if c.subject != "pulse.pulse.node.web-01.user=alice" {
		t.Fatalf("captured on %s", c.subject)
	}
	// Elsewhere, and on web-01's subject for another caller (which the
	// broker of an issuer lets only that caller publish on).
	for _, subject := range []string{"pulse.pulse.agent.recorder.user=alice", "pulse.pulse.node.web-02.user=alice", "pulse.pulse.node.web-01.user=bob"} {
		if err := eve.PublishRequest(subject, eve.NewRespInbox(), c.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := eve.Flush(); err != nil {
		t.Fatal(err)
	}
	w.refusedOn("web-02", c.id, "from user=alice is directed at web-01 but arrived on pulse.pulse.agent.recorder.user=alice: it was published again where it was not sent")
	w.refusedOn("web-02", c.id, "is directed at web-01, not at web-02")
	// web-01 gets two copies, on the broadcast subject and on its own under
	// bob's name, in either order: both are refused for the same reason,
	// counted, and audited once (one line per reason and request a minute).
	w.refusedOn("web-01", c.id, "is directed at web-01 but arrived on pulse.pulse.")
	testkit.WaitFor(t, 5*time.Second, "web-01 to count both copies", func() bool {
		return w.nodes["web-01"].agent.Stats().Unauthorized.Load() == 2
	})

	// A broadcast is bound to its subject the same way.
	res, err = cl.Do(context.Background(), rpc.Call{Agent: "rpcutil", Action: "ping", Quiet: 300 * time.Millisecond})
	if err != nil || len(res.Replies) != 2 {
		t.Fatalf("ping: %+v %v", res, err)
	}
	var ping captured
	for ping.subject != "pulse.pulse.agent.rpcutil.user=alice" {
		select {
		case ping = <-caught:
		case <-time.After(5 * time.Second):
			t.Fatal("the eavesdropper saw no ping")
		}
	}
	if err := eve.PublishRequest("pulse.pulse.node.web-02.user=alice", eve.NewRespInbox(), ping.data); err != nil {
		t.Fatal(err)
	}
	w.refusedOn("web-02", ping.id, "was sent on pulse.pulse.agent.rpcutil.user=alice but arrived on pulse.pulse.node.web-02.user=alice")

	if ran := w.nodes["web-01"].rec.ran(); len(ran) != 1 || ran[0] != "write "+c.id {
		t.Fatalf("web-01 ran %v, want the genuine write once", ran)
	}
	if ran := w.nodes["web-02"].rec.ran(); len(ran) != 0 {
		t.Fatalf("web-02 ran %v", ran)
	}
}

// A batched change, one node per batch: an eavesdropper publishes every
// batch's request again on every other node's subject and on the broadcast
// subject as soon as it sees it. Each node acts once, on its own batch's
// request, and refuses every copy of the others'.
func TestAttackBatchReplay(t *testing.T) {
	nodes := []string{"web-01", "web-02", "web-03", "web-04"}
	w := newSecWorld(t, nodes[1:]...)
	caught, eve := w.eavesdrop()
	var mu sync.Mutex
	batchOf := map[string]string{} // request id -> the node it was sent to
	go func() {
		for c := range caught {
			target, _, _ := strings.Cut(strings.TrimPrefix(c.subject, "pulse.pulse.node."), ".")
			mu.Lock()
			if _, seen := batchOf[c.id]; seen || target == c.subject {
				mu.Unlock()
				continue // one of our own copies
			}
			batchOf[c.id] = target
			mu.Unlock()
			for _, n := range nodes {
				if n != target {
					_ = eve.PublishRequest("pulse.pulse.node."+n+".user=alice", eve.NewRespInbox(), c.data)
				}
			}
			_ = eve.PublishRequest("pulse.pulse.agent.recorder.user=alice", eve.NewRespInbox(), c.data)
			_ = eve.Flush()
		}
	}()
	cl := rpc.New(w.nc, rpc.Options{Caller: "user=alice", Signer: w.alice.Signer, VerifyReply: w.nodeKeys.Verify})
	var sent []string
	res, err := cl.Do(context.Background(), rpc.Call{Agent: "recorder", Action: "write", Nodes: nodes, Batch: rpc.Nodes(1),
		BatchSleep: 200 * time.Millisecond, Progress: func(p rpc.Progress) { sent = append(sent, p.Nodes...) }})
	if err != nil || !res.OK() || len(res.Replies) != len(nodes) {
		t.Fatalf("the genuine batched change: %+v %v", res, err)
	}
	if !slices.Equal(sent, nodes) {
		t.Fatalf("batches went to %v", sent)
	}
	testkit.WaitFor(t, 5*time.Second, "the eavesdropper to see every batch", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(batchOf) == len(nodes)
	})
	mu.Lock()
	defer mu.Unlock()
	for id, target := range batchOf {
		for _, n := range nodes {
			if n != target {
				w.refusedOn(n, id, "is directed at "+target+", not at "+n)
			}
			w.refusedOn(n, id, "arrived on pulse.pulse.agent.recorder.user=alice")
		}
	}
	for id, target := range batchOf {
		if ran := w.nodes[target].rec.ran(); len(ran) != 1 || ran[0] != "write "+id {
			t.Fatalf("%s ran %v, want its own batch's request %s once", target, ran, id)
		}
	}
}

// freezer relays one agent's NATS connection and can hold what the broker
// sends it, as a node frozen by its hypervisor or cut off by the network
// would see the bus: nothing, then everything at once.
type freezer struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	frozen bool
	thawed *sync.Cond
}

func startFreezer(t *testing.T, target string) *freezer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &freezer{ln: ln, target: target}
	f.thawed = sync.NewCond(&f.mu)
	t.Cleanup(func() { ln.Close(); f.set(false) })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			go func() { _, _ = io.Copy(up, c); up.Close() }()
			go f.relay(c, up)
		}
	}()
	return f
}

// relay copies what the broker sends to the agent, holding it while frozen.
func (f *freezer) relay(agent, broker net.Conn) {
	defer agent.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := broker.Read(buf)
		f.mu.Lock()
		for f.frozen {
			f.thawed.Wait()
		}
		f.mu.Unlock()
		if n > 0 {
			if _, werr := agent.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (f *freezer) set(frozen bool) {
	f.mu.Lock()
	f.frozen = frozen
	f.mu.Unlock()
	f.thawed.Broadcast()
}

// A node frozen while a request was on its way receives it after its
// client gave up: it refuses it, audits why and runs nothing, where it used
// to run a `stop` long after the user was told the node did not answer.
func TestAttackLateRequest(t *testing.T) {
	w := newSecWorld(t)
	frozen := &secNode{id: "web-09", key: w.evil}
	w.nodes["web-09"] = frozen
	w.nodeKeys.Pin("web-09", w.evil.PublicKey())
	fz := startFreezer(t, strings.TrimPrefix(w.br.ClientURL(), "nats://"))
	w.start(frozen, "nats://"+fz.ln.Addr().String())
	fz.set(true)
	cl := rpc.New(w.nc, rpc.Options{Caller: "user=alice", Signer: w.alice.Signer, VerifyReply: w.nodeKeys.Verify})
	caught, _ := w.eavesdrop()
	res, err := cl.Do(context.Background(), rpc.Call{Agent: "recorder", Action: "write", Nodes: []string{"web-09"}, Timeout: 500 * time.Millisecond})
	if err != nil || len(res.NoResponse) != 1 {
		t.Fatalf("a frozen node answered: %+v %v", res, err)
	}
	c := <-caught
	fz.set(false) // the node wakes up and reads what waited for it
	var rec nodeagent.AuditRecord
	testkit.WaitFor(t, 10*time.Second, "web-09's audit of the late request", func() bool {
		for _, r := range frozen.audit.records() {
			if r.RequestID == c.id {
				rec = r
				return true
			}
		}
		return false
	})
	if rec.Status != protocol.Aborted || !strings.Contains(rec.Message, "after its deadline: its client had stopped waiting") {
		t.Fatalf("late request audited as %+v", rec)
	}
	if n := frozen.rec.count(); n != 0 {
		t.Fatalf("the frozen node ran the late request %d times", n)
	}
}

// A request captured before an agent restarted and replayed to the new run
// within its deadline: the new run has no memory of the old run's request
// ids, so it refuses anything made before it started.
func TestAttackReplayAcrossRestart(t *testing.T) {
	w := newSecWorld(t, "web-02")
	req := w.request("user=alice", "recorder", "write", nil)
	req.Targets = []string{"web-02"}
	b := w.seal(w.alice, req)
	w.sendOn("pulse.pulse.node.web-02.user=alice", b)
	if rec := w.auditedOn("web-02", req.ID, 1); rec.Status != protocol.OK {
		t.Fatalf("the genuine request: %+v", rec)
	}
	n := w.nodes["web-02"]
	n.agent.Stop()
	w.start(n, w.br.ClientURL())
	w.sendOn("pulse.pulse.node.web-02.user=alice", b)
	rec := w.auditedOn("web-02", req.ID, 1) // the new run's audit
	if rec.Status != protocol.Aborted || !strings.Contains(rec.Message, "before this agent started; a request from before a restart may already have run") {
		t.Fatalf("replay across a restart audited as %+v", rec)
	}
	if c := n.rec.count(); c != 0 {
		t.Fatalf("the restarted agent ran the replay %d times", c)
	}
}

// Messages an agent cannot read — pulse's old format, a protocol version
// it does not know, an oversized message, a body that verifies but does not
// decode — are counted by reason and logged once per reason, however many
// arrive, and the agent keeps serving.
func TestBadInputCountedAndLoggedOnce(t *testing.T) {
	w := newSecWorld(t)
	old := []byte(`{"id":"old-1","collective":"pulse","agent":"recorder","action":"write","caller":"user=alice","time":"2026-01-01T00:00:00Z","ttl":60}`)
	newer := []byte(`{"pulse":2,"kind":"request","from":"user=alice"}`)
	huge := append([]byte(`{"pulse":1,"kind":"request","body":{"x":"`), make([]byte, protocol.MaxMessageSize)...)
	// A body alice really signed that does not decode: its agent is a
	// number. Only a peer with another idea of the body writes this.
	unsigned := w.seal(nil, w.request("user=alice", "recorder", "write", nil))
	prefix := bytes.Replace(unsigned[:len(unsigned)-1], []byte(`"agent":"recorder"`), []byte(`"agent":5`), 1)
	badBody := fmt.Appendf(nil, `%s,"signer":"%s","sig":"%s"}`, prefix, w.alice.PublicKey(),
		base64.StdEncoding.EncodeToString(ed25519.Sign(w.alicePriv, prefix)))
	for i := 0; i < 50; i++ {
		for _, b := range [][]byte{old, newer, huge, badBody} {
			if err := w.nc.Publish("pulse.pulse.node.web-01.user=alice", b); err != nil {
				t.Fatal(err)
			}
		}
	}
	w.noReply(make(chan *nats.Msg), "bad input") // still serving
	stats := w.nodes["web-01"].agent.Stats()
	for reason, want := range map[string]uint64{protocol.ReasonUnversioned: 50, protocol.ReasonVersion: 50, protocol.ReasonOversized: 50, protocol.ReasonDecode: 50} {
		if got := stats.Malformed[reason].Load(); got != want {
			t.Errorf("malformed %s = %d, want %d", reason, got, want)
		}
	}
	log := w.nodes["web-01"].log.String()
	for _, want := range []string{
		`reason=unversioned subject="pulse.pulse.node.web-01.user=alice" err="message has no protocol version (no \"pulse\" field): it is in the format of pulse before protocol version 1; upgrade the sender"`,
		`reason=version subject="pulse.pulse.node.web-01.user=alice" err="message of protocol version 2: this pulse reads version 1 only; upgrade the reader or downgrade the sender"`,
		`reason=oversized`,
		`reason=decode subject="pulse.pulse.node.web-01.user=alice" err="request from user=alice: body does not decode: json: cannot unmarshal number`,
	} {
		if n := strings.Count(log, want); n != 1 {
			t.Errorf("%d log lines with %s, want 1:\n%s", n, want, log)
		}
	}
	if w.rec.count() != 0 {
		t.Fatal("bad input ran something")
	}
}

// A signer or a signature longer than an ed25519 key or signature encodes
// to once made Verify decode past its buffer and panic, which would have
// taken down every agent that read one such message (the fuzz pass found
// it). Sent to a live agent, both are refused and the agent keeps serving.
func TestOverlongSignatureFieldsDoNotCrashTheAgent(t *testing.T) {
	w := newSecWorld(t)
	signed := w.seal(w.alice, w.request("user=alice", "recorder", "write", nil))
	env, err := protocol.Open(signed)
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("QUFB", 64) // valid base64, 192 bytes decoded
	for _, b := range [][]byte{
		bytes.Replace(signed, []byte(env.Signer), []byte(long), 1),
		bytes.Replace(signed, []byte(env.Signature), []byte(long), 1),
	} {
		if err := w.nc.Publish("pulse.pulse.node.web-01.user=alice", b); err != nil {
			t.Fatal(err)
		}
	}
	w.noReply(make(chan *nats.Msg), "over-long signature fields") // still serving
	if w.rec.count() != 0 {
		t.Fatal("a request with a forged signature field ran")
	}
}
