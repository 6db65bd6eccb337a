package collector

import (
	dto "github.com/prometheus/client_model/go"

	"github.com/pulseops/pulse/internal/protocol"
)

// Bounds that keep one node from taking the whole series budget.
const (
	maxEntriesPerNode = 1000 // checks and probes per node
	maxPerfPerCheck   = 64   // perfdata labels per check
	maxStepSeries     = 256  // step×phase series per probe
)

// Series each admitted node, check and probe costs against MaxSeries. A
// check reserves a runs_total series for each of the four states so that a
// state seen later never needs new budget.
const (
	nodeSeries  = 3 // up, last_seen, info
	checkSeries = 8 // status, duration, last_run, stale, runs_total × 4
	probeSeries = 6 // success, duration, last_run, stale, runs, failures
	// perfSeries is what a perfdata label may cost: its value and the
	// lower and upper bounds of its warning and critical thresholds.
	perfSeries = 5
)

// admit takes n series from the budget.
func (m *fleetModel) admit(n int) bool {
	if m.series+n > m.cfg.maxSeries {
		return false
	}
	m.series += n
	m.shape++
	return true
}

// release gives e's series back to the budget.
func (m *fleetModel) release(e *entry) {
	m.series -= e.cost
	e.cost, e.admitted = 0, false
	m.shape++
	e.perf, e.perfShape, e.steps = nil, nil, nil
}

// admitEntry takes budget for e's series and builds their label sets. What
// does not fit is counted, once per result that carries it.
func (m *fleetModel) admitEntry(n *node, e *entry, o *outcome) {
	// relabel rebuilds the label sets of every entry a node has, so only a
	// new entry lacks them.
	if e.base == nil {
		m.buildEntryLabels(n, e)
	}
	r := &e.res
	if !e.admitted {
		cost := checkSeries
		if e.kind == "probe" {
			cost = probeSeries
		}
		if !m.admit(cost) {
			o.drop("max_series", resultSeries(r))
			return
		}
		e.admitted, e.cost = true, cost
	}
	if e.kind == "check" {
		for _, p := range r.Perfdata {
			if _, ok := e.perf[p.Label]; ok {
				continue
			}
			switch {
			case len(e.perf) >= maxPerfPerCheck:
				o.drop("perfdata_per_check", 1)
			case !m.admit(perfSeries):
				o.drop("max_series", 1)
			default:
				if e.perf == nil {
					e.perf = map[string][]*dto.LabelPair{}
				}
				e.perf[p.Label] = withLabels(e.base, m.pair("label", p.Label))
				e.cost += perfSeries
			}
		}
		m.notePerfShape(e)
		return
	}
	for _, s := range r.Steps {
		m.admitStep(e, s.Name, "total", o)
		for ph := range s.Phases {
			m.admitStep(e, s.Name, ph, o)
		}
	}
}

func (m *fleetModel) admitStep(e *entry, step, phase string, o *outcome) {
	k := step + "\x00" + phase
	if _, ok := e.steps[k]; ok {
		return
	}
	// A step's total also stands for its HTTP status code and certificate
	// expiry series.
	cost := 1
	if phase == "total" {
		cost = 3
	}
	switch {
	case len(e.steps) >= maxStepSeries:
		o.drop("steps_per_probe", 1)
	case !m.admit(cost):
		o.drop("max_series", 1)
	default:
		if e.steps == nil {
			e.steps = map[string][]*dto.LabelPair{}
		}
		e.steps[k] = withLabels(e.base, m.pair("step", step), m.pair("phase", phase))
		e.cost += cost
	}
}

// Bits of a perfdata label's shape beside its unit family (the low bits).
const (
	perfPresent uint8 = 1 << (iota + 2)
	perfWarnLower
	perfWarnUpper
	perfCritLower
	perfCritUpper
)

// perfShapeOf says which series a perfdata item makes: its unit family and
// which threshold bounds it carries. An inverted ("@") or unreadable
// threshold makes none: its bounds do not mean "alert beyond".
func perfShapeOf(p protocol.Perf) uint8 {
	_, fam := protocol.PerfBase(p.Value, p.UOM)
	shape := uint8(fam) | perfPresent
	for _, t := range []struct {
		s            string
		lower, upper uint8
	}{{p.Warn, perfWarnLower, perfWarnUpper}, {p.Crit, perfCritLower, perfCritUpper}} {
		r, ok, err := protocol.ParsePerfRange(t.s)
		if !ok || err != nil || r.Inside {
			continue
		}
		if r.HasLower {
			shape |= t.lower
		}
		if r.HasUpper {
			shape |= t.upper
		}
	}
	return shape
}

// notePerfShape records the shape of e's perfdata in its last result; a
// label whose unit family or thresholds changed moves series, so the
// series index is rebuilt.
func (m *fleetModel) notePerfShape(e *entry) {
	if len(e.perf) == 0 {
		return
	}
	if e.perfShape == nil {
		e.perfShape = make(map[string]uint8, len(e.perf))
	}
	changed := false
	for k := range e.perf {
		var shape uint8
		for _, p := range e.res.Perfdata {
			if p.Label == k {
				shape = perfShapeOf(p)
				break
			}
		}
		if old, ok := e.perfShape[k]; !ok || old != shape {
			e.perfShape[k], changed = shape, true
		}
	}
	if changed {
		m.shape++
	}
}
