package nodeagent_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/pulseops/pulse/internal/broker/brokertest"
	"github.com/pulseops/pulse/internal/bus"
	"github.com/pulseops/pulse/internal/protocol"
	"github.com/pulseops/pulse/internal/rpc"
	"github.com/pulseops/pulse/nodeagent"
	"github.com/pulseops/pulse/nodeagent/actions"
)

// gate is an RPC agent whose actions run until the gate opens.
type gate struct {
	started chan struct{}
	open    chan struct{}
}

func (g *gate) Name() string      { return "gate" }
func (g *gate) Actions() []string { return []string{"wait"} }
func (g *gate) Call(ctx context.Context, _ actions.Request) actions.Result {
	g.started <- struct{}{}
	select {
	case <-g.open:
	case <-ctx.Done():
	}
	return actions.OK(nil)
}

func startGated(t *testing.T, maxConcurrent int) (*nodeagent.Agent, *gate, *rpc.Client) {
	t.Helper()
	br := brokertest.Start(t)
	nc, err := bus.Connect(bus.Config{URLs: []string{br.ClientURL()}, Name: "web-01"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	g := &gate{started: make(chan struct{}, 16), open: make(chan struct{})}
	a, err := nodeagent.New(nodeagent.Options{Identity: "web-01", Conn: nc, Agents: []actions.Agent{g}, MaxConcurrent: maxConcurrent, RegisterInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Stop)
	cnc, err := bus.Dial(bus.Config{URLs: []string{br.ClientURL()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cnc.Close)
	return a, g, rpc.New(cnc, rpc.Options{})
}

// The agent's intake is bounded before any goroutine is started: with
// every slot taken, a request is answered at once with "busy" and counted,
// instead of waiting in a queue nobody bounds.
func TestIntakeIsBounded(t *testing.T) {
	a, g, client := startGated(t, 1)
	call := rpc.Call{Agent: "gate", Action: "wait", Nodes: []string{"web-01"}, Timeout: 30 * time.Second}
	first := make(chan *rpc.Result, 1)
	go func() {
		res, err := client.Do(context.Background(), call)
		if err != nil {
			t.Error(err)
		}
		first <- res
	}()
	<-g.started
	res, err := client.Do(context.Background(), call)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Replies) != 1 || res.Replies[0].Status != protocol.Aborted || res.Replies[0].StatusMsg != "busy: 1 actions are already running on web-01; try again when they have finished" {
		t.Fatalf("second request while the slot is taken: %+v", res.Replies)
	}
	if n := a.Stats().Busy.Load(); n != 1 {
		t.Fatalf("busy counter %d, want 1", n)
	}
	close(g.open)
	if r := <-first; r == nil || !r.OK() {
		t.Fatalf("first request: %+v", r)
	}
}

// Stop may come while requests keep arriving: no goroutine is added to the
// agent's wait group after Stop began waiting (the race detector watches),
// and Stop returns once the running action has ended.
func TestStopWhileRequestsArrive(t *testing.T) {
	a, g, client := startGated(t, 4)
	call := rpc.Call{Agent: "gate", Action: "wait", Nodes: []string{"web-01"}, Timeout: 2 * time.Second}
	var wg sync.WaitGroup
	done := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				_, _ = client.Do(context.Background(), call)
			}
		})
	}
	<-g.started
	stopped := make(chan struct{})
	go func() {
		a.Stop()
		close(stopped)
	}()
	// The action that runs keeps Stop waiting until it ends.
	select {
	case <-stopped:
		t.Fatal("Stop returned while an action was still running")
	case <-time.After(100 * time.Millisecond):
	}
	close(g.open)
	select {
	case <-stopped:
	case <-time.After(30 * time.Second):
		t.Fatal("Stop did not return after the action ended")
	}
	close(done)
	wg.Wait()
	a.Stop() // a second Stop is harmless
}
