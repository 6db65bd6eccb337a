package collector

import (
	dto "github.com/prometheus/client_model/go"
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
	e.perf, e.steps = nil, nil
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
			case !m.admit(1):
				o.drop("max_series", 1)
			default:
				if e.perf == nil {
					e.perf = map[string][]*dto.LabelPair{}
				}
				e.perf[p.Label] = withLabels(e.base, m.pair("label", p.Label))
				e.cost++
			}
		}
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
	switch {
	case len(e.steps) >= maxStepSeries:
		o.drop("steps_per_probe", 1)
	case !m.admit(1):
		o.drop("max_series", 1)
	default:
		if e.steps == nil {
			e.steps = map[string][]*dto.LabelPair{}
		}
		e.steps[k] = withLabels(e.base, m.pair("step", step), m.pair("phase", phase))
		e.cost++
	}
}
