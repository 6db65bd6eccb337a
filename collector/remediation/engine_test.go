package remediation

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/pulseops/pulse/collector/api"
	"github.com/pulseops/pulse/internal/protocol"
)

func TestRemediationActsVerifiesAndRecords(t *testing.T) {
	h := newHarness(t, nginxRule("{cooldown: 60s, batch: 1, batch_sleep: 1s}"), nil)
	h.clock.Advance(90 * time.Second) // the alert started 2m before the clock
	ds := h.handle(t, nginxAlert("ip-10-0-1-12", "eu-west-1a"))
	wantReasons(t, ds, "acted")
	if ds[0].Rule != "restart-nginx" || ds[0].RecordID == "" || !slices.Equal(ds[0].Targets, []string{"ip-10-0-1-12"}) {
		t.Fatalf("decision: %+v", ds[0])
	}

	calls := h.exec.all()
	if len(calls) != 2 {
		t.Fatalf("want the action and its verification, got %+v", calls)
	}
	act, ver := calls[0], calls[1]
	if act.Agent != "service" || act.Action != "restart" || act.Data["service"] != "nginx" ||
		!slices.Equal(act.Filter.Identity, []string{"ip-10-0-1-12"}) || len(act.Filter.Fact) != 0 {
		t.Errorf("action: %+v", act)
	}
	if ver.Agent != "nrpe" || ver.Action != "runcommand" || ver.Data["command"] != "check_nginx" ||
		!slices.Equal(ver.Filter.Identity, []string{"ip-10-0-1-12"}) {
		t.Errorf("verification: %+v", ver)
	}

	rec, ok := h.e.Get(ds[0].RecordID)
	if !ok {
		t.Fatal("record not found")
	}
	if rec.State != StateSucceeded || !rec.Verified || rec.Error != "" || len(rec.Results) != 1 || len(rec.Verification) != 1 {
		t.Errorf("record: %+v", rec)
	}
	if rec.Alert.Name != "PulseCheckCritical" || rec.Alert.Fingerprint != "fp-ip-10-0-1-12" || rec.Alert.Labels["az"] != "eu-west-1a" || rec.Started.IsZero() || rec.Finished.IsZero() {
		t.Errorf("record alert/times: %+v", rec)
	}
	if got := h.e.List(); len(got) != 1 || got[0].ID != rec.ID {
		t.Errorf("List: %+v", got)
	}

	if v := h.counter("total", "restart-nginx", "succeeded"); v != 1 {
		t.Errorf("pulse_remediations_total{result=succeeded} = %v", v)
	}
	if n := testutil.CollectAndCount(h.e.metrics.timeToFix); n != 1 {
		t.Errorf("time to fix series: %d", n)
	}
	// Time to fix is startsAt → verified: 11:58:00 → 12:01:30.
	const want = `
# HELP pulse_remediation_time_to_fix_seconds Time from an alert starting to its remediation being verified.
# TYPE pulse_remediation_time_to_fix_seconds histogram
pulse_remediation_time_to_fix_seconds_bucket{rule="restart-nginx",le="5"} 0
pulse_remediation_time_to_fix_seconds_bucket{rule="restart-nginx",le="10"} 0
pulse_remediation_time_to_fix_seconds_bucket{rule="restart-nginx",le="20"} 0
pulse_remediation_time_to_fix_seconds_bucket{rule="restart-nginx",le="40"} 0
pulse_remediation_time_to_fix_seconds_bucket{rule="restart-nginx",le="80"} 0
pulse_remediation_time_to_fix_seconds_bucket{rule="restart-nginx",le="160"} 0
pulse_remediation_time_to_fix_seconds_bucket{rule="restart-nginx",le="320"} 1
pulse_remediation_time_to_fix_seconds_bucket{rule="restart-nginx",le="640"} 1
pulse_remediation_time_to_fix_seconds_bucket{rule="restart-nginx",le="1280"} 1
pulse_remediation_time_to_fix_seconds_bucket{rule="restart-nginx",le="2560"} 1
pulse_remediation_time_to_fix_seconds_bucket{rule="restart-nginx",le="5120"} 1
pulse_remediation_time_to_fix_seconds_bucket{rule="restart-nginx",le="10240"} 1
pulse_remediation_time_to_fix_seconds_bucket{rule="restart-nginx",le="+Inf"} 1
pulse_remediation_time_to_fix_seconds_sum{rule="restart-nginx"} 210
pulse_remediation_time_to_fix_seconds_count{rule="restart-nginx"} 1
`
	if err := testutil.CollectAndCompare(h.e.metrics.timeToFix, strings.NewReader(want)); err != nil {
		t.Error(err)
	}

	evs := h.Events()
	if len(evs) != 2 || evs[0].Type != protocol.EventRemediation || evs[0].Identity != "ip-10-0-1-12" || evs[0].Check != "check_nginx" ||
		!strings.HasSuffix(evs[1].Message, "succeeded") {
		t.Errorf("events: %+v", evs)
	}

	// The audit log is JSON lines: the decision, the record as started and
	// the record as finished.
	var kinds []string
	sc := bufio.NewScanner(strings.NewReader(h.audit.String()))
	for sc.Scan() {
		var l struct {
			Kind string          `json:"kind"`
			Data json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("audit line %q: %v", sc.Text(), err)
		}
		var st struct {
			State string `json:"state"`
		}
		_ = json.Unmarshal(l.Data, &st)
		kinds = append(kinds, l.Kind+":"+st.State)
	}
	if want := []string{"decision:", "record:running", "record:succeeded"}; !slices.Equal(kinds, want) {
		t.Errorf("audit lines %v, want %v", kinds, want)
	}
}

func TestGuardResolvedAlertsAreNeverActedOn(t *testing.T) {
	h := newHarness(t, nginxRule("{}"), nil)
	a := nginxAlert("ip-10-0-1-12", "eu-west-1a")
	a.Status = StatusResolved
	wantReasons(t, h.handle(t, a), "resolved")
	if n := len(h.exec.all()); n != 0 {
		t.Fatalf("executor called %d times for a resolved alert", n)
	}
}

func TestGuardNoMatchingRule(t *testing.T) {
	h := newHarness(t, nginxRule("{}"), nil)
	a := nginxAlert("ip-10-0-1-12", "eu-west-1a")
	a.Labels["check"] = "check_disk"
	wantReasons(t, h.handle(t, a), "no_matching_rule")
	if v := h.counter("skipped", "", "no_matching_rule"); v != 1 {
		t.Errorf("skipped{reason=no_matching_rule} = %v", v)
	}
}

func TestGuardDuplicateFingerprint(t *testing.T) {
	h := newHarness(t, nginxRule("{cooldown: 60s}"), nil)
	h.exec.hold = make(chan struct{})
	a := nginxAlert("ip-10-0-1-12", "eu-west-1a")

	// HA Alertmanagers deliver the same alert twice, here while the first
	// remediation is still running.
	first := h.e.Handle(t.Context(), &Webhook{Version: "4", Alerts: []Alert{a}})
	second := h.e.Handle(t.Context(), &Webhook{Version: "4", Alerts: []Alert{a, a}})
	close(h.exec.hold)
	h.e.Wait()
	wantReasons(t, first, "acted")
	wantReasons(t, second, "duplicate", "duplicate")
	if !strings.Contains(second[0].Detail, "is running") {
		t.Errorf("detail: %s", second[0].Detail)
	}
	// Alertmanager's resend within the cooldown is a duplicate too.
	h.clock.Advance(30 * time.Second)
	wantReasons(t, h.handle(t, a), "duplicate")
	// After the cooldown the alert is acted on again.
	h.clock.Advance(31 * time.Second)
	wantReasons(t, h.handle(t, a), "acted")
	if n := len(h.exec.actions()); n != 2 {
		t.Errorf("%d actions, want 2", n)
	}
}

func TestGuardCooldownPerRuleAndTarget(t *testing.T) {
	h := newHarness(t, nginxRule("{cooldown: 60s}"), nil)
	a := nginxAlert("ip-10-0-1-12", "eu-west-1a")
	wantReasons(t, h.handle(t, a), "acted")
	// A new alert (new fingerprint) for the same node within the cooldown.
	h.clock.Advance(59 * time.Second)
	wantReasons(t, h.handle(t, withFP(a, "other"), nginxAlert("ip-10-0-1-13", "eu-west-1a")), "cooldown", "acted")
	h.clock.Advance(time.Second)
	wantReasons(t, h.handle(t, withFP(a, "third")), "acted")
}

func TestGuardMaxPerHourBudget(t *testing.T) {
	h := newHarness(t, nginxRule("{cooldown: 1s, max_per_hour: 2}"), nil)
	wantReasons(t, h.handle(t, nginxAlert("n1", "a"), nginxAlert("n2", "a"), nginxAlert("n3", "a")), "acted", "acted", "budget")
	h.clock.Advance(59 * time.Minute)
	wantReasons(t, h.handle(t, nginxAlert("n4", "a")), "budget")
	h.clock.Advance(time.Minute)
	wantReasons(t, h.handle(t, nginxAlert("n5", "a")), "acted")
}

const webTierRule = `rules:
  - name: restart-web-tier
    match: {alertname: PulseProbeFailing}
    action: {agent: service, action: restart, data: {service: nginx}}
    target: {fact_filter: {az: "{{ .Labels.az }}", role: web}}
    guards: {max_targets: 2, batch: 2, batch_sleep: 3s, cooldown: 1m}
`

func probeAlert(az string) Alert {
	return Alert{Status: StatusFiring, Fingerprint: "probe-" + az, Labels: map[string]string{"alertname": "PulseProbeFailing", "probe": "shop_login", "az": az}}
}

func TestGuardMaxTargets(t *testing.T) {
	fleet := fleetOf("web-a1@eu-west-1a", "web-a2@eu-west-1a", "web-a3@eu-west-1a", "web-b1@eu-west-1b", "web-b2@eu-west-1b")
	h := newHarness(t, webTierRule, fleet)
	ds := h.handle(t, probeAlert("eu-west-1a"), probeAlert("eu-west-1b"))
	wantReasons(t, ds, "too_many_targets", "acted")
	if ds[0].Detail != "3 nodes match az=eu-west-1a,role=web, more than max_targets 2" {
		t.Errorf("detail: %s", ds[0].Detail)
	}
	// The action runs on exactly the nodes the filter resolved to when the
	// guards counted them, never on what it selects later.
	acts := h.exec.actions()
	if len(acts) != 1 || !slices.Equal(acts[0].Filter.Identity, []string{"web-b1", "web-b2"}) || len(acts[0].Filter.Fact) != 0 {
		t.Fatalf("actions: %+v", acts)
	}
	// The record keeps the rule's filter and names the nodes.
	rec, _ := h.e.Get(ds[1].RecordID)
	if !slices.Equal(rec.Targets, []string{"web-b1", "web-b2"}) || rec.State != StateSucceeded || !slices.Equal(rec.Action.Filter.Fact, []string{"az=eu-west-1b", "role=web"}) {
		t.Errorf("record: %+v", rec)
	}
}

func TestGuardBatchAndPauseReachTheExecutor(t *testing.T) {
	h := newHarness(t, webTierRule, fleetOf("web-b1@eu-west-1b", "web-b2@eu-west-1b"))
	wantReasons(t, h.handle(t, probeAlert("eu-west-1b")), "acted")
	acts := h.exec.actions()
	if len(acts) != 1 || acts[0].Batch != 2 || acts[0].BatchSleep != 3*time.Second {
		t.Fatalf("actions: %+v", acts)
	}
	// Left out, batch defaults to one node at a time.
	h2 := newHarness(t, nginxRule("{}"), nil)
	h2.handle(t, nginxAlert("n1", "a"))
	if a := h2.exec.actions(); len(a) != 1 || a[0].Batch != 1 || a[0].BatchSleep != 0 {
		t.Fatalf("default batch: %+v", a)
	}
}

func TestGuardMaxGroupPercent(t *testing.T) {
	h := newHarness(t, nginxRule("{cooldown: 1s, max_group_percent: 34, group_label: az}"), nil)
	h.exec.hold = make(chan struct{})
	ds := h.e.Handle(t.Context(), &Webhook{Version: "4", Alerts: []Alert{
		nginxAlert("a1", "eu-west-1a"), nginxAlert("a2", "eu-west-1a"), // 34% of 3 is 1 node
		nginxAlert("b1", "eu-west-1b"), nginxAlert("b2", "eu-west-1b"), nginxAlert("b3", "eu-west-1b"), // 34% of 6 is 2
	}})
	wantReasons(t, ds, "acted", "too_many_targets", "acted", "acted", "too_many_targets")
	if want := "1 of 3 nodes in az=eu-west-1a already under remediation; 1 more would exceed max_group_percent 34 (1 nodes)"; ds[1].Detail != want {
		t.Errorf("detail %q\nwant   %q", ds[1].Detail, want)
	}
	if ds[1].Outcome != Deferred || ds[4].Outcome != Deferred {
		t.Errorf("a2 and b3 would fit once others end, so they wait: %+v", ds)
	}
	close(h.exec.hold)
	h.e.Wait()
	// Finished remediations give their share back; a resend finds it.
	wantReasons(t, h.handle(t, nginxAlert("a2", "eu-west-1a")), "acted")
	// An alert without the group label cannot be bounded and is refused.
	a := nginxAlert("c1", "")
	delete(a.Labels, "az")
	wantReasons(t, h.handle(t, a), "too_many_targets")
}

func TestGuardCircuitBreaker(t *testing.T) {
	h := newHarness(t, nginxRule("{cooldown: 1s, circuit_breaker: 2}"), nil)
	h.exec.status = protocol.UnknownError // the node answers: restart failed
	wantReasons(t, h.handle(t, nginxAlert("n1", "a")), "acted")
	if h.e.CircuitOpen("restart-nginx") || h.counter("circuit", "restart-nginx") != 0 {
		t.Fatal("circuit open after one failure")
	}
	h.exec.status = protocol.OK
	h.exec.exitcode = 2 // the restart "works" but the check still fails
	wantReasons(t, h.handle(t, nginxAlert("n2", "a")), "acted")
	if !h.e.CircuitOpen("restart-nginx") || h.counter("circuit", "restart-nginx") != 1 {
		t.Fatal("circuit not open after two failed or ineffective remediations")
	}
	evs := h.Events()
	if last := evs[len(evs)-1]; last.Message != "circuit breaker for rule restart-nginx opened after 2 failed or ineffective remediations; the rule is stopped until reset" {
		t.Errorf("last event: %+v", last)
	}
	wantReasons(t, h.handle(t, nginxAlert("n3", "a")), "circuit_open")

	h.e.ResetCircuit("restart-nginx")
	h.exec.exitcode = 0
	if h.counter("circuit", "restart-nginx") != 0 {
		t.Error("gauge still 1 after reset")
	}
	wantReasons(t, h.handle(t, withFP(nginxAlert("n3", "a"), "n3-again")), "acted")
	if n := len(h.exec.actions()); n != 3 {
		t.Errorf("%d actions, want 3", n)
	}
}

func TestGuardCircuitBreakerCountsConsecutiveFailures(t *testing.T) {
	h := newHarness(t, nginxRule("{cooldown: 1s, circuit_breaker: 2}"), nil)
	h.exec.status = protocol.UnknownError
	h.handle(t, nginxAlert("n1", "a"))
	h.exec.status = protocol.OK
	h.handle(t, nginxAlert("n2", "a")) // a success in between resets the count
	h.exec.status = protocol.UnknownError
	h.handle(t, nginxAlert("n3", "a"))
	if h.e.CircuitOpen("restart-nginx") {
		t.Fatal("circuit opened although failures were not consecutive")
	}
}

func TestGuardDryRun(t *testing.T) {
	h := newHarness(t, nginxRule("{dry_run: true}"), nil)
	ds := h.handle(t, nginxAlert("ip-10-0-1-12", "a"))
	wantReasons(t, ds, "dry_run")
	if ds[0].Detail != "dry run: would run service.restart on ip-10-0-1-12" {
		t.Errorf("detail: %s", ds[0].Detail)
	}
	if n := len(h.exec.all()); n != 0 {
		t.Fatalf("dry run called the executor %d times", n)
	}
	rec, _ := h.e.Get(ds[0].RecordID)
	if rec.State != StateDryRun || rec.Action.Data["service"] != "nginx" || !slices.Equal(rec.Action.Filter.Identity, []string{"ip-10-0-1-12"}) {
		t.Errorf("record: %+v", rec)
	}
	// A dry run takes the cooldown a real run would have taken.
	wantReasons(t, h.handle(t, withFP(nginxAlert("ip-10-0-1-12", "a"), "x")), "cooldown")
}

func TestGuardApproval(t *testing.T) {
	h := newHarness(t, nginxRule("{cooldown: 1s, approval: true}"), nil)
	ds := h.handle(t, nginxAlert("n1", "a"), nginxAlert("n2", "a"))
	wantReasons(t, ds, "pending_approval", "pending_approval")
	if n := len(h.exec.all()); n != 0 {
		t.Fatalf("pending remediation ran: %d calls", n)
	}
	// While pending, a resend is a duplicate.
	h.clock.Advance(time.Hour)
	wantReasons(t, h.handle(t, nginxAlert("n1", "a")), "duplicate")

	if err := h.e.Approve(ds[0].RecordID, "alice"); err != nil {
		t.Fatal(err)
	}
	h.e.Wait()
	rec, _ := h.e.Get(ds[0].RecordID)
	if rec.State != StateSucceeded || rec.ApprovedBy != "alice" || len(h.exec.actions()) != 1 {
		t.Errorf("approved record: %+v", rec)
	}
	if err := h.e.Reject(ds[1].RecordID, "bob"); err != nil {
		t.Fatal(err)
	}
	rec, _ = h.e.Get(ds[1].RecordID)
	if rec.State != StateRejected || rec.RejectedBy != "bob" || len(h.exec.actions()) != 1 {
		t.Errorf("rejected record: %+v", rec)
	}
	err := h.e.Approve(ds[1].RecordID, "alice")
	if !errors.Is(err, ErrNotPending) || err.Error() != fmt.Sprintf("remediation is not pending approval: %s is rejected", ds[1].RecordID) {
		t.Errorf("approve rejected: %v", err)
	}
	if err := h.e.Reject("nope", "bob"); !errors.Is(err, ErrNotFound) || err.Error() != `remediation not found: "nope"` {
		t.Errorf("reject unknown: %v", err)
	}
}

func TestStormStaysWithinBudget(t *testing.T) {
	const budget = 10
	var nodes []string
	for i := range 500 {
		nodes = append(nodes, fmt.Sprintf("ip-10-0-%d-%d@%s", i%2, i/2, []string{"eu-west-1a", "eu-west-1b"}[i%2]))
	}
	h := newHarness(t, nginxRule(fmt.Sprintf("{cooldown: 60s, max_per_hour: %d, max_group_percent: 34, group_label: az}", budget)), fleetOf(nodes...))
	// 500 distinct alerts about nginx on 500 nodes, each delivered twice (an
	// HA pair), in webhooks of 50 over five seconds of simulated time.
	var alerts []Alert
	for i := range 500 {
		az := []string{"eu-west-1a", "eu-west-1b"}[i%2]
		a := withFP(nginxAlert(fmt.Sprintf("ip-10-0-%d-%d", i%2, i/2), az), fmt.Sprintf("fp-%d", i))
		alerts = append(alerts, a)
	}
	counts := map[string]int{}
	for i := 0; i < len(alerts); i += 50 {
		for range 2 {
			for _, r := range reasons(h.handle(t, alerts[i:i+50]...)) {
				counts[r]++
			}
		}
		h.clock.Advance(500 * time.Millisecond)
	}
	if n := len(h.exec.actions()); n > budget {
		t.Fatalf("storm caused %d actions, budget is %d", n, budget)
	}
	if counts["acted"] != budget || counts["acted"]+counts["budget"]+counts["duplicate"]+counts["cooldown"] != 1000 {
		t.Errorf("decision counts: %v", counts)
	}
	// The rest wait for the budget, once each however often they came.
	deferred := 0
	for _, r := range h.e.List() {
		if r.State == StateDeferred {
			deferred++
		}
	}
	if deferred != 500 || testutil.ToFloat64(h.e.metrics.parked) != 500 {
		t.Errorf("%d deferred records (gauge %v), want 490 for the budget and 10 resends of the acted ones", deferred, testutil.ToFloat64(h.e.metrics.parked))
	}
}

func TestTemplateInjectionRefused(t *testing.T) {
	h := newHarness(t, nginxRule("{}"), nil)
	a := nginxAlert("ip-10-0-1-12", "a")
	a.Labels["service"] = "nginx; rm -rf /"
	b := nginxAlert("/.*/", "a") // a regex identity would select the fleet
	ds := h.handle(t, a, b)
	wantReasons(t, ds, "invalid_value", "invalid_value")
	if want := `refused: restart-nginx/data/service rendered to "nginx; rm -rf /", which is not allowed: values may only contain letters, digits and _.@:-`; ds[0].Detail != want {
		t.Errorf("detail %q\nwant   %q", ds[0].Detail, want)
	}
	if want := `refused: identity label identity="/.*/" is not a valid node identity`; ds[1].Detail != want {
		t.Errorf("detail %q\nwant   %q", ds[1].Detail, want)
	}
	if n := len(h.exec.all()); n != 0 {
		t.Fatalf("executor called %d times", n)
	}
}

func TestNoTargetRefused(t *testing.T) {
	h := newHarness(t, nginxRule("{}"), nil)
	a := nginxAlert("", "a")
	delete(a.Labels, "identity")
	wantReasons(t, h.handle(t, a), "no_target")

	h2 := newHarness(t, webTierRule, fleetOf())
	noAZ := probeAlert("")
	delete(noAZ.Labels, "az")
	emptyAZ := withFP(probeAlert(""), "empty")
	ds := h2.handle(t, noAZ, emptyAZ, probeAlert("eu-west-9z"))
	wantReasons(t, ds, "no_target", "no_target", "no_target")
	for i, want := range []string{
		`refused: no target: fact_filter az: template: restart-web-tier/fact/az:1:10: executing "restart-web-tier/fact/az" at <.Labels.az>: map has no entry for key "az"; a remediation never runs without a target`,
		"refused: no target: fact_filter az rendered empty; a remediation never runs without a target",
		"refused: no live node matches az=eu-west-9z,role=web",
	} {
		if ds[i].Detail != want {
			t.Errorf("detail %d %q\nwant     %q", i, ds[i].Detail, want)
		}
	}
	if n := len(h.exec.all()) + len(h2.exec.all()); n != 0 {
		t.Fatalf("executor called %d times", n)
	}
}

func TestVerificationIneffective(t *testing.T) {
	h := newHarness(t, nginxRule("{}"), nil)
	h.exec.exitcode = 2
	ds := h.handle(t, nginxAlert("ip-10-0-1-12", "a"))
	rec, _ := h.e.Get(ds[0].RecordID)
	if rec.State != StateIneffective || rec.Verified || rec.Error != "verify check_nginx: ip-10-0-1-12: still exit code 2 NGINX check" {
		t.Errorf("record: %+v", rec)
	}
	if v := h.counter("total", "restart-nginx", "ineffective"); v != 1 {
		t.Errorf("total{ineffective} = %v", v)
	}
	var m dto.Metric
	if err := h.e.metrics.timeToFix.WithLabelValues("restart-nginx").(prometheus.Histogram).Write(&m); err != nil {
		t.Fatal(err)
	}
	if n := m.GetHistogram().GetSampleCount(); n != 0 {
		t.Errorf("time to fix observed %d times for an ineffective remediation", n)
	}
}

func TestFailedActions(t *testing.T) {
	h := newHarness(t, nginxRule("{cooldown: 1s, circuit_breaker: 5}"), nil)
	h.exec.status = protocol.UnknownError
	ds := h.handle(t, nginxAlert("n1", "a"))
	rec, _ := h.e.Get(ds[0].RecordID)
	if rec.State != StateFailed || rec.Error != "run service.restart on n1: n1: Unknown error: service restart failed" {
		t.Errorf("record: %+v", rec)
	}
	h.exec.status, h.exec.err = protocol.OK, errBoom
	ds = h.handle(t, nginxAlert("n2", "a"))
	rec, _ = h.e.Get(ds[0].RecordID)
	if rec.State != StateFailed || rec.Error != "run service.restart on n2: nats: timeout" {
		t.Errorf("record: %+v", rec)
	}
	if v := h.counter("total", "restart-nginx", "failed"); v != 2 {
		t.Errorf("total{failed} = %v", v)
	}
	// Failed actions are not verified.
	for _, a := range h.exec.all() {
		if a.Agent == "nrpe" {
			t.Errorf("verification ran after a failed action: %+v", a)
		}
	}
}

func TestNewNeedsFleet(t *testing.T) {
	rs, err := ParseRules("t.yaml", []byte(webTierRule))
	if err != nil {
		t.Fatal(err)
	}
	_, err = New(Options{Rules: rs, Executor: &fakeExecutor{}})
	if want := `remediation engine: no fleet to look targets up in; pass the collector`; err == nil || err.Error() != want {
		t.Fatalf("got %v", err)
	}
}

// The group label of an alert (az) is counted in the fleet by the fact it
// was renamed from.
func TestGuardMaxGroupPercentCountsByGroupFact(t *testing.T) {
	fleet := fleetOf("a1", "a2", "a3")
	for _, id := range []string{"a1", "a2", "a3"} {
		fleet.set(id, func(n *api.NodeView) { n.Facts["ec2_placement_availability_zone"] = "eu-west-1a" })
	}
	h := newHarness(t, nginxRule("{cooldown: 1s, max_group_percent: 34, group_label: az, group_fact: ec2_placement_availability_zone}"), fleet)
	wantReasons(t, h.handle(t, nginxAlert("a1", "eu-west-1a")), "acted")
	h2 := newHarness(t, nginxRule("{cooldown: 1s, max_group_percent: 34, group_label: az}"), fleet)
	wantReasons(t, h2.handle(t, nginxAlert("a1", "eu-west-1a")), "too_many_targets")
}

// Finished records beyond MaxRecords are dropped oldest first; live ones
// (here pending approval) are kept wherever they are in the order.
func TestPruneDropsOldestFinishedRecords(t *testing.T) {
	h := newHarness(t, nginxRule("{cooldown: 1s, approval: true}"), nil)
	h.e.store.max = 2
	ids := func() []string {
		var out []string
		for _, r := range h.e.List() {
			out = append(out, r.ID)
		}
		return out
	}
	id1 := h.handle(t, nginxAlert("n1", "a"))[0].RecordID
	id2 := h.handle(t, nginxAlert("n2", "a"))[0].RecordID
	if err := h.e.Reject(id2, "bob"); err != nil {
		t.Fatal(err)
	}
	id3 := h.handle(t, nginxAlert("n3", "a"))[0].RecordID
	if got, want := ids(), []string{id1, id3}; !slices.Equal(got, want) {
		t.Fatalf("records %v, want %v: the finished %s should have gone, the pending %s stayed", got, want, id2, id1)
	}
	if err := h.e.Reject(id1, "bob"); err != nil {
		t.Fatal(err)
	}
	id4 := h.handle(t, nginxAlert("n4", "a"))[0].RecordID
	if got, want := ids(), []string{id3, id4}; !slices.Equal(got, want) {
		t.Fatalf("records %v, want %v", got, want)
	}
	if _, ok := h.e.Get(id1); ok {
		t.Errorf("pruned record %s still found", id1)
	}
	// A pruned record no longer de-duplicates its alert, and a new record
	// is never pruned on arrival, even when every older one is live.
	h.clock.Advance(2 * time.Second)
	ds := h.handle(t, nginxAlert("n1", "a"))
	wantReasons(t, ds, "pending_approval")
	if got, want := ids(), []string{id3, id4, ds[0].RecordID}; !slices.Equal(got, want) {
		t.Fatalf("records %v, want %v", got, want)
	}
}

// TestOutcomesStartAtZero: every result and skip reason of every rule is
// exported at 0 before anything happened, so rate() and alerts see a flat
// series, not an absent one.
func TestOutcomesStartAtZero(t *testing.T) {
	h := newHarness(t, nginxRule("{}"), nil)
	for _, s := range finalStates {
		if v := h.counter("total", "restart-nginx", string(s)); v != 0 {
			t.Errorf("total{%s} = %v before any alert", s, v)
		}
	}
	if n := testutil.CollectAndCount(h.e.metrics.total); n != len(finalStates) {
		t.Errorf("%d pulse_remediations_total series, want one per result (%d)", n, len(finalStates))
	}
	if n := testutil.CollectAndCount(h.e.metrics.skipped); n != len(ruleReasons)+2 {
		t.Errorf("%d pulse_remediation_skipped_total series, want %d", n, len(ruleReasons)+2)
	}
	for _, hist := range []*prometheus.HistogramVec{h.e.metrics.duration, h.e.metrics.timeToFix} {
		if n := testutil.CollectAndCount(hist); n != 1 {
			t.Errorf("%d histogram series, want the rule's", n)
		}
	}
}
