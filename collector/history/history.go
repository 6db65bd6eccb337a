// Package history keeps the last hour of the fleet as the web view draws
// it: how many checks were in each state, and how many runs of each probe
// failed, sampled from the collector every Step. It lives in memory and
// starts empty when the collector does; Prometheus keeps the long history.
//
// It only reads the collector's state.
package history

import (
	"context"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/pulseops/pulse/collector"
	"github.com/pulseops/pulse/collector/api"
)

// Source is what is sampled; *collector.Collector is one.
type Source interface {
	Tally() collector.Tally
}

// Options configure a History.
type Options struct {
	Source Source
	// Step is the sampling period (15s); Span how far back it keeps (1h).
	Step, Span time.Duration
	// Now is the clock; tests pass a fake one.
	Now func() time.Time
}

// History samples a Source and keeps the last Span of samples.
type History struct {
	opts Options

	mu     sync.Mutex
	checks []api.ChecksPoint
	probes map[string][]api.ProbePoint
	// last is each probe's counters per node at the last sample, so runs
	// between samples are the counters' increase (a node that restarted
	// counts from zero, as Prometheus' increase() does).
	last map[string]map[string]collector.ProbeCount
}

// New builds a History; Run samples.
func New(o Options) *History {
	if o.Step <= 0 {
		o.Step = 15 * time.Second
	}
	if o.Span <= 0 {
		o.Span = time.Hour
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &History{opts: o, probes: map[string][]api.ProbePoint{}, last: map[string]map[string]collector.ProbeCount{}}
}

// Run samples every Step until ctx ends.
func (h *History) Run(ctx context.Context) error {
	h.Sample()
	t := time.NewTicker(h.opts.Step)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			h.Sample()
		}
	}
}

// Sample takes one sample now.
func (h *History) Sample() {
	tally := h.opts.Source.Tally()
	now := h.opts.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	h.checks = append(h.checks, api.ChecksPoint{Time: now, OK: tally.Checks[0], Warning: tally.Checks[1], Critical: tally.Checks[2], Unknown: tally.Checks[3]})
	for probe, nodes := range tally.Probes {
		prev, seen := h.last[probe]
		var p api.ProbePoint
		p.Time = now
		for id, c := range nodes {
			before, ok := prev[id]
			switch {
			case !seen || !ok:
				// The first sample of a probe, or of a node that just
				// joined, only sets its counters.
			case c.Runs < before.Runs || c.Failures < before.Failures:
				p.Runs, p.Failures = p.Runs+c.Runs, p.Failures+c.Failures
			default:
				p.Runs, p.Failures = p.Runs+c.Runs-before.Runs, p.Failures+c.Failures-before.Failures
			}
		}
		h.last[probe] = nodes
		if seen {
			h.probes[probe] = append(h.probes[probe], p)
		}
	}
	from := now.Add(-h.opts.Span)
	h.checks = dropBefore(h.checks, from, func(p api.ChecksPoint) time.Time { return p.Time })
	for probe, pts := range h.probes {
		if h.probes[probe] = dropBefore(pts, from, func(p api.ProbePoint) time.Time { return p.Time }); len(h.probes[probe]) == 0 {
			delete(h.probes, probe)
			delete(h.last, probe)
		}
	}
}

func dropBefore[T any](s []T, from time.Time, at func(T) time.Time) []T {
	i := 0
	for i < len(s) && at(s[i]).Before(from) {
		i++
	}
	return slices.Delete(s, 0, i)
}

// View is the history as GET /api/v1/history answers it.
func (h *History) View() api.HistoryView {
	now := h.opts.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	v := api.HistoryView{From: now.Add(-h.opts.Span), To: now, Step: h.opts.Step.Seconds(), Checks: slices.Clone(h.checks), Probes: []api.ProbeHistory{}}
	if v.Checks == nil {
		v.Checks = []api.ChecksPoint{}
	}
	for _, probe := range slices.Sorted(maps.Keys(h.probes)) {
		v.Probes = append(v.Probes, api.ProbeHistory{Probe: probe, Points: slices.Clone(h.probes[probe])})
	}
	return v
}
