package history

import (
	"sync"
	"testing"
	"time"

	"github.com/pulseops/pulse/collector"
)

type tallies struct {
	mu  sync.Mutex
	now collector.Tally
}

func (s *tallies) Tally() collector.Tally {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.now
}

func probes(counts map[string]collector.ProbeCount) map[string]map[string]collector.ProbeCount {
	return map[string]map[string]collector.ProbeCount{"login": counts}
}

// TestHistory: checks are counted by state per sample; a probe's points
// are the increase of its nodes' counters since the sample before, a
// restarted node counting from zero and a new node from its next sample;
// samples older than Span go.
func TestHistory(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	now := t0
	src := &tallies{}
	h := New(Options{Source: src, Step: time.Minute, Span: 3 * time.Minute, Now: func() time.Time { return now }})
	step := func(checks [4]int, counts map[string]collector.ProbeCount) {
		src.mu.Lock()
		src.now = collector.Tally{Checks: checks, Probes: probes(counts)}
		src.mu.Unlock()
		h.Sample()
		now = now.Add(time.Minute)
	}
	step([4]int{10, 0, 0, 0}, map[string]collector.ProbeCount{"a": {Runs: 100, Failures: 1}})
	step([4]int{9, 0, 1, 0}, map[string]collector.ProbeCount{"a": {Runs: 110, Failures: 3}, "b": {Runs: 50, Failures: 50}})
	step([4]int{8, 1, 1, 0}, map[string]collector.ProbeCount{"a": {Runs: 5, Failures: 1}, "b": {Runs: 60, Failures: 52}})
	step([4]int{10, 0, 0, 0}, map[string]collector.ProbeCount{"a": {Runs: 15, Failures: 1}, "b": {Runs: 70, Failures: 52}})

	v := h.View()
	if len(v.Checks) != 4 || v.Checks[0].Time != t0 || v.Checks[2].Warning != 1 || v.Checks[2].Critical != 1 || v.Checks[3].OK != 10 {
		t.Fatalf("checks: %+v", v.Checks)
	}
	if len(v.Probes) != 1 || v.Probes[0].Probe != "login" {
		t.Fatalf("probes: %+v", v.Probes)
	}
	got := v.Probes[0].Points
	want := []struct{ runs, failures uint64 }{
		{10, 2}, // a: +10 +2; b joined and only sets its counters
		{15, 3}, // a restarted: 5 and 1 since; b +10 +2
		{20, 0}, // a +10 +0, b +10 +0
	}
	if len(got) != len(want) {
		t.Fatalf("points %+v", got)
	}
	for i, w := range want {
		if got[i].Runs != w.runs || got[i].Failures != w.failures {
			t.Errorf("point %d: %d runs %d failures, want %d and %d", i, got[i].Runs, got[i].Failures, w.runs, w.failures)
		}
	}
	if v.Step != 60 || !v.To.Equal(now) || !v.From.Equal(now.Add(-3*time.Minute)) {
		t.Errorf("window %v–%v step %v", v.From, v.To, v.Step)
	}
	// One more sample and the oldest is older than Span.
	step([4]int{10, 0, 0, 0}, map[string]collector.ProbeCount{"a": {Runs: 15, Failures: 1}, "b": {Runs: 70, Failures: 52}})
	if v := h.View(); len(v.Checks) != 4 || v.Checks[0].Time != t0.Add(time.Minute) || len(v.Probes[0].Points) != 4 {
		t.Errorf("after Span: %d check points from %v, %d probe points", len(v.Checks), v.Checks[0].Time, len(v.Probes[0].Points))
	}
}
