package collector

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pulseops/pulse/internal/protocol"
)

// The fleet model alone: plain messages in, outcomes out, no NATS, no
// encoding, no metrics. Each case applies its steps in order and checks
// what the last step did.
func TestFleetModel(t *testing.T) {
	started := t0.Add(-time.Minute)
	reg := func(id string, seq uint64, at time.Time, facts map[string]any) protocol.Registration {
		r := registration(id, facts)
		r.Time, r.Stream = at, protocol.Stream{Boot: "b1", Seq: seq}
		return r
	}
	res := func(id, name string, status int, seq uint64, at time.Time) protocol.Result {
		r := checkResult(id, name, status, at)
		r.Stream = protocol.Stream{Boot: "b1", Seq: seq}
		return r
	}
	// A step is one message (or a sweep) at a time; stored is when the
	// broker stored it (zero: as it arrives).
	type step struct {
		reg    *protocol.Registration
		res    *protocol.Result
		sweep  bool
		now    time.Time
		stored time.Time
	}
	at := func(now time.Time, s step) step { s.now = now; return s }
	R := func(r protocol.Registration) step { return step{reg: &r} }
	C := func(r protocol.Result) step { return step{res: &r} }
	tests := []struct {
		name  string
		cfg   func(*fleetConfig)
		steps []step
		// what the last step did
		events  []string // "type identity [check prev->status]"
		refused string
		dropped map[string]int
		over    []string // labels that overflowed
		series  int      // admitted series after the last step, -1: any
	}{
		{name: "a node's first heartbeat brings it up",
			steps: []step{at(t0, R(reg("n1", 1, t0, nil)))}, events: []string{"node_up n1"}, series: nodeSeries},
		{name: "history rebuilds a node without news",
			steps: []step{at(t0, step{reg: ptr(reg("n1", 1, t0.Add(-2*time.Minute), nil)), stored: t0.Add(-2 * time.Minute)})}, series: nodeSeries},
		{name: "the same heartbeat again is refused as replayed",
			steps: []step{at(t0, R(reg("n1", 1, t0, nil))), at(t0.Add(time.Second), R(reg("n1", 1, t0, nil)))}, refused: reasonReplayed, series: nodeSeries},
		{name: "an earlier heartbeat of the same run is refused as older",
			steps: []step{at(t0, R(reg("n1", 2, t0, nil))), at(t0, R(reg("n1", 1, t0.Add(-time.Second), nil)))}, refused: reasonOlder, series: nodeSeries},
		{name: "a restarted agent is taken at its first word",
			steps: []step{at(t0, R(reg("n1", 9, t0, nil))), at(t0.Add(time.Second), func() step {
				r := reg("n1", 1, t0.Add(time.Second), nil)
				r.Boot = "b2"
				return R(r)
			}())}, series: nodeSeries},
		{name: "a check's first result is not news",
			steps: []step{at(t0, R(reg("n1", 1, t0, nil))), at(t0, C(res("n1", "check_load", 0, 1, t0)))}, series: nodeSeries + checkSeries},
		{name: "a check that changes state is news",
			steps:  []step{at(t0, R(reg("n1", 1, t0, nil))), at(t0, C(res("n1", "check_load", 0, 1, t0))), at(t0.Add(time.Minute), C(res("n1", "check_load", 2, 2, t0.Add(time.Minute))))},
			events: []string{"check_state n1 check_load 0->2"}, series: nodeSeries + checkSeries},
		{name: "an old OK replayed after a CRITICAL is refused",
			steps:   []step{at(t0, C(res("n1", "check_load", 0, 1, t0))), at(t0, C(res("n1", "check_load", 2, 2, t0))), at(t0, C(res("n1", "check_load", 0, 1, t0)))},
			refused: reasonOlder, series: checkSeries},
		{name: "series beyond the budget are dropped, the node still known",
			cfg:    func(c *fleetConfig) { c.maxSeries = nodeSeries },
			steps:  []step{at(t0, R(reg("n1", 1, t0, nil))), at(t0, R(reg("n2", 1, t0, nil)))},
			events: []string{"node_up n2"}, dropped: map[string]int{"max_series": nodeSeries}, series: nodeSeries},
		{name: "a fact label past its distinct values overflows",
			cfg:    func(c *fleetConfig) { c.maxLabelValues = 1 },
			steps:  []step{at(t0, R(reg("n1", 1, t0, map[string]any{"role": "web"}))), at(t0, R(reg("n2", 1, t0, map[string]any{"role": "db"})))},
			events: []string{"node_up n2"}, over: []string{"role"}, series: 2 * nodeSeries},
		{name: "a node that misses its heartbeats goes down once",
			steps:  []step{at(t0, R(reg("n1", 1, t0, nil))), at(t0.Add(2*time.Minute), step{sweep: true})},
			events: []string{"node_down n1"}, series: nodeSeries},
		{name: "a down node is not reported twice",
			steps:  []step{at(t0, R(reg("n1", 1, t0, nil))), at(t0.Add(2*time.Minute), step{sweep: true}), at(t0.Add(3*time.Minute), step{sweep: true})},
			series: nodeSeries},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := fleetConfig{rules: mustRules(t, DefaultLabels()), maxLabelValues: 1000, maxSeries: 500000, heartbeatMisses: 3, staleIntervals: 3, maxOutputBytes: 4096}
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			m := newFleetModel(cfg)
			m.started = started
			var o outcome
			for _, s := range tt.steps {
				stored := s.stored
				if stored.IsZero() {
					stored = s.now
				}
				switch {
				case s.reg != nil:
					o = m.applyRegistration(*s.reg, stored, s.now)
				case s.res != nil:
					r := *s.res
					o = m.clean(&r)
					m.applyResult(r, stored, s.now, &o)
				case s.sweep:
					o = outcome{events: m.sweep(s.now)}
				}
			}
			var evs, over []string
			for _, e := range o.events {
				s := e.Type + " " + e.Identity
				if e.Type == protocol.EventCheckState {
					s += fmt.Sprintf(" %s %d->%d", e.Check, e.Previous, e.Status)
				}
				evs = append(evs, s)
			}
			for _, ov := range o.overflowed {
				over = append(over, ov.label)
			}
			if !slices.Equal(evs, tt.events) || o.refused != tt.refused || !slices.Equal(over, tt.over) || fmt.Sprint(o.dropped) != fmt.Sprint(tt.dropped) {
				t.Errorf("outcome: events %q refused %q overflowed %q dropped %v\nwant   events %q refused %q overflowed %q dropped %v",
					evs, o.refused, over, o.dropped, tt.events, tt.refused, tt.over, tt.dropped)
			}
			if tt.refused != "" && (o.err == nil || !strings.Contains(o.err.Error(), "is not newer than the one accepted")) {
				t.Errorf("refusal without a reason a human can read: %v", o.err)
			}
			if tt.series >= 0 && m.series != tt.series {
				t.Errorf("admitted series %d, want %d", m.series, tt.series)
			}
		})
	}
}

// clean bounds a result before it reaches the model: outputs cut to the
// limit, repeated perfdata labels and unknown run states dropped and
// counted.
func TestFleetModelClean(t *testing.T) {
	m := newFleetModel(fleetConfig{maxOutputBytes: 8, maxSeries: 100, heartbeatMisses: 3, staleIntervals: 3})
	r := checkResult("n1", "check_x", 7, t0)
	r.Output = "0123456789"
	r.Perfdata = []protocol.Perf{{Label: "load1", Value: 1}, {Label: "load1", Value: 2}, {Label: "", Value: 3}}
	r.Runs = map[string]uint64{"OK": 1, "SOMETIMES": 2}
	o := m.clean(&r)
	if !o.truncated || r.Output != "01234567" || len(r.Perfdata) != 1 || r.Status != protocol.StateUnknown {
		t.Fatalf("cleaned %+v, outcome %+v", r, o)
	}
	if want := map[string]int{"duplicate": 2, "unknown_run_state": 1}; fmt.Sprint(o.dropped) != fmt.Sprint(want) {
		t.Fatalf("dropped %v, want %v", o.dropped, want)
	}
}

func ptr[T any](v T) *T { return &v }

func mustRules(t *testing.T, rules []LabelRule) []labelRule {
	t.Helper()
	r, err := compileLabels(rules)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
