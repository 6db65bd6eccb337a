// Package faults breaks a running pulse on purpose — brokers killed and
// restarted, a collector restarted under load, a node's link cut, a node
// that answers too late — and checks that the fleet heals by itself. Every
// part is real: embedded nats-servers (a three-node JetStream cluster on
// loopback where the test needs one), real node agents, a real collector and
// the real rpc client. It holds tests only and must never be imported.
package faults

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	dto "github.com/prometheus/client_model/go"

	"github.com/pulseops/pulse/collector"
	"github.com/pulseops/pulse/collector/app"
	"github.com/pulseops/pulse/internal/broker"
	"github.com/pulseops/pulse/internal/bus"
	"github.com/pulseops/pulse/internal/protocol"
	"github.com/pulseops/pulse/internal/rpc"
	"github.com/pulseops/pulse/internal/testkit"
	"github.com/pulseops/pulse/nodeagent"
	"github.com/pulseops/pulse/nodeagent/actions"
)

// eventually polls cond until it holds or timeout passes; cond says what it
// saw so a failure explains itself.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for {
		ok, seen := cond()
		if ok {
			return
		}
		last = seen
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true within %v; last seen: %s", what, timeout, last)
		}
		time.Sleep(25 * time.Millisecond) // polling interval, bounded by the deadline above
	}
}

// cluster is three embedded nats-servers routed together with JetStream.
type cluster struct {
	servers []*broker.Broker
	urls    []string
}

func startCluster(t testing.TB) *cluster {
	t.Helper()
	const n = 3
	cports, ports := make([]int, n), make([]int, n)
	for i := range cports {
		cports[i], ports[i] = testkit.FreePort(t), testkit.FreePort(t)
	}
	c := &cluster{servers: make([]*broker.Broker, n), urls: make([]string, n)}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := 0; i < n; i++ {
		var routes []string
		for j := 0; j < n; j++ {
			if j != i {
				routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", cports[j]))
			}
		}
		opts := broker.Options{
			Port: ports[i], Name: fmt.Sprintf("n%d", i+1), ClusterName: "faults",
			ClusterListen: fmt.Sprintf("127.0.0.1:%d", cports[i]), Routes: routes, JetStreamDir: t.TempDir(),
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.servers[i], errs[i] = broker.Start(opts)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("start cluster server n%d: %v", i+1, err)
		}
		c.urls[i] = c.servers[i].ClientURL()
		b := c.servers[i]
		t.Cleanup(func() {
			if b.Server().Running() {
				b.Shutdown()
			}
		})
	}
	eventually(t, 30*time.Second, "cluster routes formed and JetStream meta leader elected", func() (bool, string) {
		leader := false
		var seen []string
		for _, b := range c.servers {
			s := b.Server()
			seen = append(seen, fmt.Sprintf("%s routes=%d", s.Name(), s.NumRoutes()))
			if s.NumRoutes() < n-1 {
				return false, strings.Join(seen, ", ")
			}
			if s.JetStreamIsLeader() {
				// Streams with three replicas need every peer known and
				// current to the meta leader before they can be placed.
				jsz, err := s.Jsz(&server.JSzOptions{})
				if err != nil || jsz.Meta == nil || len(jsz.Meta.Replicas) < n-1 {
					return false, fmt.Sprintf("meta leader %s does not see every peer yet (%v)", s.Name(), err)
				}
				for _, p := range jsz.Meta.Replicas {
					if !p.Current || p.Offline {
						return false, fmt.Sprintf("meta peer %s not current", p.Name)
					}
				}
				leader = true
			}
		}
		return leader, strings.Join(seen, ", ") + fmt.Sprintf(" leader=%v", leader)
	})
	return c
}

// connect dials NATS like every pulse process, with the pulse reconnect
// policy, and closes the connection when the test ends.
func connect(t testing.TB, urls []string, name string) *nats.Conn {
	t.Helper()
	nc, err := bus.Connect(bus.Config{URLs: urls, Name: name}, nil)
	if err != nil {
		t.Fatalf("connect %s to %v: %v", name, urls, err)
	}
	t.Cleanup(nc.Close)
	eventually(t, 10*time.Second, name+" connected", func() (bool, string) { return nc.IsConnected(), nc.Status().String() })
	return nc
}

// counted is a check job whose results carry a sequence number in their
// output and alternate between OK and WARNING, so every result the
// collector applies is visible as a check_state event naming its sequence.
type counted struct {
	last atomic.Int64 // highest sequence handed to the scheduler to publish
}

func (c *counted) job(name string, every time.Duration) nodeagent.Job {
	return nodeagent.Job{Name: name, Kind: "check", Interval: every, Run: func(context.Context) nodeagent.Outcome {
		seq := c.last.Add(1)
		st := protocol.StateOK
		if seq%2 == 1 {
			st = protocol.StateWarning
		}
		return nodeagent.Outcome{Status: st, Output: "seq " + strconv.FormatInt(seq, 10)}
	}}
}

// node is one test agent with its connection.
type node struct {
	id    string
	nc    *nats.Conn
	agent *nodeagent.Agent
	seq   *counted
}

type nodeOptions struct {
	urls     []string
	checkIv  time.Duration // a counted check at this interval when > 0
	register time.Duration
	agents   func() []actions.Agent
}

func startNode(t testing.TB, id string, o nodeOptions) *node {
	t.Helper()
	nc := connect(t, o.urls, id)
	n := &node{id: id, nc: nc, seq: &counted{}}
	opts := nodeagent.Options{
		Identity: id, Conn: nc, RegisterInterval: o.register,
		Facts: facts{"role": "web", "cluster": "faults", "ec2_placement_availability_zone": "eu-west-1a"},
	}
	if o.checkIv > 0 {
		opts.Jobs = []nodeagent.Job{n.seq.job("check_seq", o.checkIv)}
	}
	if o.agents != nil {
		opts.Agents = o.agents()
	}
	a, err := nodeagent.New(opts)
	if err != nil {
		t.Fatalf("new agent %s: %v", id, err)
	}
	if err := a.Start(context.Background()); err != nil {
		t.Fatalf("start agent %s: %v", id, err)
	}
	n.agent = a
	t.Cleanup(a.Stop)
	return n
}

type facts map[string]any

func (f facts) Facts() map[string]any { return f }

// startCollector runs the collector app (as `pulse collector` does) on its
// own connection to urls; seen, when set, receives every applied result's
// sequence per node.
func startCollector(t testing.TB, urls []string, replicas int, seen *seqLog) *runningCollector {
	t.Helper()
	opts := app.Options{
		NATS: bus.Config{URLs: urls, Name: "collector"}, Listen: "127.0.0.1:0",
		Collector: collector.Options{Collective: "pulse", Replicas: replicas, HeartbeatMisses: 3, Logger: discard()},
	}
	if seen != nil {
		opts.Collector.OnEvent = seen.onEvent
	}
	// A fresh cluster places replicated streams only once every server has
	// reported itself to the meta leader; until then the collector fails to
	// start with "no suitable peers for placement", and trying again (with
	// a new App: one runs once) is the cure.
	var rc *runningCollector
	eventually(t, 30*time.Second, "collector started", func() (bool, string) {
		a, err := app.New(opts)
		if err != nil {
			t.Fatalf("new collector: %v", err)
		}
		stop, err := a.Start(context.Background())
		if err != nil {
			return false, err.Error()
		}
		rc = &runningCollector{Collector: a.Collector(), stop: stop}
		return true, ""
	})
	t.Cleanup(rc.Stop)
	return rc
}

// runningCollector is a started collector app: its core, and Stop.
type runningCollector struct {
	*collector.Collector
	stop func() error
}

// Stop stops the whole app; it may be called more than once.
func (r *runningCollector) Stop() { _ = r.stop() }

// seqLog records which result sequences the collector applied, per node.
type seqLog struct {
	mu   sync.Mutex
	seqs map[string]map[int64]bool
}

func newSeqLog() *seqLog { return &seqLog{seqs: map[string]map[int64]bool{}} }

func (l *seqLog) onEvent(e protocol.Event) {
	if e.Type != protocol.EventCheckState {
		return
	}
	i := strings.LastIndex(e.Message, ": seq ")
	if i < 0 {
		return
	}
	seq, err := strconv.ParseInt(e.Message[i+len(": seq "):], 10, 64)
	if err != nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.seqs[e.Identity] == nil {
		l.seqs[e.Identity] = map[int64]bool{}
	}
	l.seqs[e.Identity][seq] = true
}

// missing lists the sequences in [from, to] not applied for id.
func (l *seqLog) missing(id string, from, to int64) []int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []int64
	for s := from; s <= to; s++ {
		if !l.seqs[id][s] {
			out = append(out, s)
		}
	}
	return out
}

// pingAll broadcasts rpcutil#ping and returns who answered.
func pingAll(t testing.TB, cl *rpc.Client) map[string]bool {
	t.Helper()
	res, err := cl.Do(context.Background(), rpc.Call{Agent: "rpcutil", Action: "ping", DiscoveryTimeout: 3 * time.Second, Quiet: 500 * time.Millisecond})
	if err != nil {
		t.Fatalf("ping: %v", err)
	}
	got := map[string]bool{}
	for _, r := range res.Replies {
		got[r.Identity] = true
	}
	return got
}

func missingFrom(got map[string]bool, nodes []*node) []string {
	var out []string
	for _, n := range nodes {
		if !got[n.id] {
			out = append(out, n.id)
		}
	}
	return out
}

// gauge reads one fleet series per node from the collector's registry:
// metric name to identity to the sum of its values.
func gather(t testing.TB, c *runningCollector, name string) map[string]float64 {
	t.Helper()
	mfs, err := c.Registry().Gather()
	if err != nil {
		t.Fatalf("gather collector metrics: %v", err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			out[label(m, "identity")] += value(m)
		}
	}
	return out
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Gauge != nil:
		return m.GetGauge().GetValue()
	case m.Counter != nil:
		return m.GetCounter().GetValue()
	case m.Untyped != nil:
		return m.GetUntyped().GetValue()
	}
	return 0
}

// streamLeader names the server leading the results stream, asked through nc.
func streamLeader(ctx context.Context, nc *nats.Conn, stream string) (string, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return "", err
	}
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return "", err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return "", err
	}
	if info.Cluster == nil {
		return "", nil
	}
	return info.Cluster.Leader, nil
}

// proxy is a TCP relay between an agent and its broker whose link the test
// can cut and restore: portable where network namespaces are not.
type proxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	cut    bool
	conns  map[net.Conn]bool
}

func startProxy(t testing.TB, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("proxy listen: %v", err)
	}
	p := &proxy{ln: ln, target: target, conns: map[net.Conn]bool{}}
	t.Cleanup(func() { ln.Close(); p.setCut(true) })
	go p.serve()
	return p
}

func (p *proxy) url() string { return "nats://" + p.ln.Addr().String() }

func (p *proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.cut {
			p.mu.Unlock()
			c.Close()
			continue
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.conns[c], p.conns[up] = true, true
		p.mu.Unlock()
		go p.pipe(c, up)
		go p.pipe(up, c)
	}
}

func (p *proxy) pipe(dst, src net.Conn) {
	_, _ = io.Copy(dst, src)
	dst.Close()
	src.Close()
}

// setCut drops every relayed connection and refuses new ones while cut.
func (p *proxy) setCut(cut bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = cut
	if cut {
		for c := range p.conns {
			c.Close()
			delete(p.conns, c)
		}
	}
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }
