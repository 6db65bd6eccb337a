package remediation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/pulseops/pulse/collector/api"
	"github.com/pulseops/pulse/internal/filter"
	"github.com/pulseops/pulse/internal/protocol"
	"github.com/pulseops/pulse/internal/testkit"
)

// fakeExecutor stands in for the orchestration client. The real Executor
// needs a bus and a fleet of agents, which the lead's end-to-end test runs;
// here the engine's own decisions are under test, so the executor only
// records what it was asked and answers as configured.
type fakeExecutor struct {
	mu    sync.Mutex
	calls []Action
	// status and err answer remediation actions; exitcode answers the
	// nrpe verification.
	status   protocol.Status
	err      error
	exitcode int
	// hold, when set, keeps remediation actions running until closed.
	hold chan struct{}
	// silent nodes never answer.
	silent map[string]bool
}

func (f *fakeExecutor) Run(ctx context.Context, a Action) ([]NodeResult, error) {
	f.mu.Lock()
	f.calls = append(f.calls, a)
	status, err, exitcode, hold := f.status, f.err, f.exitcode, f.hold
	nodes := slices.Clone(a.Filter.Identity)
	f.mu.Unlock()
	verify := a.Agent == "nrpe" && a.Action == "runcommand"
	if hold != nil && !verify {
		select {
		case <-hold:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if err != nil && !verify {
		return nil, err
	}
	out := make([]NodeResult, 0, len(nodes))
	for _, id := range nodes {
		if f.silent[id] {
			out = append(out, NodeResult{Identity: id, Status: protocol.UnknownError, Message: "no response", NoReply: true})
			continue
		}
		r := NodeResult{Identity: id, Status: protocol.OK, Message: "OK"}
		if verify {
			r.Data = json.RawMessage(fmt.Sprintf(`{"exitcode":%d,"output":"NGINX check"}`, exitcode))
		} else if status != protocol.OK {
			r.Status, r.Message = status, "service restart failed"
		}
		out = append(out, r)
	}
	return out, nil
}

func (f *fakeExecutor) actions() []Action {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Action
	for _, a := range f.calls {
		if a.Agent != "nrpe" {
			out = append(out, a)
		}
	}
	return out
}

func (f *fakeExecutor) all() []Action {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// fakeFleet is the collector's fleet as the engine sees it: nodes with
// facts, up or down, with their checks. The collector needs a bus and
// agents (the demo's tests run it); here it is a table, matched with the
// real filter package.
type fakeFleet struct {
	mu    sync.Mutex
	nodes map[string]api.NodeView
}

// fleetOf is a fleet of up nodes; each is "identity" or "identity@zone",
// with role web and its zone as both az and
// ec2_placement_availability_zone.
func fleetOf(nodes ...string) *fakeFleet {
	f := &fakeFleet{nodes: map[string]api.NodeView{}}
	for _, n := range nodes {
		id, zone, _ := strings.Cut(n, "@")
		facts := map[string]any{"role": "web"}
		if zone != "" {
			facts["az"], facts["ec2_placement_availability_zone"] = zone, zone
		}
		f.nodes[id] = api.NodeView{Identity: id, Up: true, Registered: true, Facts: facts, LastSeen: time.Date(2026, 3, 1, 11, 59, 0, 0, time.UTC)}
	}
	return f
}

// defaultFleet holds every node the tests name, in the zones they use.
func defaultFleet() *fakeFleet {
	nodes := []string{"ip-10-0-1-12@eu-west-1c", "ip-10-0-1-13@eu-west-1c", "c1"}
	for i := 1; i <= 9; i++ {
		nodes = append(nodes, fmt.Sprintf("n%d@a", i))
	}
	for i := 1; i <= 3; i++ {
		nodes = append(nodes, fmt.Sprintf("a%d@eu-west-1a", i))
	}
	for i := 1; i <= 6; i++ {
		nodes = append(nodes, fmt.Sprintf("b%d@eu-west-1b", i))
	}
	return fleetOf(nodes...)
}

func (f *fakeFleet) Resolve(s filter.Spec) []string {
	m, err := filter.Compile(s)
	if err != nil {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for id, n := range f.nodes {
		if n.Up && m.Match(&filter.Target{Identity: id, Facts: n.Facts}) {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

func (f *fakeFleet) Node(id string) (api.NodeView, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, ok := f.nodes[id]
	return n, ok
}

// set changes node id.
func (f *fakeFleet) set(id string, change func(n *api.NodeView)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := f.nodes[id]
	change(&n)
	f.nodes[id] = n
}

// clock is a settable clock for guards measured in time.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type harness struct {
	e      *Engine
	fleet  *fakeFleet
	exec   *fakeExecutor
	clock  *clock
	reg    *prometheus.Registry
	audit  *testkit.SyncBuffer
	mu     sync.Mutex
	events []protocol.Event
}

func (h *harness) Events() []protocol.Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.events)
}

// newHarness builds an engine over rules (YAML) with a fake executor, a fake
// clock, a private registry and fleet (nil: defaultFleet). Deferred
// decisions are decided again only when the test calls retry, so the
// engine's own loop never races the test's clock.
func newHarness(t testing.TB, rules string, fleet *fakeFleet) *harness {
	t.Helper()
	rs, err := ParseRules("test.yaml", []byte(rules))
	if err != nil {
		t.Fatal(err)
	}
	if fleet == nil {
		fleet = defaultFleet()
	}
	h := &harness{exec: &fakeExecutor{}, clock: newClock(), reg: prometheus.NewRegistry(), audit: &testkit.SyncBuffer{}, fleet: fleet}
	h.e, err = New(Options{
		Rules: rs, Executor: h.exec, Fleet: fleet, Registerer: h.reg, Now: h.clock.Now, Audit: h.audit,
		OnEvent: func(ev protocol.Event) {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.events = append(h.events, ev)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	h.e.noRetryLoop = true
	h.e.Start(context.Background())
	t.Cleanup(h.e.Stop)
	return h
}

// retry decides the deferred decisions again, as the engine's loop does,
// and waits for the remediations it starts.
func (h *harness) retry() {
	h.e.Retry(context.Background())
	h.e.Wait()
}

// handle sends alerts in one webhook and waits for the remediations.
func (h *harness) handle(t testing.TB, alerts ...Alert) []Decision {
	t.Helper()
	d := h.e.Handle(context.Background(), &Webhook{Version: "4", Status: StatusFiring, Alerts: alerts})
	h.e.Wait()
	return d
}

func (h *harness) counter(name string, labels ...string) float64 {
	switch name {
	case "total":
		return testutil.ToFloat64(h.e.metrics.total.WithLabelValues(labels...))
	case "skipped":
		return testutil.ToFloat64(h.e.metrics.skipped.WithLabelValues(labels...))
	case "deferred":
		return testutil.ToFloat64(h.e.metrics.deferred.WithLabelValues(labels...))
	case "dropped":
		return testutil.ToFloat64(h.e.metrics.dropped.WithLabelValues(labels...))
	case "circuit":
		return testutil.ToFloat64(h.e.metrics.circuit.WithLabelValues(labels...))
	}
	panic(name)
}

// nginxAlert is PulseCheckCritical for check_nginx on identity.
func nginxAlert(identity, az string) Alert {
	return Alert{
		Status: StatusFiring,
		Labels: map[string]string{
			"alertname": "PulseCheckCritical", "check": "check_nginx", "service": "nginx",
			"identity": identity, "az": az, "role": "web", "cluster": "shop",
		},
		StartsAt:    time.Date(2026, 3, 1, 11, 58, 0, 0, time.UTC),
		Fingerprint: "fp-" + identity,
	}
}

func withFP(a Alert, fp string) Alert {
	a.Fingerprint = fp
	return a
}

func reasons(ds []Decision) []string {
	var out []string
	for _, d := range ds {
		if d.Outcome == Acted {
			out = append(out, "acted")
		} else {
			out = append(out, string(d.Reason))
		}
	}
	return out
}

func wantReasons(t testing.TB, ds []Decision, want ...string) {
	t.Helper()
	if got := reasons(ds); !slices.Equal(got, want) {
		t.Fatalf("decisions %v, want %v\n%+v", got, want, ds)
	}
}

// nginxRule is restart-nginx with guards (YAML flow mapping) replaced.
func nginxRule(guards string) string {
	return `rules:
  - name: restart-nginx
    match: {alertname: PulseCheckCritical, check: check_nginx}
    action: {agent: service, action: restart, data: {service: "{{ .Labels.service }}"}}
    target: {identity_label: identity}
    verify: {check: check_nginx}
    guards: ` + guards + "\n"
}

func newFuzzEngine(t *testing.T) *Engine {
	rs, err := ParseRules("fuzz.yaml", []byte(nginxRule("{cooldown: 1m}")))
	if err != nil {
		t.Fatal(err)
	}
	e, err := New(Options{Rules: rs, Executor: &fakeExecutor{}, Fleet: defaultFleet()})
	if err != nil {
		t.Fatal(err)
	}
	e.Start(context.Background())
	t.Cleanup(e.Stop)
	return e
}

var errBoom = errors.New("nats: timeout")
