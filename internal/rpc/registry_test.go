package rpc_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pulseops/pulse/internal/broker"
	"github.com/pulseops/pulse/internal/broker/brokertest"
	"github.com/pulseops/pulse/internal/bus"
	"github.com/pulseops/pulse/internal/filter"
	"github.com/pulseops/pulse/internal/registry"
	"github.com/pulseops/pulse/internal/rpc"
	"github.com/pulseops/pulse/internal/testkit"
	"github.com/pulseops/pulse/nodeagent"
)

// registered is a fleet of real agents on a broker with JetStream, and a
// client, with (or without) the fleet registry bucket made first.
type registered struct {
	url    string
	agents map[string]*nodeagent.Agent
	nc     *nats.Conn
	cl     *rpc.Client
}

// roles of the test fleet: node-0..2 are web, node-3 and node-4 db.
var roles = map[string]string{"node-0": "web", "node-1": "web", "node-2": "web", "node-3": "db", "node-4": "db"}

// startRegistered starts the fleet; the nodes in unregistered start before
// the bucket is made (and heartbeat hourly), so the registry never lists
// them.
func startRegistered(t *testing.T, bucket bool, unregistered ...string) *registered {
	t.Helper()
	br := brokertest.Start(t)
	r := &registered{url: br.ClientURL(), agents: map[string]*nodeagent.Agent{}}
	var err error
	if r.nc, err = bus.Dial(bus.Config{URLs: []string{r.url}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.nc.Close)
	for _, id := range unregistered {
		r.start(t, id, roles[id])
	}
	if bucket {
		r.ensure(t)
	}
	for id, role := range roles {
		if r.agents[id] == nil {
			r.start(t, id, role)
		}
	}
	r.cl = rpc.New(r.nc, rpc.Options{})
	return r
}

func (r *registered) ensure(t *testing.T) {
	t.Helper()
	js, err := jetstream.New(r.nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := registry.Ensure(context.Background(), js, "pulse", 1); err != nil {
		t.Fatal(err)
	}
}

func (r *registered) start(t *testing.T, id, role string) {
	t.Helper()
	nc, err := bus.Connect(bus.Config{URLs: []string{r.url}, Name: id}, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, err := nodeagent.New(nodeagent.Options{Identity: id, Conn: nc, Facts: facts{"role": role}, RegisterInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Stop)
	r.agents[id] = a
}

// do runs call with registry discovery. Timeouts are an hour, so a call
// that waited for a window instead of for the expected nodes would never
// end (and the test binary's deadline would fail it); calls that must wait
// for a silent node set their own.
func (r *registered) do(t *testing.T, call rpc.Call) *rpc.Result {
	t.Helper()
	call.Discovery = rpc.DiscoverRegistry
	if call.Timeout == 0 {
		call.Timeout = time.Hour
	}
	call.DiscoveryTimeout, call.Quiet = time.Hour, time.Hour
	res, err := r.cl.Do(context.Background(), call)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func replied(res *rpc.Result) string {
	var ids []string
	for _, rep := range res.Replies {
		ids = append(ids, rep.Identity)
	}
	return strings.Join(ids, ",")
}

// A ping and a filtered facts report end when every node the registry
// expects has answered, with no quiet window; the filter is the agents'
// own, evaluated against the registered facts.
func TestRegistryDiscoveryEndsWhenTheFleetAnswered(t *testing.T) {
	r := startRegistered(t, true)
	res := r.do(t, rpc.Call{Agent: "rpcutil", Action: "ping"})
	if replied(res) != "node-0,node-1,node-2,node-3,node-4" || res.Discovery != "registry" || res.Fleet != 5 || len(res.NoResponse) != 0 || res.Fallback != "" {
		t.Fatalf("ping: replies %s, %+v", replied(res), res)
	}
	res = r.do(t, rpc.Call{Agent: "rpcutil", Action: "get_fact", Data: map[string]string{"fact": "role"}, Filter: filter.Spec{Fact: []string{"role=db"}}})
	if replied(res) != "node-3,node-4" || strings.Join(res.Targets, ",") != "node-3,node-4" || res.Fleet != 5 || !res.OK() {
		t.Fatalf("facts -F role=db: replies %s, %+v", replied(res), res)
	}
	res = r.do(t, rpc.Call{Agent: "rpcutil", Action: "ping", Filter: filter.Spec{Identity: []string{"/node-[12]/"}}})
	if replied(res) != "node-1,node-2" {
		t.Fatalf("ping -I: replies %s", replied(res))
	}
	// Anything but a plain rpcutil broadcast is sent to each node the
	// registry selected.
	res = r.do(t, rpc.Call{Agent: "rpcutil", Action: "ping", Filter: filter.Spec{Fact: []string{"role=web"}}, Limit: rpc.Nodes(2)})
	if len(res.Replies) != 2 || len(res.Targets) != 2 || res.Discovery != "registry" || !strings.HasPrefix(replied(res), "node-") {
		t.Fatalf("ping --limit 2: %+v", res)
	}
}

// A node that stopped is still in the registry for a few heartbeats, so
// it is named silent; a node the registry does not list (registered since)
// that answers is shown and counted as unexpected.
func TestRegistryNamesTheSilentAndTheUnexpected(t *testing.T) {
	r := startRegistered(t, true, "node-4")
	r.agents["node-1"].Stop()
	for _, filter := range []filter.Spec{{}, {Fact: []string{"role=~."}}} {
		res := r.do(t, rpc.Call{Agent: "rpcutil", Action: "ping", Timeout: time.Second, Filter: filter})
		if strings.Join(res.NoResponse, ",") != "node-1" || strings.Join(res.Unexpected, ",") != "node-4" ||
			replied(res) != "node-0,node-2,node-3,node-4" || res.OK() || res.Fleet != 4 {
			t.Fatalf("ping %+v: replies %s, no response %v, unexpected %v, fleet %d", filter, replied(res), res.NoResponse, res.Unexpected, res.Fleet)
		}
	}
}

// A filter that matches nothing in the registry sends nothing at all.
func TestRegistryNoMatchSendsNothing(t *testing.T) {
	r := startRegistered(t, true)
	var mu sync.Mutex
	var sent []string
	spy, err := nats.Connect(r.url)
	if err != nil {
		t.Fatal(err)
	}
	defer spy.Close()
	if _, err := spy.Subscribe("pulse.pulse.agent.>", func(m *nats.Msg) {
		mu.Lock()
		sent = append(sent, string(m.Data))
		mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}
	if err := spy.Flush(); err != nil {
		t.Fatal(err)
	}
	res := r.do(t, rpc.Call{Agent: "rpcutil", Action: "ping", Filter: filter.Spec{Fact: []string{"role=nothing"}}})
	if !res.NoMatch || len(res.Replies) != 0 || res.Fleet != 5 {
		t.Fatalf("no match: %+v", res)
	}
	// The client's messages reach the spy in the order it sent them, so
	// once the next ping is there an earlier request would be too.
	r.do(t, rpc.Call{Agent: "rpcutil", Action: "ping"})
	testkit.WaitFor(t, 5*time.Second, "the spy to see the ping", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(sent) > 0
	})
	mu.Lock()
	defer mu.Unlock()
	for _, m := range sent {
		if strings.Contains(m, "role=nothing") {
			t.Fatalf("a request was sent for a filter that matches no node: %s", m)
		}
	}
}

// --nodes FILE with a filter: the registry drops the listed nodes that do
// not match, and keeps those it does not know, to be named when silent.
func TestRegistryNarrowsANodeList(t *testing.T) {
	r := startRegistered(t, true)
	res := r.do(t, rpc.Call{Agent: "rpcutil", Action: "ping", Timeout: time.Second, Filter: filter.Spec{Fact: []string{"role=db"}},
		Nodes: []string{"node-0", "node-3", "node-9"}, NarrowNodes: true})
	if strings.Join(res.Targets, ",") != "node-3,node-9" || replied(res) != "node-3" || strings.Join(res.NoResponse, ",") != "node-9" {
		t.Fatalf("narrowed: targets %v, replies %s, silent %v", res.Targets, replied(res), res.NoResponse)
	}
	res = r.do(t, rpc.Call{Agent: "rpcutil", Action: "ping", Filter: filter.Spec{Fact: []string{"role=db"}},
		Nodes: []string{"node-0", "node-1"}, NarrowNodes: true})
	if !res.NoMatch || len(res.Targets) != 0 {
		t.Fatalf("listed nodes that are registered and do not match: %+v", res)
	}
}

// Without a bucket, or with an empty one, the call is a broadcast
// discovery and says why; a corrupt entry is skipped and counted.
func TestRegistryFallsBackAndSkipsCorruptEntries(t *testing.T) {
	r := startRegistered(t, false)
	call := rpc.Call{Agent: "rpcutil", Action: "ping", Discovery: rpc.DiscoverRegistry, Timeout: time.Hour, DiscoveryTimeout: time.Hour, Quiet: 200 * time.Millisecond}
	for _, filtered := range []bool{false, true} {
		c := call
		if filtered {
			c.Filter = filter.Spec{Fact: []string{"role=web"}}
		}
		res, err := r.cl.Do(context.Background(), c)
		if err != nil {
			t.Fatal(err)
		}
		want := "node-0,node-1,node-2,node-3,node-4"
		if filtered {
			want = "node-0,node-1,node-2"
		}
		if res.Discovery != "broadcast" || !strings.Contains(res.Fallback, "no fleet registry on this bus") || replied(res) != want {
			t.Fatalf("no bucket (filtered %v): %s %q, replies %s", filtered, res.Discovery, res.Fallback, replied(res))
		}
	}
	r.ensure(t)
	res, err := r.cl.Do(context.Background(), call)
	if err != nil {
		t.Fatal(err)
	}
	if res.Discovery != "broadcast" || res.Fallback != "the fleet registry is empty" || len(res.Replies) != 5 {
		t.Fatalf("empty bucket: %s %q, %d replies", res.Discovery, res.Fallback, len(res.Replies))
	}
	bad := nats.NewMsg("$KV." + registry.Bucket("pulse") + ".node-9")
	bad.Data = []byte(`{"pulse":1,"kind":"registration"`)
	if _, err := r.nc.RequestMsg(bad, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	call.Filter = filter.Spec{Fact: []string{"role=web"}}
	if res, err = r.cl.Do(context.Background(), call); err != nil {
		t.Fatal(err)
	}
	if res.Discovery != "broadcast" || res.Fallback != "the fleet registry is empty (1 corrupt and 0 stale entries skipped)" || replied(res) != "node-0,node-1,node-2" {
		t.Fatalf("a bucket with a corrupt entry alone: %s %q, replies %s", res.Discovery, res.Fallback, replied(res))
	}
	// Registered now, beside the corrupt entry.
	for id, role := range roles {
		r.agents[id].Stop()
		r.start(t, id, role)
	}
	res = r.do(t, rpc.Call{Agent: "rpcutil", Action: "ping", Filter: filter.Spec{Fact: []string{"role=web"}}})
	if res.Discovery != "registry" || replied(res) != "node-0,node-1,node-2" || len(res.Corrupt) != 1 || res.Corrupt[0].Key != "node-9" {
		t.Fatalf("registry with a corrupt entry: %s, replies %s, corrupt %+v", res.Discovery, replied(res), res.Corrupt)
	}
}

// A registry that does not answer (JetStream is there but silent: a lost
// quorum, a stalled server) is a fallback, not a hang or an error: a read
// before sending gives up after a second, one beside the broadcast at the
// discovery timeout, and the call is a broadcast discovery that says why.
func TestRegistryThatDoesNotAnswerFallsBack(t *testing.T) {
	br, err := broker.Start(broker.Options{Port: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(br.Shutdown)
	r := &registered{url: br.ClientURL(), agents: map[string]*nodeagent.Agent{}}
	if r.nc, err = bus.Dial(bus.Config{URLs: []string{r.url}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.nc.Close)
	silent, err := nats.Connect(r.url)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	if _, err := silent.Subscribe("$JS.API.>", func(*nats.Msg) {}); err != nil {
		t.Fatal(err)
	}
	if err := silent.Flush(); err != nil {
		t.Fatal(err)
	}
	for id, role := range roles {
		r.start(t, id, role)
	}
	r.cl = rpc.New(r.nc, rpc.Options{})
	for _, f := range []filter.Spec{{}, {Fact: []string{"role=web"}}} {
		res, err := r.cl.Do(context.Background(), rpc.Call{Agent: "rpcutil", Action: "ping", Discovery: rpc.DiscoverRegistry, Filter: f,
			Timeout: time.Hour, DiscoveryTimeout: 3 * time.Second, Quiet: 300 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		want, within := "node-0,node-1,node-2,node-3,node-4", "3s"
		if len(f.Fact) > 0 {
			want, within = "node-0,node-1,node-2", "1s"
		}
		if res.Discovery != "broadcast" || res.Fallback != "the fleet registry could not be read: no answer from the server within "+within+" (bucket PULSE_FLEET_pulse)" || replied(res) != want {
			t.Fatalf("silent registry, filter %+v: %s %q, replies %s", f, res.Discovery, res.Fallback, replied(res))
		}
	}
}
