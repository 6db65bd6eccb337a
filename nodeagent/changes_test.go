package nodeagent_test

import (
	"context"
	"encoding/json"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/pulseops/pulse/internal/broker/brokertest"
	"github.com/pulseops/pulse/internal/bus"
	"github.com/pulseops/pulse/internal/protocol"
	"github.com/pulseops/pulse/internal/rpc"
	"github.com/pulseops/pulse/internal/testkit"
	"github.com/pulseops/pulse/nodeagent"
	"github.com/pulseops/pulse/nodeagent/actions"
)

// changeNode is an agent with a simulated package manager and init system,
// a scheduled check and probe whose state the test sets, watching shop.
type changeNode struct {
	agent  *nodeagent.Agent
	client *rpc.Client
	nc     *nats.Conn
	// checkState and probeState are what the next runs report; runs
	// counts the check's runs.
	checkState, probeState atomic.Int64
	runs                   atomic.Int64
}

func startChangeNode(t *testing.T) *changeNode {
	t.Helper()
	br := brokertest.Start(t)
	anc, err := bus.Connect(bus.Config{URLs: []string{br.ClientURL()}, Name: "web-01"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	pkgs, svcs := actions.NewSimSystem(
		actions.SimPackageOptions{Installed: map[string]string{"shop": "1.0.0"}, Delay: -1},
		actions.SimServiceOptions{Services: map[string]actions.SimService{"shop": {Running: true}}, Delay: -1})
	pa := actions.NewPackageAgent(pkgs, nil)
	n := &changeNode{}
	job := func(name, kind string, state *atomic.Int64) nodeagent.Job {
		return nodeagent.Job{Name: name, Kind: kind, Interval: time.Hour, Run: func(context.Context) nodeagent.Outcome {
			if kind == "check" {
				n.runs.Add(1)
			}
			s := int(state.Load())
			return nodeagent.Outcome{Status: s, Output: name + " " + protocol.StateName(s)}
		}}
	}
	n.agent, err = nodeagent.New(nodeagent.Options{
		Identity: "web-01", Conn: anc, RegisterInterval: time.Hour,
		Agents:        []actions.Agent{pa, actions.NewServiceAgent(svcs, nil)},
		Jobs:          []nodeagent.Job{job("check_shop", "check", &n.checkState), job("login", "probe", &n.probeState)},
		WatchPackages: []string{"shop"}, PackageVersion: pa.Version,
	})
	if err != nil {
		t.Fatal(err)
	}
	n.nc, err = bus.Dial(bus.Config{URLs: []string{br.ClientURL()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.nc.Close)
	n.client = rpc.New(n.nc, rpc.Options{Caller: "user=alice"})
	return n
}

func (n *changeNode) start(t *testing.T) {
	t.Helper()
	if err := n.agent.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.agent.Stop)
}

// subscribe collects what arrives on subject, decoded by open.
func subscribe[T any](t *testing.T, nc *nats.Conn, subject string, open func(*protocol.Envelope) (*T, error)) chan *T {
	t.Helper()
	ch := make(chan *T, 64)
	sub, err := nc.Subscribe(subject, func(m *nats.Msg) {
		env, err := protocol.Open(m.Data)
		if err != nil {
			t.Errorf("%s: %v", subject, err)
			return
		}
		v, err := open(env)
		if err != nil {
			t.Errorf("%s: %v", subject, err)
			return
		}
		ch <- v
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return ch
}

func next[T any](t *testing.T, ch chan *T) *T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatal("nothing arrived in 10s")
		return nil
	}
}

// Every package and service change a node makes is announced on its
// changes subject, with who asked, why, from which version to which and
// the result, failed changes too; counts are cumulative per kind and
// result. A watched package's new version is registered at once.
func TestChangesAreAnnounced(t *testing.T) {
	n := startChangeNode(t)
	subj := protocol.Subjects{Collective: "pulse"}
	changes := subscribe(t, n.nc, subj.Changes("web-01"), (*protocol.Envelope).Change)
	regs := subscribe(t, n.nc, subj.Registry("web-01"), (*protocol.Envelope).Registration)
	n.start(t)
	if r := next(t, regs); r.Packages["shop"] != "1.0.0" {
		t.Fatalf("first registration reports packages %v, want shop 1.0.0", r.Packages)
	}

	committed := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	install := func(version string) *rpc.Result {
		t.Helper()
		res, err := n.client.Do(context.Background(), rpc.Call{
			Agent: "package", Action: "install", Data: map[string]string{"package": "shop", "version": version},
			Nodes: []string{"web-01"}, Origin: &protocol.Origin{Via: protocol.ViaRollout, ID: "r-1", CommittedAt: committed},
		})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	if res := install("1.1.0"); !res.OK() {
		t.Fatalf("install: %+v", res.Replies[0])
	}
	c := next(t, changes)
	want := protocol.ChangeBody{Kind: "package", Action: "install", Name: "shop", From: "1.0.0", To: "1.1.0", Result: protocol.ChangeOK,
		Caller: "user=alice", Origin: &protocol.Origin{Via: protocol.ViaRollout, ID: "r-1", CommittedAt: committed}}
	if c.Kind != want.Kind || c.Action != want.Action || c.Name != want.Name || c.From != want.From || c.To != want.To ||
		c.Result != want.Result || c.Caller != want.Caller || *c.Origin != *want.Origin || c.Request == "" || c.Boot == "" || c.Seq == 0 {
		t.Fatalf("change event\n%+v\nwant %+v", c.ChangeBody, want)
	}
	if c.Counts["package/ok"] != 1 || len(c.Counts) != 1 {
		t.Fatalf("counts %v", c.Counts)
	}
	if r := next(t, regs); r.Packages["shop"] != "1.1.0" {
		t.Fatalf("registration after the change reports %v, want shop 1.1.0", r.Packages)
	}

	// The same install again changes nothing, and says so; an unknown
	// version fails, and says why.
	install("1.1.0")
	if c := next(t, changes); c.Result != protocol.ChangeUnchanged || c.From != "1.1.0" || c.To != "1.1.0" {
		t.Fatalf("repeated install: %+v", c.ChangeBody)
	}
	if res := install("9.9.9"); res.OK() {
		t.Fatal("installing a version the repository does not have succeeded")
	}
	c = next(t, changes)
	if c.Result != protocol.ChangeFailed || c.To != "1.1.0" || c.Error == "" {
		t.Fatalf("failed install: %+v", c.ChangeBody)
	}
	if c.Counts["package/ok"] != 1 || c.Counts["package/unchanged"] != 1 || c.Counts["package/failed"] != 1 {
		t.Fatalf("counts %v", c.Counts)
	}

	res, err := n.client.Do(context.Background(), rpc.Call{Agent: "service", Action: "stop", Data: map[string]string{"service": "shop"}, Nodes: []string{"web-01"}})
	if err != nil || !res.OK() {
		t.Fatalf("service stop: %v %+v", err, res)
	}
	if c := next(t, changes); c.Kind != "service" || c.From != "running" || c.To != "stopped" || c.Origin != nil || c.Result != protocol.ChangeOK {
		t.Fatalf("service change: %+v", c.ChangeBody)
	}
	// Reading is not changing.
	if _, err := n.client.Do(context.Background(), rpc.Call{Agent: "package", Action: "status", Data: map[string]string{"package": "shop"}, Nodes: []string{"web-01"}}); err != nil {
		t.Fatal(err)
	}
	select {
	case c := <-changes:
		t.Fatalf("a status request made a change event: %+v", c.ChangeBody)
	case <-time.After(200 * time.Millisecond):
	}
}

// health#rerun runs every scheduled check and probe now and answers with
// runs that started after the time asked about; health#status reports the
// latest without running anything.
func TestHealthRerun(t *testing.T) {
	n := startChangeNode(t)
	n.probeState.Store(protocol.StateCritical)
	n.start(t)
	// Jobs with an hour's interval run once at start (no splay).
	testkit.WaitFor(t, 10*time.Second, "the check's first run", func() bool { return n.runs.Load() >= 1 })

	call := func(action string, data any) nodeagent.HealthReply {
		t.Helper()
		res, err := n.client.Do(context.Background(), rpc.Call{Agent: "health", Action: action, Data: data, Nodes: []string{"web-01"}, Timeout: 20 * time.Second})
		if err != nil || !res.OK() {
			t.Fatalf("health#%s: %v %+v", action, err, res)
		}
		var r nodeagent.HealthReply
		if err := json.Unmarshal(res.Replies[0].Data, &r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	st := call("status", nil)
	if len(st.Checks) != 1 || st.Checks[0].State != "OK" || len(st.Probes) != 1 || st.Probes[0].Pending {
		t.Fatalf("status: %+v", st)
	}
	before := n.runs.Load()

	n.probeState.Store(protocol.StateOK)
	n.checkState.Store(protocol.StateWarning)
	since := time.Now().UTC()
	r := call("rerun", nodeagent.HealthRerun{Since: since, Wait: "10s"})
	if n.runs.Load() != before+1 {
		t.Fatalf("rerun ran the check %d times, want once", n.runs.Load()-before)
	}
	if r.Checks[0].State != "WARNING" || r.Checks[0].Time.Before(since) || r.Checks[0].Pending {
		t.Fatalf("rerun check: %+v (since %s)", r.Checks[0], since)
	}
	if r.Probes[0].State != "OK" || r.Probes[0].Time.Before(since) {
		t.Fatalf("rerun probe: %+v", r.Probes[0])
	}

	for _, bad := range []any{map[string]string{"wait": "forever"}, map[string]string{"wait": "1h"}, map[string]string{"since": "yesterday"}, map[string]string{"surprise": "x"}} {
		res, err := n.client.Do(context.Background(), rpc.Call{Agent: "health", Action: "rerun", Data: bad, Nodes: []string{"web-01"}})
		if err != nil || len(res.Replies) != 1 || res.Replies[0].Status != protocol.InvalidData {
			t.Fatalf("rerun %v: %v %+v", bad, err, res)
		}
	}
}
