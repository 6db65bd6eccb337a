package faults

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/pulseops/pulse/collector"
	"github.com/pulseops/pulse/collector/app"
	"github.com/pulseops/pulse/internal/bus"

	"github.com/pulseops/pulse/internal/broker"
	"github.com/pulseops/pulse/internal/broker/brokertest"
	"github.com/pulseops/pulse/internal/rpc"
	"github.com/pulseops/pulse/internal/testkit"
	"github.com/pulseops/pulse/nodeagent/actions"
)

// TestKillOneClusterBroker kills the server of a three-node JetStream
// cluster that leads the results stream (the worst one to lose): every agent
// must reconnect to a survivor within 10s, a ping through a survivor must
// see every node, and no result an agent publishes once it and the stream
// are back may be missing from the collector.
func TestKillOneClusterBroker(t *testing.T) {
	c := startCluster(t)
	const nodes = 12
	var fleet []*node
	for i := 0; i < nodes; i++ {
		fleet = append(fleet, startNode(t, fmt.Sprintf("node-%02d", i), nodeOptions{urls: c.urls, checkIv: 200 * time.Millisecond, register: time.Second}))
	}
	// The collector and the client sit on server home, which survives; the
	// victim is the results stream's leader unless that is home.
	const home = 0
	seen := newSeqLog()
	col := startCollector(t, c.urls[home:home+1], 3, seen)
	probe := connect(t, c.urls[home:home+1], "probe")
	ctx := context.Background()
	var leader string
	eventually(t, 30*time.Second, "results stream has a leader", func() (bool, string) {
		l, err := streamLeader(ctx, probe, "PULSE_RESULTS_pulse")
		leader = l
		return err == nil && l != "", fmt.Sprintf("leader %q err %v", l, err)
	})
	victim := 1
	for i, b := range c.servers {
		if i != home && b.Server().Name() == leader {
			victim = i
		}
	}
	victimURL := c.urls[victim]
	client := connect(t, c.urls[home:home+1], "client")
	cl := rpc.New(client, rpc.Options{Caller: "user=faults"})
	eventually(t, 10*time.Second, "ping sees every node before the kill", func() (bool, string) {
		miss := missingFrom(pingAll(t, cl), fleet)
		return len(miss) == 0, fmt.Sprintf("missing %v", miss)
	})
	onVictim := 0
	for _, n := range fleet {
		if n.nc.ConnectedUrl() == victimURL {
			onVictim++
		}
	}
	t.Logf("killing %s (results stream leader %q); %d of %d agents are on it", c.servers[victim].Server().Name(), leader, onVictim, nodes)

	c.servers[victim].Shutdown()
	killed := time.Now()
	eventually(t, 10*time.Second, "every agent reconnected to a surviving broker", func() (bool, string) {
		for _, n := range fleet {
			if !n.nc.IsConnected() || n.nc.ConnectedUrl() == victimURL {
				return false, fmt.Sprintf("%s %s on %s", n.id, n.nc.Status(), n.nc.ConnectedUrl())
			}
		}
		return true, ""
	})
	reconnected := map[string]int64{}
	for _, n := range fleet {
		reconnected[n.id] = n.seq.last.Load() + 1
	}
	t.Logf("every agent on a survivor %v after the kill", time.Since(killed).Round(time.Millisecond))
	victimName := c.servers[victim].Server().Name()
	eventually(t, 20*time.Second, "results stream led by a survivor", func() (bool, string) {
		l, err := streamLeader(ctx, probe, "PULSE_RESULTS_pulse")
		return err == nil && l != "" && l != victimName, fmt.Sprintf("leader %q err %v", l, err)
	})
	from := map[string]int64{}
	for _, n := range fleet {
		from[n.id] = n.seq.last.Load() + 1
	}
	eventually(t, 10*time.Second, "ping through a survivor sees every node", func() (bool, string) {
		miss := missingFrom(pingAll(t, cl), fleet)
		return len(miss) == 0, fmt.Sprintf("missing %v", miss)
	})
	eventually(t, 10*time.Second, "every agent published more results", func() (bool, string) {
		for _, n := range fleet {
			if n.seq.last.Load() < from[n.id]+5 {
				return false, n.id
			}
		}
		return true, ""
	})
	to := map[string]int64{}
	for _, n := range fleet {
		to[n.id] = n.seq.last.Load()
	}
	// The results stream keeps the last result per node and check, and
	// every result carries the agent's cumulative run counts. So nothing is
	// lost when the collector holds each node's newest result and counts
	// every run published: a result superseded in the stream while the
	// collector's consumer moved to the new leader is covered by the next.
	eventually(t, 30*time.Second, "collector caught up with every run published after recovery", func() (bool, string) {
		for _, n := range fleet {
			v, ok := col.Node(n.id)
			if !ok || len(v.Checks) == 0 {
				return false, n.id + " unknown to the collector"
			}
			var runs uint64
			for _, c := range v.Checks[0].Runs {
				runs += c
			}
			if int64(runs) < to[n.id] {
				return false, fmt.Sprintf("%s: collector counts %d runs, agent published %d", n.id, runs, to[n.id])
			}
		}
		return true, ""
	})
	// How many results the collector saw one by one, for the record.
	skipped := 0
	for _, n := range fleet {
		skipped += len(seen.missing(n.id, reconnected[n.id], to[n.id]))
	}
	t.Logf("results after the reconnect superseded in the stream before the collector read them (their runs counted by later results): %d", skipped)
}

// TestRestartWholeBroker stops the only broker and starts it again on the
// same port: agents must come back by themselves and answer ping.
func TestRestartWholeBroker(t *testing.T) {
	start := restartableBroker(t)
	b := start()
	urls := []string{b.ClientURL()}
	var fleet []*node
	for i := 0; i < 10; i++ {
		fleet = append(fleet, startNode(t, fmt.Sprintf("node-%02d", i), nodeOptions{urls: urls, register: time.Second}))
	}
	client := connect(t, urls, "client")
	cl := rpc.New(client, rpc.Options{Caller: "user=faults"})
	if miss := missingFrom(pingAll(t, cl), fleet); len(miss) > 0 {
		t.Fatalf("before the restart, ping misses %v", miss)
	}

	b.Shutdown()
	eventually(t, 10*time.Second, "every agent notices the broker is gone", func() (bool, string) {
		for _, n := range fleet {
			if n.nc.IsConnected() {
				return false, n.id + " still connected"
			}
		}
		return true, ""
	})
	b = start()
	t.Cleanup(b.Shutdown)

	eventually(t, 20*time.Second, "every agent reconnected", func() (bool, string) {
		for _, n := range fleet {
			if !n.nc.IsConnected() {
				return false, n.id + " " + n.nc.Status().String()
			}
		}
		return client.IsConnected(), "client " + client.Status().String()
	})
	eventually(t, 10*time.Second, "ping sees every node after the restart", func() (bool, string) {
		miss := missingFrom(pingAll(t, cl), fleet)
		return len(miss) == 0, fmt.Sprintf("missing %v", miss)
	})
}

// TestBrokerOutageLosesNoResults stops the only broker for ten seconds
// while agents keep running their checks, then starts it again on the same
// port and store. Each agent keeps the results it could not publish and
// publishes them, acknowledged by the results stream, once the broker and
// its stream are back: every result produced during the outage is stored
// (nothing dropped, nothing left pending), and the collector's run
// counters hold every run. The stream keeps the last result per node and
// check, so results that arrive together supersede each other there; the
// collector applies the newest, whose cumulative counts include the rest.
func TestBrokerOutageLosesNoResults(t *testing.T) {
	start := restartableBroker(t)
	b := start()
	urls := []string{b.ClientURL()}
	seen := newSeqLog()
	col := startCollector(t, urls, 1, seen)
	var fleet []*node
	for i := 0; i < 6; i++ {
		fleet = append(fleet, startNode(t, fmt.Sprintf("node-%02d", i), nodeOptions{urls: urls, checkIv: 250 * time.Millisecond, register: time.Second}))
	}
	runsOf := func(n *node) uint64 {
		v, ok := col.Node(n.id)
		if !ok || len(v.Checks) == 0 {
			return 0
		}
		var runs uint64
		for _, c := range v.Checks[0].Runs {
			runs += c
		}
		return runs
	}
	eventually(t, 20*time.Second, "the collector counts runs of every node", func() (bool, string) {
		for _, n := range fleet {
			if runsOf(n) < 3 {
				return false, n.id
			}
		}
		return true, ""
	})

	b.Shutdown()
	from := map[string]int64{}
	for _, n := range fleet {
		from[n.id] = n.seq.last.Load() + 1
	}
	time.Sleep(10 * time.Second) // the outage: the agents keep checking
	to := map[string]int64{}
	for _, n := range fleet {
		to[n.id] = n.seq.last.Load()
		if to[n.id]-from[n.id] < 10 {
			t.Fatalf("%s produced only %d results during the outage", n.id, to[n.id]-from[n.id]+1)
		}
	}
	b = start()
	t.Cleanup(b.Shutdown)

	eventually(t, 30*time.Second, "every agent has had every result acknowledged, none dropped", func() (bool, string) {
		for _, n := range fleet {
			st := n.agent.Stats()
			if st.ResultsDropped.Load() != 0 {
				t.Fatalf("%s dropped %d results", n.id, st.ResultsDropped.Load())
			}
			if p := st.ResultsPending.Load(); p != 0 {
				return false, fmt.Sprintf("%s has %d results pending", n.id, p)
			}
		}
		return true, ""
	})
	retried := uint64(0)
	for _, n := range fleet {
		retried += n.agent.Stats().ResultsRetried.Load()
	}
	if retried == 0 {
		t.Fatal("no agent had to send a result again: the outage was not felt")
	}
	eventually(t, 30*time.Second, "the collector counts every run made during the outage", func() (bool, string) {
		for _, n := range fleet {
			if r := runsOf(n); int64(r) < to[n.id] {
				return false, fmt.Sprintf("%s: collector counts %d runs, the agent made %d by the end of the outage", n.id, r, to[n.id])
			}
		}
		return true, ""
	})
	individually := 0
	for _, n := range fleet {
		individually += int(to[n.id]-from[n.id]+1) - len(seen.missing(n.id, from[n.id], to[n.id]))
	}
	t.Logf("results produced during the outage: all acknowledged by the stream after %d retries; %d applied one by one by the collector, the rest superseded by newer ones that carry their runs", retried, individually)
}

// TestCollectorRestartKeepsNodesAndCounters stops the collector and starts a
// new one on the same JetStream while agents keep publishing, and scrapes
// it over HTTP from the moment it listens, as Prometheus would: until it
// has replayed its streams it answers /-/ready and /metrics with 503, and
// the first /metrics it serves already has every node up with every
// pulse_check_runs_total at least where the first collector left it; no
// counter ever goes back between scrapes.
func TestCollectorRestartKeepsNodesAndCounters(t *testing.T) {
	b := brokertest.Start(t)
	urls := []string{b.ClientURL()}
	var fleet []*node
	for i := 0; i < 8; i++ {
		fleet = append(fleet, startNode(t, fmt.Sprintf("node-%02d", i), nodeOptions{urls: urls, checkIv: 100 * time.Millisecond, register: time.Second}))
	}
	first := startCollector(t, urls, 1, nil)
	var before map[string]float64
	eventually(t, 10*time.Second, "first collector sees every node with check runs", func() (bool, string) {
		before = gather(t, first, "pulse_check_runs_total")
		up := gather(t, first, "pulse_node_up")
		for _, n := range fleet {
			if before[n.id] < 3 || up[n.id] != 1 {
				return false, fmt.Sprintf("%s runs=%v up=%v", n.id, before[n.id], up[n.id])
			}
		}
		return true, ""
	})
	first.Stop()

	base := "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(testkit.FreePort(t)))
	second, err := app.New(app.Options{
		NATS: bus.Config{URLs: urls, Name: "collector"}, Listen: strings.TrimPrefix(base, "http://"),
		Collector: collector.Options{Collective: "pulse", Replicas: 1, HeartbeatMisses: 3, Logger: discard()},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- second.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	notReady, ready := 0, false
	var prev map[string]float64
	grew := false
	deadline := time.Now().Add(60 * time.Second)
	for scrape := 0; !ready || scrape < 10; scrape++ {
		readyCode, readyBody := httpGet(t, base+"/-/ready")
		if time.Now().After(deadline) {
			t.Fatalf("no full scrape within a minute; /-/ready says %d %s", readyCode, readyBody)
		}
		code, body := httpGet(t, base+"/metrics")
		switch {
		case code == http.StatusServiceUnavailable:
			if ready {
				t.Fatalf("scrape %d: /metrics answered 503 after /-/ready said ready: %s", scrape, body)
			}
			notReady++
			time.Sleep(20 * time.Millisecond) // the next scrape, as a scraper would
			continue
		case code == 0:
			time.Sleep(20 * time.Millisecond) // not listening yet
			continue
		case code != http.StatusOK:
			t.Fatalf("scrape %d: /metrics answered %d: %s", scrape, code, body)
		}
		ready = ready || readyCode == http.StatusOK
		// Served: it must be the whole fleet.
		runs, up := sumBy(t, body, "pulse_check_runs_total"), sumBy(t, body, "pulse_node_up")
		for _, n := range fleet {
			if up[n.id] != 1 {
				t.Fatalf("scrape %d (after %d not ready): node %s is not up (up=%v): a partial fleet was served", scrape, notReady, n.id, up[n.id])
			}
			if runs[n.id] < before[n.id] {
				t.Fatalf("scrape %d (after %d not ready): pulse_check_runs_total of %s is %v, below the %v the first collector served: a partial replay was served", scrape, notReady, n.id, runs[n.id], before[n.id])
			}
			if prev != nil && runs[n.id] < prev[n.id] {
				t.Fatalf("scrape %d: pulse_check_runs_total of %s went backwards: %v then %v", scrape, n.id, prev[n.id], runs[n.id])
			}
			grew = grew || runs[n.id] > before[n.id]
		}
		prev = runs
		time.Sleep(100 * time.Millisecond) // spacing scrapes, not waiting for state
	}
	if !grew {
		t.Fatalf("no counter grew on the restarted collector: results are not being ingested")
	}
	t.Logf("%d scrapes answered 503 while the collector replayed", notReady)
}

// httpGet returns the status and body of GET url, status 0 when nothing
// listens yet.
func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read %s: %v", url, err)
	}
	return resp.StatusCode, string(b)
}

// sumBy parses a /metrics body and sums the samples of one metric per
// identity.
func sumBy(t *testing.T, body, name string) map[string]float64 {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	out := map[string]float64{}
	if mf := mfs[name]; mf != nil {
		for _, m := range mf.GetMetric() {
			out[label(m, "identity")] += value(m)
		}
	}
	return out
}

// TestNodeCutOff relays one agent through a proxy and cuts it: the
// collector must report pulse_node_up 0 within three heartbeats (plus its
// one-second sweep) and 1 again once the link returns.
func TestNodeCutOff(t *testing.T) {
	b := brokertest.Start(t)
	p := startProxy(t, b.Server().Addr().String())
	const beat = 500 * time.Millisecond
	cutNode := startNode(t, "cut-node", nodeOptions{urls: []string{p.url()}, register: beat})
	other := startNode(t, "steady-node", nodeOptions{urls: []string{b.ClientURL()}, register: beat})
	col := startCollector(t, []string{b.ClientURL()}, 1, nil)
	upOf := func() map[string]float64 { return gather(t, col, "pulse_node_up") }
	eventually(t, 10*time.Second, "both nodes up", func() (bool, string) {
		up := upOf()
		return up[cutNode.id] == 1 && up[other.id] == 1, fmt.Sprint(up)
	})

	p.setCut(true)
	eventually(t, 3*beat+1500*time.Millisecond, "cut node down within three heartbeats", func() (bool, string) {
		up := upOf()
		return up[cutNode.id] == 0, fmt.Sprint(up)
	})
	if up := upOf(); up[other.id] != 1 {
		t.Fatalf("the node that was not cut went down too: %v", up)
	}

	p.setCut(false)
	eventually(t, 15*time.Second, "cut node up again after the link returns", func() (bool, string) {
		up := upOf()
		return up[cutNode.id] == 1, fmt.Sprint(up)
	})
}

// stuckAgent's "wait" hangs, ignoring the request's deadline the way a
// stuck provider would, until the node serves an "echo": then the wait ends
// and its late reply goes out first, and only once it has does the echo
// answer. Once released (as a fast node's is from the start) it answers
// both at once. The late
// reply's timing is thus set by the calls the test makes, not by a delay
// that a loaded machine can stretch past the call it was meant to fall in.
type stuckAgent struct {
	stuck   chan struct{} // closed to end the hanging wait
	unstick sync.Once
	// replies reads the node's count of replies sent; set before the
	// first call.
	replies atomic.Pointer[func() uint64]
}

func newStuckAgent() *stuckAgent { return &stuckAgent{stuck: make(chan struct{})} }

func (s *stuckAgent) Name() string      { return "slow" }
func (s *stuckAgent) Actions() []string { return []string{"echo", "wait"} }
func (s *stuckAgent) Call(ctx context.Context, req actions.Request) actions.Result {
	switch req.Action {
	case "wait":
		<-s.stuck // the fault under test: a node that answers late
	case "echo":
		if replies := s.replies.Load(); replies != nil {
			before := (*replies)()
			s.release()
			// The late reply is sent when the wait's Call returns; the
			// echo's reply follows it on the same connection.
			deadline := time.Now().Add(30 * time.Second)
			for (*replies)() == before && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond) // polling the agent's counter, bounded
			}
		}
	}
	return actions.OK(map[string]string{"action": req.Action})
}

func (s *stuckAgent) release() { s.unstick.Do(func() { close(s.stuck) }) }

// TestSlowNodeIsNoResponseOnce calls a fast and a stuck node: the stuck
// node is reported as no-response, and its late reply, which arrives while
// a second call is collecting, must not show up in that second call.
func TestSlowNodeIsNoResponseOnce(t *testing.T) {
	b := brokertest.Start(t)
	urls := []string{b.ClientURL()}
	stuck := newStuckAgent()
	quick := newStuckAgent()
	quick.release()
	fast := startNode(t, "fast-node", nodeOptions{urls: urls, register: time.Second, agents: func() []actions.Agent { return []actions.Agent{quick} }})
	late := startNode(t, "slow-node", nodeOptions{urls: urls, register: time.Second, agents: func() []actions.Agent { return []actions.Agent{stuck} }})
	t.Cleanup(stuck.release) // before the agent stops: it waits for its actions
	replies := func() uint64 { return late.agent.Stats().Replies.Load() }
	stuck.replies.Store(&replies)
	client := connect(t, urls, "client")
	cl := rpc.New(client, rpc.Options{Caller: "user=faults"})
	ctx := context.Background()

	// The timeout is only how long fast-node may take to answer: the
	// stuck node cannot answer before the second call.
	first, err := cl.Do(ctx, rpc.Call{Agent: "slow", Action: "wait", Nodes: []string{fast.id, late.id}, Timeout: 3 * time.Second})
	if err != nil {
		t.Fatalf("first call: %v", err)
	}
	if got := fmt.Sprint(first.NoResponse); got != "[slow-node]" {
		t.Fatalf("first call: no-response = %s, want [slow-node]", got)
	}
	if len(first.Replies) != 1 || first.Replies[0].Identity != fast.id {
		t.Fatalf("first call: replies from %v, want only %s", ids(first.Replies), fast.id)
	}
	if first.OK() {
		t.Fatalf("first call reported OK although slow-node did not answer")
	}

	// The second call waits its whole timeout (a ghost node never
	// answers). Its echo on the stuck node ends the first call's wait, and
	// the late reply goes out before the echo's, so it lands while this
	// call still collects.
	repliesBefore := replies()
	second, err := cl.Do(ctx, rpc.Call{Agent: "slow", Action: "echo", Nodes: []string{fast.id, late.id, "ghost-node"}, Timeout: 2500 * time.Millisecond})
	if err != nil {
		t.Fatalf("second call: %v", err)
	}
	// The slow node sends two replies during the second call: its late one
	// to the first call and its answer to this one. Without the late reply
	// in flight the test would prove nothing.
	if sent := replies() - repliesBefore; sent < 2 {
		t.Fatalf("slow-node sent %d replies during the second call; want its late reply and its echo (2)", sent)
	}
	count := map[string]int{}
	for _, r := range second.Replies {
		count[r.Identity]++
		if r.Action != "echo" {
			t.Errorf("second call got a %s#%s reply from %s: the late reply leaked in", r.Agent, r.Action, r.Identity)
		}
	}
	if count[fast.id] != 1 || count[late.id] != 1 || len(count) != 2 {
		t.Fatalf("second call replies per node = %v, want fast-node and slow-node once each", count)
	}
	if got := fmt.Sprint(second.NoResponse); got != "[ghost-node]" {
		t.Fatalf("second call: no-response = %s, want [ghost-node]", got)
	}
}

func ids(rs []*rpc.Reply) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Identity)
	}
	return out
}

// restartableBroker returns what starts a broker on the same port and
// JetStream directory every time, so that agents and streams outlive a
// restart.
func restartableBroker(t *testing.T) func() *broker.Broker {
	port := testkit.FreePort(t)
	dir := t.TempDir()
	return func() *broker.Broker {
		b, err := broker.Start(broker.Options{Port: port, JetStreamDir: dir})
		if err != nil {
			t.Fatalf("start broker on port %d: %v", port, err)
		}
		return b
	}
}
