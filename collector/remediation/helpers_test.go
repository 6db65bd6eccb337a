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
	// factNodes answers fact-filter actions: filter term list → identities.
	factNodes map[string][]string
	// status and err answer remediation actions; exitcode answers the
	// nrpe verification.
	status   protocol.Status
	err      error
	exitcode int
	// hold, when set, keeps remediation actions running until closed.
	hold chan struct{}
}

func (f *fakeExecutor) Run(ctx context.Context, a Action) ([]NodeResult, error) {
	f.mu.Lock()
	f.calls = append(f.calls, a)
	status, err, exitcode, hold := f.status, f.err, f.exitcode, f.hold
	nodes := slices.Clone(a.Filter.Identity)
	if len(a.Filter.Fact) > 0 {
		nodes = f.factNodes[strings.Join(a.Filter.Fact, ",")]
	}
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

// fakeFleet counts nodes per filter from a table keyed by the fact terms.
type fakeFleet map[string]int

func (f fakeFleet) Count(s filter.Spec) int { return f[strings.Join(s.Fact, ",")] }

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
// clock and a private registry.
func newHarness(t testing.TB, rules string, fleet Fleet) *harness {
	t.Helper()
	rs, err := ParseRules("test.yaml", []byte(rules))
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{exec: &fakeExecutor{}, clock: newClock(), reg: prometheus.NewRegistry(), audit: &testkit.SyncBuffer{}}
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
	h.e.Start(context.Background())
	t.Cleanup(h.e.Stop)
	return h
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
	e, err := New(Options{Rules: rs, Executor: &fakeExecutor{}})
	if err != nil {
		t.Fatal(err)
	}
	e.Start(context.Background())
	t.Cleanup(e.Stop)
	return e
}

var errBoom = errors.New("nats: timeout")
