package remediation

import (
	"slices"
	"testing"
	"time"
)

// The order of the guards is the engine's safety argument (decide.go), so
// it is asserted as data: moving a stage is a decision, not an accident.
func TestStageOrder(t *testing.T) {
	var names []string
	for _, s := range stages {
		names = append(names, s.name)
	}
	want := []string{"firing", "rule", "duplicate", "circuit", "target", "data", "verify", "fleet", "recovered", "max_targets", "group", "cooldown", "budget"}
	if !slices.Equal(names, want) {
		t.Fatalf("stages %v, want %v", names, want)
	}
}

// Each stage alone, on a candidate that the stages before it have filled
// in, against the memory of an engine set up for the case.
func TestStagesAlone(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	type setup struct {
		e *Engine
		c *candidate
	}
	// ready is a candidate for n1 that every stage before guard passed.
	ready := func(t *testing.T, guards string, fleet *fakeFleet) setup {
		h := newHarness(t, nginxRule(guards), fleet)
		c := &candidate{alert: nginxAlert("n1", "eu-west-1a"), now: now}
		for _, s := range stages[:2] { // firing, rule
			if r := s.guard(h.e, c); r != nil {
				t.Fatalf("%s refused the ready candidate: %+v", s.name, r)
			}
		}
		if r := renderTarget(h.e, c); r != nil {
			t.Fatal(r)
		}
		if r := resolveTargets(h.e, c); r != nil {
			t.Fatal(r)
		}
		return setup{h.e, c}
	}
	tests := []struct {
		name   string
		guards string
		fleet  *fakeFleet
		prep   func(s setup)
		stage  func(*Engine, *candidate) *refusal
		want   Reason // "" passes
		detail string
		// deferred refusals wait for their guard to lift.
		deferred bool
	}{
		{name: "firing passes a firing alert", stage: onlyFiring},
		{name: "firing refuses a resolved alert", stage: onlyFiring, prep: func(s setup) { s.c.alert.Status = StatusResolved },
			want: ReasonResolved, detail: "alert is resolved; only firing alerts are remediated"},
		{name: "rule refuses an alert no rule matches", stage: matchRule, prep: func(s setup) { s.c.alert.Labels = map[string]string{"alertname": "Other"} },
			want: ReasonNoRule, detail: "no remediation rule matches this alert"},
		{name: "duplicate refuses while the last record is live", stage: notDuplicate,
			prep: func(s setup) {
				admit(s.e, &Record{ID: "r1", State: StateRunning, Alert: AlertRef{Fingerprint: "fp-n1"}, Created: now.Add(-time.Hour)})
			}, want: ReasonDuplicate, detail: "remediation r1 for this alert is running", deferred: true},
		{name: "duplicate refuses within the cooldown of the last record", guards: "{cooldown: 10m}", stage: notDuplicate,
			prep: func(s setup) {
				admit(s.e, &Record{ID: "r1", State: StateSucceeded, Alert: AlertRef{Fingerprint: "fp-n1"}, Created: now.Add(-time.Minute)})
			}, want: ReasonDuplicate, detail: "remediation r1 handled this alert 1m0s ago (cooldown 10m0s)", deferred: true},
		{name: "duplicate passes after the cooldown", guards: "{cooldown: 10m}", stage: notDuplicate,
			prep: func(s setup) {
				admit(s.e, &Record{ID: "r1", State: StateSucceeded, Alert: AlertRef{Fingerprint: "fp-n1"}, Created: now.Add(-time.Hour)})
			}},
		{name: "circuit refuses an open breaker", guards: "{circuit_breaker: 2}", stage: circuitClosed, prep: func(s setup) { s.e.open["restart-nginx"] = true },
			want: ReasonCircuitOpen, detail: "circuit breaker for rule restart-nginx is open after 2 failed or ineffective remediations; reset it once the cause is fixed"},
		{name: "target refuses a missing identity", stage: renderTarget, prep: func(s setup) { delete(s.c.alert.Labels, "identity") }, want: ReasonNoTarget},
		{name: "target refuses an unsafe identity", stage: renderTarget, prep: func(s setup) { s.c.alert.Labels["identity"] = "n1 n2" }, want: ReasonInvalidValue},
		{name: "data refuses an unsafe label value", stage: renderData, prep: func(s setup) { s.c.alert.Labels["service"] = "nginx;reboot" }, want: ReasonInvalidValue},
		{name: "max_targets refuses more nodes than allowed", guards: "{max_targets: 1}", stage: maxTargets, prep: func(s setup) { s.c.targets = []string{"n1", "n2"} },
			want: ReasonTooManyTargets, detail: "2 nodes match n1, more than max_targets 1"},
		{name: "group refuses a share beyond max_group_percent", guards: "{max_group_percent: 50, group_label: az, group_fact: ec2_placement_availability_zone}",
			fleet: fleetOf("n1@eu-west-1a", "n2@eu-west-1a"), stage: groupShare,
			prep: func(s setup) { s.e.active["restart-nginx\x00eu-west-1a"] = 1 },
			want: ReasonTooManyTargets, detail: "1 of 2 nodes in az=eu-west-1a already under remediation; 1 more would exceed max_group_percent 50 (1 nodes)", deferred: true},
		{name: "group refuses for good what never fits", guards: "{max_group_percent: 40, group_label: az, group_fact: ec2_placement_availability_zone}",
			fleet: fleetOf("n1@eu-west-1a", "n2@eu-west-1a"), stage: groupShare,
			want: ReasonTooManyTargets, detail: "1 nodes are more than max_group_percent 40 of the 2 live nodes in az=eu-west-1a allows (0)"},
		{name: "group passes within the share", guards: "{max_group_percent: 50, group_label: az, group_fact: ec2_placement_availability_zone}",
			fleet: fleetOf("n1@eu-west-1a", "n2@eu-west-1a"), stage: groupShare},
		{name: "cooldown refuses a rule that just acted on the target", guards: "{cooldown: 5m}", stage: cooldown,
			prep: func(s setup) { s.e.lastRun[s.c.cooldownKey()] = now.Add(-time.Minute) },
			want: ReasonCooldown, detail: "rule restart-nginx acted on n1 1m0s ago (cooldown 5m0s)", deferred: true},
		{name: "budget refuses a rule that used its hour", guards: "{max_per_hour: 2}", stage: hourlyBudget,
			prep: func(s setup) {
				s.e.runs["restart-nginx"] = []time.Time{now.Add(-time.Minute), now.Add(-2 * time.Minute)}
			},
			want: ReasonBudget, detail: "rule restart-nginx already acted 2 times in the last hour (max_per_hour 2)", deferred: true},
		{name: "budget forgets runs older than an hour", guards: "{max_per_hour: 2}", stage: hourlyBudget,
			prep: func(s setup) { s.e.runs["restart-nginx"] = []time.Time{now.Add(-2 * time.Hour), now.Add(-time.Minute)} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			guards := tt.guards
			if guards == "" {
				guards = "{}"
			}
			s := ready(t, guards, tt.fleet)
			if tt.prep != nil {
				tt.prep(s)
			}
			r := tt.stage(s.e, s.c)
			switch {
			case tt.want == "" && r != nil:
				t.Fatalf("refused: %+v", r)
			case tt.want != "" && r == nil:
				t.Fatalf("passed, want %s", tt.want)
			case r != nil && (r.reason != tt.want || tt.detail != "" && r.detail != tt.detail):
				t.Fatalf("refusal %s %q, want %s %q", r.reason, r.detail, tt.want, tt.detail)
			case r != nil && r.deferred != tt.deferred:
				t.Fatalf("refusal %s deferred=%v, want %v", r.reason, r.deferred, tt.deferred)
			}
		})
	}
}

// admit stores rec as its alert's latest remediation.
func admit(e *Engine, rec *Record) {
	e.store.add(rec)
	e.store.admitted(rec)
}

// A stage added to an engine runs in its place: adding a guard is one
// function and one entry in the list.
func TestAddedStageRuns(t *testing.T) {
	h := newHarness(t, nginxRule("{}"), nil)
	var saw []string
	deny := stage{"maintenance", func(_ *Engine, c *candidate) *refusal {
		saw = append(saw, c.alert.Labels["identity"])
		if c.alert.Labels["identity"] == "n2" {
			return refuse(ReasonCooldown, "n2 is in maintenance")
		}
		return nil
	}}
	i := slices.IndexFunc(h.e.stages, func(s stage) bool { return s.name == "cooldown" })
	h.e.stages = slices.Insert(slices.Clone(h.e.stages), i, deny)
	ds := h.handle(t, nginxAlert("n1", "a"), nginxAlert("n2", "a"))
	wantReasons(t, ds, "acted", "cooldown")
	if ds[1].Detail != "n2 is in maintenance" || !slices.Equal(saw, []string{"n1", "n2"}) {
		t.Fatalf("decision %+v, stage saw %v", ds[1], saw)
	}
}
