package collector

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/pulseops/pulse/collector/api"
	"github.com/pulseops/pulse/internal/filter"
	"github.com/pulseops/pulse/internal/protocol"
)

func TestLivenessAfterMissedHeartbeats(t *testing.T) {
	c, clk, evs := newDirect(t, nil)
	h := c.Handler()
	feedReg(t, c, registration("web-1", map[string]any{"role": "web"}), t0)
	if got := evs.take(); join(got) != "node_up web-1" {
		t.Fatalf("events after first heartbeat = %q", got)
	}
	upLine := `pulse_node_up{az="",cluster="",identity="web-1",role="web"} `

	// Three 30 s heartbeats may be missed: at exactly 90 s the node is up.
	clk.Add(90 * time.Second)
	c.sweep()
	if got := evs.take(); len(got) != 0 {
		t.Fatalf("events at 90s = %q, want none", got)
	}
	if s := series(scrape(t, h), upLine); len(s) != 1 || !strings.HasSuffix(s[0], " 1") {
		t.Fatalf("at 90s: %q, want up 1", s)
	}

	clk.Add(time.Second)
	if s := series(scrape(t, h), upLine); len(s) != 1 || !strings.HasSuffix(s[0], " 0") {
		t.Fatalf("at 91s: %q, want up 0", s)
	}
	if v, _ := c.Node("web-1"); v.Up {
		t.Fatal("API shows web-1 up after 3 missed heartbeats")
	}
	c.sweep()
	c.sweep() // a second sweep must not repeat the event
	if got := evs.take(); join(got) != "node_down web-1" {
		t.Fatalf("events at 91s = %q, want node_down", got)
	}

	// Its next heartbeat brings it back.
	feedReg(t, c, registration("web-1", map[string]any{"role": "web"}), clk.Now())
	if got := evs.take(); join(got) != "node_up web-1" {
		t.Fatalf("events after return = %q", got)
	}
	if v, _ := c.Node("web-1"); !v.Up {
		t.Fatal("API shows web-1 down after a fresh heartbeat")
	}
}

func TestLivenessUsesRegistrationInterval(t *testing.T) {
	c, clk, _ := newDirect(t, func(o *Options) { o.HeartbeatMisses = 2 })
	r := registration("slow", nil)
	r.Interval = 300
	feedReg(t, c, r, t0)
	clk.Add(599 * time.Second)
	if v, _ := c.Node("slow"); !v.Up {
		t.Fatal("node with a 300s interval is down after 599s with 2 misses allowed")
	}
	clk.Add(2 * time.Second)
	if v, _ := c.Node("slow"); v.Up {
		t.Fatal("node with a 300s interval is up after 601s with 2 misses allowed")
	}
}

func TestReplayedHeartbeatDoesNotRevive(t *testing.T) {
	c, _, evs := newDirect(t, nil)
	c.state.started = t0
	// Stored by the broker ten minutes before this collector started: history.
	feedReg(t, c, registration("gone", nil), t0.Add(-10*time.Minute))
	if v, _ := c.Node("gone"); v.Up {
		t.Fatal("a replayed old heartbeat made a node look up")
	}
	feedReg(t, c, registration("here", nil), t0.Add(-5*time.Second))
	if v, _ := c.Node("here"); !v.Up {
		t.Fatal("a replayed recent heartbeat should show the node up")
	}
	c.sweep()
	if got := evs.take(); len(got) != 0 {
		t.Fatalf("replay produced events %q; history is not news", got)
	}
}

func TestStaleness(t *testing.T) {
	c, clk, _ := newDirect(t, nil)
	feedReg(t, c, registration("web-1", nil), t0)
	feedResult(t, c, checkResult("web-1", "check_load", 0, t0), t0)
	staleLine := `pulse_check_stale{az="",check="check_load",cluster="",identity="web-1",role=""} `
	clk.Add(180 * time.Second) // 3 × 60 s interval: not yet stale
	if s := series(scrape(t, c.Handler()), staleLine); join(s) != staleLine+"0" {
		t.Fatalf("at 180s: %q", s)
	}
	clk.Add(time.Second)
	if s := series(scrape(t, c.Handler()), staleLine); join(s) != staleLine+"1" {
		t.Fatalf("at 181s: %q", s)
	}
	v, _ := c.Node("web-1")
	if len(v.Checks) != 1 || !v.Checks[0].Stale {
		t.Fatalf("API check not stale: %+v", v.Checks)
	}
	// A fresh result is current again.
	feedResult(t, c, checkResult("web-1", "check_load", 0, clk.Now()), clk.Now())
	if v, _ := c.Node("web-1"); v.Checks[0].Stale {
		t.Fatal("fresh result still stale")
	}
}

func TestCheckStateEvents(t *testing.T) {
	c, _, evs := newDirect(t, nil)
	feedReg(t, c, registration("web-1", nil), t0)
	evs.take()
	feedResult(t, c, checkResult("web-1", "check_load", 0, t0), t0)
	feedResult(t, c, checkResult("web-1", "check_load", 0, t0), t0)
	feedResult(t, c, checkResult("web-1", "check_load", 2, t0), t0)
	feedResult(t, c, checkResult("web-1", "check_load", 9, t0), t0) // out of range: UNKNOWN
	want := "check_state web-1 check_load 0->2 check_state web-1 check_load 2->3"
	if got := join(evs.take()); got != want {
		t.Fatalf("events = %q\nwant %q", got, want)
	}
}

func TestFactLabelCardinalityGuard(t *testing.T) {
	c, _, _ := newDirect(t, func(o *Options) { o.MaxLabelValues = 2 })
	for i := range 4 {
		feedReg(t, c, registration(fmt.Sprintf("n%d", i), map[string]any{"role": fmt.Sprintf("r%d", i), "cluster": "one"}), t0)
	}
	text := scrape(t, c.Handler())
	want := []string{
		`pulse_node_info{az="",cluster="one",identity="n0",role="r0"} 1`,
		`pulse_node_info{az="",cluster="one",identity="n1",role="r1"} 1`,
		`pulse_node_info{az="",cluster="one",identity="n2",role="__overflow__"} 1`,
		`pulse_node_info{az="",cluster="one",identity="n3",role="__overflow__"} 1`,
	}
	if got := series(text, "pulse_node_info{"); join(got) != join(want) {
		t.Fatalf("info series:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if got := testutil.ToFloat64(c.health.overflow.WithLabelValues("role")); got != 2 {
		t.Fatalf("overflow counter = %v, want 2", got)
	}
	// Heartbeats that change nothing are not counted again.
	feedReg(t, c, registration("n3", map[string]any{"role": "r3", "cluster": "one"}), t0)
	if got := testutil.ToFloat64(c.health.overflow.WithLabelValues("role")); got != 2 {
		t.Fatalf("overflow counter after repeat heartbeat = %v, want 2", got)
	}
	// n0 changes role to an existing value: r0 frees a place, which n3 takes
	// at its next heartbeat.
	feedReg(t, c, registration("n0", map[string]any{"role": "r1", "cluster": "one"}), t0)
	feedReg(t, c, registration("n3", map[string]any{"role": "r3", "cluster": "one"}), t0)
	if v, _ := c.Node("n3"); v.Labels["role"] != "r3" {
		t.Fatalf("n3 role label = %q after a place freed, want r3", v.Labels["role"])
	}
	// Check series carry the node's labels and follow its changes.
	feedResult(t, c, checkResult("n0", "check_load", 0, t0), t0)
	feedReg(t, c, registration("n0", map[string]any{"role": "r3", "cluster": "two"}), t0)
	if got := series(scrape(t, c.Handler()), `pulse_check_status{`); join(got) != `pulse_check_status{az="",check="check_load",cluster="two",identity="n0",role="r3"} 0` {
		t.Fatalf("check series after relabel: %q", got)
	}
}

func TestMaxSeriesGuard(t *testing.T) {
	// Budget: one node (3) and one check (8) and two perfdata labels, each
	// reserving its value and four threshold bounds.
	c, _, _ := newDirect(t, func(o *Options) { o.MaxSeries = nodeSeries + checkSeries + 2*perfSeries })
	feedReg(t, c, registration("a", nil), t0)
	r := checkResult("a", "check_disk", 0, t0)
	r.Perfdata = []protocol.Perf{{Label: "/", Value: 1, UOM: "MB"}, {Label: "/var", Value: 2, UOM: "MB"}, {Label: "/home", Value: 3, UOM: "MB"}}
	feedResult(t, c, r, t0)
	feedReg(t, c, registration("b", nil), t0)
	feedResult(t, c, checkResult("b", "check_load", 0, t0), t0)

	text := scrape(t, c.Handler())
	if got := len(series(text, "pulse_check_perfdata_bytes{")); got != 2 {
		t.Fatalf("perfdata series = %d, want 2 within budget", got)
	}
	if got := len(series(text, `pulse_node_up{az="",cluster="",identity="b"`)); got != 0 {
		t.Fatal("node b exported past the series cap")
	}
	// Refused: /home (1), node b (3), b's check_load (4 + 1 run state).
	if got := testutil.ToFloat64(c.health.dropped.WithLabelValues("max_series")); got != 1+3+5 {
		t.Fatalf("dropped max_series = %v, want 9", got)
	}
	// What is not exported is still in the API.
	if v, ok := c.Node("b"); !ok || len(v.Checks) != 1 {
		t.Fatalf("API lost node b: %+v", v)
	}
}

func TestMalformedAndHostileResults(t *testing.T) {
	c, _, _ := newDirect(t, func(o *Options) { o.MaxOutputBytes = 16 })
	feedReg(t, c, registration("web-1", nil), t0)
	subj := c.subj.Results("web-1", "check_load")

	c.handle(subj, []byte(`{"identity":`), t0)
	c.handle(subj, nil, t0)
	c.handle(subj, make([]byte, protocol.MaxMessageSize+1), t0)
	other := checkResult("db-1", "check_load", 2, t0) // speaks for another node
	c.handle(subj, wire(t, other), t0)
	wrongName := checkResult("web-1", "check_disk", 2, t0)
	c.handle(subj, wire(t, wrongName), t0)
	badKind := checkResult("web-1", "check_load", 0, t0)
	badKind.Kind = "rumour"
	c.handle(subj, wire(t, badKind), t0)
	c.handle("pulse.test.nonsense", []byte(`{}`), t0)
	c.handle(c.subj.Registry("web-1"), wire(t, registration("db-1", nil)), t0)

	// Unknown fields are allowed; huge outputs are cut at a rune boundary.
	huge := checkResult("web-1", "check_load", 1, t0)
	huge.Output = "WARNING " + strings.Repeat("é", 100)
	b := wire(t, huge)
	b = bytes.Replace(b, []byte(`"body":{`), []byte(`"body":{"future_field":{"x":1},`), 1)
	c.handle(subj, b, t0)

	for _, tt := range []struct {
		kind, reason string
		want         float64
	}{
		{"result", "envelope", 2},
		{"result", "oversized", 1},
		{"result", "identity_mismatch", 1},
		{"result", "name_mismatch", 1},
		{"result", "kind", 1},
		{"unknown", "subject", 1},
		{"registration", "identity_mismatch", 1},
	} {
		if got := testutil.ToFloat64(c.health.malformed.WithLabelValues(tt.kind, tt.reason)); got != tt.want {
			t.Errorf("malformed{%s,%s} = %v, want %v", tt.kind, tt.reason, got, tt.want)
		}
	}
	if got := testutil.ToFloat64(c.health.truncated); got != 1 {
		t.Errorf("truncated = %v, want 1", got)
	}
	v, _ := c.Node("web-1")
	if len(v.Checks) != 1 || v.Checks[0].Output != "WARNING éééé" || !v.Checks[0].Truncated || v.Checks[0].Status != 1 {
		t.Fatalf("check after hostile input: %+v", v.Checks)
	}
	if _, ok := c.Node("db-1"); ok {
		t.Fatal("a node speaking for db-1 created it")
	}
	// Still serving.
	if s := series(scrape(t, c.Handler()), "pulse_check_status{"); len(s) != 1 {
		t.Fatalf("status series = %q", s)
	}
}

func TestResultBeforeRegistrationAndUnknownCheck(t *testing.T) {
	c, _, _ := newDirect(t, nil)
	feedResult(t, c, checkResult("early", "check_new_thing", 2, t0), t0)
	text := scrape(t, c.Handler())
	if got := series(text, `pulse_check_status{`); join(got) != `pulse_check_status{az="",check="check_new_thing",cluster="",identity="early",role=""} 2` {
		t.Fatalf("status = %q", got)
	}
	if got := series(text, `pulse_node_up{`); len(got) != 0 {
		t.Fatalf("a node that never heartbeated has node series: %q", got)
	}
	feedReg(t, c, registration("early", map[string]any{"ec2_placement_availability_zone": "eu-west-1a"}), t0)
	if got := series(scrape(t, c.Handler()), `pulse_check_status{`); join(got) != `pulse_check_status{az="eu-west-1a",check="check_new_thing",cluster="",identity="early",role=""} 2` {
		t.Fatalf("status after registration = %q", got)
	}
}

func TestFloodFromOneNode(t *testing.T) {
	c, _, _ := newDirect(t, nil)
	feedReg(t, c, registration("calm", nil), t0)
	feedReg(t, c, registration("noisy", nil), t0)
	feedResult(t, c, checkResult("calm", "check_load", 0, t0), t0)
	// The same check many times over: state stays one entry.
	for i := range 5000 {
		r := checkResult("noisy", "check_load", i%3, t0)
		feedResult(t, c, r, t0)
	}
	// Ever new check names: capped per node and counted.
	for i := range maxEntriesPerNode + 50 {
		feedResult(t, c, checkResult("noisy", fmt.Sprintf("c%d", i), 0, t0), t0)
	}
	v, _ := c.Node("noisy")
	if got := len(v.Checks); got != maxEntriesPerNode {
		t.Fatalf("noisy has %d checks, want the cap %d", got, maxEntriesPerNode)
	}
	if got := testutil.ToFloat64(c.health.dropped.WithLabelValues("checks_per_node")); got != 51*5 {
		t.Fatalf("dropped checks_per_node = %v, want %d", got, 51*5)
	}
	if v, _ := c.Node("calm"); len(v.Checks) != 1 {
		t.Fatal("calm node lost its check")
	}
}

func TestProbeAndKindChange(t *testing.T) {
	c, _, _ := newDirect(t, nil)
	feedReg(t, c, registration("web-1", nil), t0)
	p := protocol.Result{
		Identity: "web-1", Time: t0,
		ResultBody: protocol.ResultBody{
			Kind:          "probe",
			Name:          "login",
			Status:        2,
			Interval:      30,
			ProbeRuns:     5,
			ProbeFailures: 1,
			Duration:      0.3,
			Steps: []protocol.StepResult{
				{Name: "home", Duration: 0.1, Phases: map[string]float64{"connect": 0.01, "total": 9}},
				{Name: "home", Duration: 0.5}, // duplicate step name
			},
		},
	}
	feedResult(t, c, p, t0)
	text := scrape(t, c.Handler())
	want := []string{
		`pulse_probe_step_duration_seconds{az="",cluster="",identity="web-1",phase="connect",probe="login",role="",step="home"} 0.01`,
		`pulse_probe_step_duration_seconds{az="",cluster="",identity="web-1",phase="total",probe="login",role="",step="home"} 0.1`,
	}
	if got := series(text, "pulse_probe_step_duration_seconds{"); join(got) != join(want) {
		t.Fatalf("steps:\n%s", strings.Join(got, "\n"))
	}
	if got := series(text, "pulse_probe_success{"); join(got) != `pulse_probe_success{az="",cluster="",identity="web-1",probe="login",role=""} 0` {
		t.Fatalf("success = %q", got)
	}
	before := c.state.series
	// The same name now reports as a check: the probe's series give way.
	feedResult(t, c, checkResult("web-1", "login", 0, t0), t0)
	text = scrape(t, c.Handler())
	if len(series(text, "pulse_probe_")) != 0 || len(series(text, `pulse_check_status{`)) != 1 {
		t.Fatalf("after kind change:\n%s", pulseLines(text))
	}
	// The probe held two step series, the total one also standing for
	// the step's status code and certificate expiry.
	if c.state.series != before-probeSeries-4+checkSeries {
		t.Fatalf("series budget %d after kind change, want %d", c.state.series, before-probeSeries-4+checkSeries)
	}
}

func TestAPI(t *testing.T) {
	c, _, _ := newDirect(t, nil)
	feedReg(t, c, registration("web-1", map[string]any{"role": "web"}), t0)
	feedReg(t, c, registration("db-1", map[string]any{"role": "db"}), t0)
	feedResult(t, c, checkResult("web-1", "check_load", 1, t0), t0)
	h := c.Handler()

	var all []api.NodeView
	if code := getJSON(t, h, "/api/v1/nodes", &all); code != 200 || len(all) != 2 || all[0].Identity != "db-1" || all[1].Identity != "web-1" {
		t.Fatalf("nodes: %d %+v", code, all)
	}
	var web []api.NodeView
	if code := getJSON(t, h, "/api/v1/nodes?fact=role=web", &web); code != 200 || len(web) != 1 || web[0].Identity != "web-1" {
		t.Fatalf("filtered nodes: %d %+v", code, web)
	}
	var one api.NodeView
	if code := getJSON(t, h, "/api/v1/nodes/web-1", &one); code != 200 || one.Checks[0].State != "WARNING" || one.Labels["role"] != "web" || !one.Up {
		t.Fatalf("node: %d %+v", code, one)
	}
	var e map[string]string
	if code := getJSON(t, h, "/api/v1/nodes/nope", &e); code != http.StatusNotFound || e["error"] != `node "nope" is not known: it has sent no heartbeat or result` {
		t.Fatalf("unknown node: %d %v", code, e)
	}
	if code := getJSON(t, h, "/api/v1/nodes?up=maybe", &e); code != http.StatusBadRequest || e["error"] != `up="maybe": use up=true or up=false` {
		t.Fatalf("bad up: %d %v", code, e)
	}
	if code := getJSON(t, h, "/api/v1/nodes?compound=((", &e); code != http.StatusBadRequest || !strings.HasPrefix(e["error"], "bad filter: ") {
		t.Fatalf("bad filter: %d %v", code, e)
	}
	if got := c.Resolve(filter.Spec{Fact: []string{"role=db"}}); len(got) != 1 {
		t.Fatalf("Resolve(role=db) = %v", got)
	}
	if got := c.Resolve(filter.Spec{}); len(got) != 2 || got[0] > got[1] {
		t.Fatalf("Resolve(all) = %v, want both nodes in order", got)
	}
	var health map[string]any
	if code := getJSON(t, h, "/healthz", &health); code != http.StatusServiceUnavailable {
		t.Fatalf("healthz of a collector that was never started: %d %v", code, health)
	}
	// The read API shares one listener with the routes of other parts.
	mux := http.NewServeMux()
	c.Register(mux)
	mux.Handle("GET /extra", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) }))
	if code := getJSON(t, mux, "/extra", nil); code != http.StatusTeapot {
		t.Fatalf("mounted route: %d", code)
	}
	if code := getJSON(t, mux, "/api/v1/nodes", nil); code != http.StatusOK {
		t.Fatalf("registered read API: %d", code)
	}
}

// TestPerfdataFamiliesFollowTheResult: a perfdata label is exported in the
// family of its unit in the last result, with its thresholds as their own
// series; a change of unit or thresholds moves its series at once.
func TestPerfdataFamiliesFollowTheResult(t *testing.T) {
	c, _, _ := newDirect(t, nil)
	feedReg(t, c, registration("a", nil), t0)
	r := checkResult("a", "check_x", 0, t0)
	r.Perfdata = []protocol.Perf{{Label: "v", Value: 250, UOM: "ms", Warn: "500"}}
	feedResult(t, c, r, t0)
	text := scrape(t, c.Handler())
	if got := join(series(text, "pulse_check_perfdata_seconds{")); !strings.HasSuffix(got, ` 0.25`) {
		t.Fatalf("seconds: %q", got)
	}
	if got := join(series(text, "pulse_check_perfdata_warning_seconds{")); !strings.Contains(got, `bound="upper"`) || !strings.HasSuffix(got, ` 0.5`) {
		t.Fatalf("warning threshold: %q", got)
	}
	r = checkResult("a", "check_x", 0, t0.Add(time.Second))
	r.Perfdata = []protocol.Perf{{Label: "v", Value: 40, UOM: "%", Crit: "10:"}}
	feedResult(t, c, r, t0.Add(time.Second))
	text = scrape(t, c.Handler())
	for _, gone := range []string{"pulse_check_perfdata_seconds{", "pulse_check_perfdata_warning_seconds{"} {
		if got := series(text, gone); len(got) != 0 {
			t.Errorf("%s still exported after the unit changed: %q", gone, got)
		}
	}
	if got := join(series(text, "pulse_check_perfdata_ratio{")); !strings.HasSuffix(got, ` 0.4`) {
		t.Fatalf("ratio: %q", got)
	}
	if got := join(series(text, "pulse_check_perfdata_critical_ratio{")); !strings.Contains(got, `bound="lower"`) || !strings.HasSuffix(got, ` 0.1`) {
		t.Fatalf("critical threshold: %q", got)
	}
}
