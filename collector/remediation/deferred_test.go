package remediation

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pulseops/pulse/collector/api"
	"github.com/pulseops/pulse/internal/protocol"
	"github.com/pulseops/pulse/internal/testkit"
)

// targetsRun lists the nodes of each action the executor ran, in order.
func targetsRun(h *harness) []string {
	var out []string
	for _, a := range h.exec.actions() {
		out = append(out, strings.Join(a.Filter.Identity, ","))
	}
	return out
}

func record(t *testing.T, h *harness, id string) Record {
	t.Helper()
	rec, ok := h.e.Get(id)
	if !ok {
		t.Fatalf("no record %s", id)
	}
	return rec
}

// TestDeferredUntilTheGroupHasRoom: every web node of a zone breaks at
// once; the group guard lets two run, the third waits and runs as soon as
// one of them ends, with no resend from Alertmanager.
func TestDeferredUntilTheGroupHasRoom(t *testing.T) {
	h := newHarness(t, nginxRule("{cooldown: 60s, max_group_percent: 34, group_label: az}"), nil)
	h.exec.hold = make(chan struct{})
	ds := h.e.Handle(t.Context(), &Webhook{Version: "4", Alerts: []Alert{
		nginxAlert("b1", "eu-west-1b"), nginxAlert("b2", "eu-west-1b"), nginxAlert("b3", "eu-west-1b"),
	}})
	wantReasons(t, ds, "acted", "acted", "too_many_targets")
	rec := record(t, h, ds[2].RecordID)
	if rec.State != StateDeferred || rec.Reason != ReasonTooManyTargets || !rec.Retry.IsZero() || !slices.Equal(rec.Targets, []string{"b3"}) {
		t.Fatalf("deferred record: %+v", rec)
	}
	// While both run, deciding again changes nothing.
	h.e.Retry(t.Context())
	if rec := record(t, h, ds[2].RecordID); rec.State != StateDeferred {
		t.Fatalf("b3 left the queue while the group was full: %+v", rec)
	}
	close(h.exec.hold)
	h.e.Wait()
	h.retry()
	if got, want := targetsRun(h), []string{"b1", "b2", "b3"}; !slices.Equal(got[:2], []string{"b1", "b2"}) && !slices.Equal(got[:2], []string{"b2", "b1"}) || len(got) != 3 || got[2] != "b3" {
		t.Fatalf("actions on %v, want %v (the deferred one last)", got, want)
	}
	rec = record(t, h, ds[2].RecordID)
	if rec.State != StateSucceeded || rec.Reason != "" || !rec.Verified || rec.Started.IsZero() {
		t.Fatalf("the deferred record did not become the remediation: %+v", rec)
	}
	if v := h.counter("deferred", "restart-nginx", "too_many_targets"); v != 1 {
		t.Errorf("pulse_remediation_deferred_total{reason=too_many_targets} = %v", v)
	}
	// pulse watch and the web feed see the deferral as it happens.
	var said bool
	for _, ev := range h.Events() {
		said = said || ev.Type == protocol.EventRemediation && ev.Identity == "b3" && strings.Contains(ev.Message, "deferred for PulseCheckCritical: too_many_targets: 2 of 6 nodes in az=eu-west-1b already under remediation")
	}
	if !said {
		t.Errorf("no event for the deferral: %+v", h.Events())
	}
}

// TestDeferredUntilTheCooldownEnds: a node broken again within the
// cooldown is repaired when it ends, and not before.
func TestDeferredUntilTheCooldownEnds(t *testing.T) {
	h := newHarness(t, nginxRule("{cooldown: 60s}"), nil)
	wantReasons(t, h.handle(t, nginxAlert("n1", "a")), "acted")
	h.clock.Advance(20 * time.Second)
	again := withFP(nginxAlert("n1", "a"), "n1-again")
	ds := h.handle(t, again)
	wantReasons(t, ds, "cooldown")
	if rec := record(t, h, ds[0].RecordID); rec.Retry != newClock().Now().Add(60*time.Second) {
		t.Fatalf("retry at %v, want when the cooldown ends", rec.Retry)
	}
	h.clock.Advance(39 * time.Second)
	h.retry()
	if n := len(h.exec.actions()); n != 1 {
		t.Fatalf("%d actions before the cooldown ended", n)
	}
	h.clock.Advance(time.Second)
	h.retry()
	if got := targetsRun(h); !slices.Equal(got, []string{"n1", "n1"}) {
		t.Fatalf("actions %v, want n1 repaired again when the cooldown ended", got)
	}
}

// TestDeferredUntilTheBudgetAllows: beyond max_per_hour a decision waits
// until the oldest run of the hour is an hour old.
func TestDeferredUntilTheBudgetAllows(t *testing.T) {
	h := newHarness(t, nginxRule("{cooldown: 1s, max_per_hour: 1}"), nil)
	wantReasons(t, h.handle(t, nginxAlert("n1", "a"), nginxAlert("n2", "a")), "acted", "budget")
	h.clock.Advance(59 * time.Minute)
	h.retry()
	if n := len(h.exec.actions()); n != 1 {
		t.Fatalf("%d actions within the hour", n)
	}
	h.clock.Advance(time.Minute)
	h.retry()
	if got := targetsRun(h); !slices.Equal(got, []string{"n1", "n2"}) {
		t.Fatalf("actions %v", got)
	}
}

// TestDeferredEndsWhenTheAlertResolves: a resolved alert is never acted
// on, even deferred; a resend while deferred is the same decision.
func TestDeferredEndsWhenTheAlertResolves(t *testing.T) {
	h := newHarness(t, nginxRule("{cooldown: 60s, max_per_hour: 1}"), nil)
	ds := h.handle(t, nginxAlert("n1", "a"), nginxAlert("n2", "a"))
	wantReasons(t, ds, "acted", "budget")
	resend := h.handle(t, nginxAlert("n2", "a"))
	if resend[0].RecordID != ds[1].RecordID || resend[0].Outcome != Deferred {
		t.Fatalf("a resend made a new decision: %+v, first %+v", resend[0], ds[1])
	}
	resolved := nginxAlert("n2", "a")
	resolved.Status = StatusResolved
	wantReasons(t, h.handle(t, resolved), "resolved")
	rec := record(t, h, ds[1].RecordID)
	if rec.State != StateSkipped || rec.Reason != ReasonResolved || rec.Detail != "the alert resolved while the decision was deferred" {
		t.Fatalf("record after resolve: %+v", rec)
	}
	h.clock.Advance(2 * time.Hour)
	h.retry()
	if n := len(h.exec.actions()); n != 1 {
		t.Fatalf("%d actions: a resolved alert was acted on", n)
	}
}

// TestDeferredAreBounded: an alert storm while decisions wait cannot grow
// memory: beyond MaxDeferred the oldest goes, after DeferFor every one
// goes, each drop counted and recorded; nothing is acted on twice.
func TestDeferredAreBounded(t *testing.T) {
	h := newHarness(t, nginxRule("{cooldown: 1s, max_per_hour: 1}"), nil)
	h.e.maxDeferred = 3
	var alerts []Alert
	for i := 1; i <= 9; i++ {
		alerts = append(alerts, nginxAlert(fmt.Sprintf("n%d", i), "a"))
	}
	// Each alert twice, as an HA pair of Alertmanagers sends it.
	h.handle(t, alerts...)
	h.handle(t, alerts...)
	if n := len(h.e.parked); n != 3 {
		t.Fatalf("%d deferred, want the cap of 3", n)
	}
	var waiting []string
	for _, r := range h.e.List() {
		if r.State == StateDeferred {
			waiting = append(waiting, r.Targets[0])
		}
	}
	// n1 acted; n2..n9 were deferred in order, pushing the oldest out;
	// their resends come back as new decisions at the end.
	if !slices.Equal(waiting, []string{"n7", "n8", "n9"}) {
		t.Errorf("deferred %v, want the newest", waiting)
	}
	if v := h.counter("dropped", "restart-nginx", "cap"); v < 5 {
		t.Errorf("dropped{cause=cap} = %v", v)
	}
	h.clock.Advance(2 * time.Hour) // past the budget's hour and DeferFor
	h.retry()
	// The budget lets the oldest through; the others, still refused,
	// have waited longer than DeferFor.
	if got := targetsRun(h); !slices.Equal(got, []string{"n1", "n7"}) {
		t.Errorf("actions %v, want n1 then the oldest deferred", got)
	}
	if n := len(h.e.parked); n != 0 {
		t.Fatalf("%d still deferred after DeferFor", n)
	}
	if v := h.counter("dropped", "restart-nginx", "max_age"); v != 2 {
		t.Errorf("dropped{cause=max_age} = %v, want 2", v)
	}
	for _, r := range h.e.List() {
		if r.State == StateSkipped && r.Reason == ReasonExpired && !strings.HasPrefix(r.Detail, "dropped: ") {
			t.Errorf("expired record without its reason: %+v", r)
		}
	}
	seen := map[string]bool{}
	for _, n := range targetsRun(h) {
		if seen[n] {
			t.Fatalf("%s acted on twice: %v", n, targetsRun(h))
		}
		seen[n] = true
	}
}

// TestRetryLoopRunsByItself: with the engine's own loop and a real clock,
// a deferred decision runs when its guard lifts, with nobody calling.
func TestRetryLoopRunsByItself(t *testing.T) {
	rs, err := ParseRules("t.yaml", []byte(nginxRule("{cooldown: 300ms, max_group_percent: 34, group_label: az}")))
	if err != nil {
		t.Fatal(err)
	}
	exec := &fakeExecutor{hold: make(chan struct{})}
	e, err := New(Options{Rules: rs, Executor: exec, Fleet: defaultFleet()})
	if err != nil {
		t.Fatal(err)
	}
	e.Start(context.Background())
	t.Cleanup(e.Stop)
	ds := e.Handle(t.Context(), &Webhook{Version: "4", Alerts: []Alert{
		nginxAlert("b1", "eu-west-1b"), nginxAlert("b2", "eu-west-1b"), nginxAlert("b3", "eu-west-1b"),
	}})
	wantReasons(t, ds, "acted", "acted", "too_many_targets")
	close(exec.hold)
	testkit.WaitFor(t, 10*time.Second, "the deferred b3 repaired once b1 or b2 ended", func() bool {
		r, _ := e.Get(ds[2].RecordID)
		return r.State == StateSucceeded
	})
	// Broken again within the cooldown: repaired when it ends.
	again := e.Handle(t.Context(), &Webhook{Version: "4", Alerts: []Alert{withFP(nginxAlert("b1", "eu-west-1b"), "b1-again")}})
	testkit.WaitFor(t, 10*time.Second, "b1 repaired again after its cooldown", func() bool {
		r, _ := e.Get(again[0].RecordID)
		return r.State == StateSucceeded
	})
}

// TestBogusAlertsCannotTripTheBreaker is the attack: alerts for nodes that
// do not exist, are down or never answer, values the agent would refuse,
// and a bus that fails. None of them uses budget or counts toward the
// breaker; a real alert afterwards is repaired.
func TestBogusAlertsCannotTripTheBreaker(t *testing.T) {
	h := newHarness(t, nginxRule("{cooldown: 1s, circuit_breaker: 3, max_per_hour: 20}"), nil)
	h.fleet.set("n8", func(n *api.NodeView) { n.Up = false })
	var ghosts, refused []Alert
	for i := range 5 {
		ghosts = append(ghosts, withFP(nginxAlert(fmt.Sprintf("ghost-%d", i), "a"), fmt.Sprintf("ghost-%d", i)))
		a := withFP(nginxAlert("n1", "a"), fmt.Sprintf("rf-%d", i))
		a.Labels["service"] = "-rf" // passes the template's character set, not the agent
		refused = append(refused, a)
	}
	for _, r := range reasons(h.handle(t, ghosts...)) {
		if r != "unknown_node" {
			t.Fatalf("ghost alert: %s", r)
		}
	}
	ds := h.handle(t, refused...)
	for _, d := range ds {
		if d.Reason != ReasonInvalidValue {
			t.Fatalf("-rf alert: %+v", d)
		}
	}
	if want := `refused: the service agent would refuse it: invalid service name "-rf": must not start with '-'; service names start with a letter, a digit, '_', '@' or ':'`; ds[0].Detail != want {
		t.Errorf("detail %q\nwant   %q", ds[0].Detail, want)
	}
	wantReasons(t, h.handle(t, nginxAlert("n8", "a")), "node_down")
	// Known, up nodes that never answer, and a bus that fails: acted on,
	// failed, but nothing reached a node.
	h.exec.silent = map[string]bool{"n2": true, "n3": true, "n4": true}
	h.handle(t, nginxAlert("n2", "a"), nginxAlert("n3", "a"), nginxAlert("n4", "a"))
	h.exec.silent, h.exec.err = nil, errBoom
	h.handle(t, nginxAlert("n5", "a"), nginxAlert("n6", "a"))
	h.exec.err = nil
	if h.e.CircuitOpen("restart-nginx") {
		t.Fatal("bogus alerts opened the circuit breaker")
	}
	if n := len(h.e.runs["restart-nginx"]); n != 5 {
		t.Errorf("%d runs counted against the budget, want only the 5 that acted", n)
	}
	for reason, want := range map[string]float64{"unknown_node": 5, "invalid_value": 5, "node_down": 1} {
		if v := h.counter("skipped", "restart-nginx", reason); v != want {
			t.Errorf("skipped{reason=%s} = %v, want %v", reason, v, want)
		}
	}
	ds = h.handle(t, nginxAlert("n7", "a"))
	if rec := record(t, h, ds[0].RecordID); rec.State != StateSucceeded {
		t.Fatalf("a real alert after the attack: %+v", rec)
	}
	// Failures that did reach nodes still open it.
	h.clock.Advance(2 * time.Second) // past the cooldown of n2 and n3
	h.exec.status = protocol.UnknownError
	h.handle(t, nginxAlert("n1", "a"), nginxAlert("n2", "a"), nginxAlert("n3", "a"))
	if !h.e.CircuitOpen("restart-nginx") {
		t.Fatal("three failures on real nodes left the breaker closed")
	}
}

// TestRecoveredNodeIsNotRepaired: a node whose check passes again since
// the alert started needs nothing, whatever Prometheus still says.
func TestRecoveredNodeIsNotRepaired(t *testing.T) {
	h := newHarness(t, nginxRule("{}"), nil)
	a := nginxAlert("n1", "a")
	h.fleet.set("n1", func(n *api.NodeView) {
		n.Checks = []api.CheckView{{Name: "check_nginx", Status: protocol.StateOK, State: "OK", LastRun: a.StartsAt.Add(time.Minute)}}
	})
	ds := h.handle(t, a)
	wantReasons(t, ds, "recovered")
	if want := "check_nginx is OK again on n1 (last run 2026-03-01T11:59:00Z, after the alert started): nothing to repair"; ds[0].Detail != want {
		t.Errorf("detail %q\nwant   %q", ds[0].Detail, want)
	}
	// An OK from before the alert says nothing about now.
	h.fleet.set("n1", func(n *api.NodeView) { n.Checks[0].LastRun = a.StartsAt.Add(-time.Minute) })
	wantReasons(t, h.handle(t, withFP(a, "again")), "acted")
}

// TestEveryDecisionIsARecord: skipped and deferred decisions are listed
// with their reason, the alert and the targets; a resend of a skipped
// alert updates its record instead of adding one; a dry run names the
// nodes it would have acted on.
func TestEveryDecisionIsARecord(t *testing.T) {
	h := newHarness(t, nginxRule("{}")+`  - name: web-tier-dry-run
    match: {alertname: PulseProbeFailing}
    action: {agent: service, action: restart, data: {service: nginx}}
    target: {fact_filter: {az: "{{ .Labels.az }}", role: web}}
    guards: {max_targets: 6, dry_run: true}
`, nil)
	ghost := nginxAlert("ghost", "a")
	h.handle(t, ghost)
	h.handle(t, ghost)
	dry := h.handle(t, probeAlert("eu-west-1b"))
	recs := h.e.List()
	if len(recs) != 2 {
		t.Fatalf("%d records, want one for the ghost (twice) and the dry run: %+v", len(recs), recs)
	}
	g := recs[0]
	if g.State != StateSkipped || g.Reason != ReasonUnknownNode || g.Alert.Name != "PulseCheckCritical" || g.Rule != "restart-nginx" ||
		g.Detail != "refused: no node ghost in the collector's fleet; pulse acts only on nodes it knows" || g.Decided.IsZero() {
		t.Errorf("skipped record: %+v", g)
	}
	d := recs[1]
	if d.ID != dry[0].RecordID || d.State != StateDryRun || !slices.Equal(d.Targets, []string{"b1", "b2", "b3", "b4", "b5", "b6"}) ||
		d.Detail != "dry run: would run service.restart on az=eu-west-1b,role=web (b1,b2,b3,b4,b5,b6)" {
		t.Errorf("dry run record: %+v", d)
	}
	var skips int
	for _, ev := range h.Events() {
		if strings.Contains(ev.Message, "skipped for PulseCheckCritical: unknown_node") {
			skips++
		}
	}
	if skips != 1 {
		t.Errorf("%d events for the skipped ghost, want one however often it comes", skips)
	}
	if rec, ok := h.e.ForAlert(ghost.Fingerprint); !ok || rec.ID != g.ID {
		t.Errorf("ForAlert(ghost) = %+v %v", rec, ok)
	}
	if f := h.e.Firing(); len(f) != 2 || f[1].Fingerprint != ghost.Fingerprint || f[0].Fingerprint != "probe-eu-west-1b" {
		t.Errorf("Firing, oldest first: %+v", f)
	}
}
