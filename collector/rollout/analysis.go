package rollout

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/pulseops/pulse/collector/api"
)

// gates runs every PromQL gate of step i side by side, each on its own
// schedule, and records their runs and failures.
func (u *run) gates(ctx context.Context, i int) {
	u.mu.Lock()
	var all, step []string
	for _, n := range u.rec.Nodes {
		if n.State == api.NodeChanged || n.State == api.NodeUnchanged {
			all = append(all, n.Identity)
			if n.Step == i {
				step = append(step, n.Identity)
			}
		}
	}
	u.mu.Unlock()
	ph := placeholders{nodes: nodesRegexp(all), stepNodes: nodesRegexp(step), pkg: u.p.req.Package, version: u.p.req.Version}
	runs := make([]api.GateRun, len(u.p.req.Gates))
	var wg sync.WaitGroup
	for j, g := range u.p.req.Gates {
		wg.Go(func() { runs[j] = u.analyse(ctx, i, g, ph) })
	}
	wg.Wait()
	var failures []api.StepFailure
	for _, gr := range runs {
		if gr.State == api.StepFailed {
			failures = append(failures, api.StepFailure{Gate: gr.Name, Message: gr.Reason})
		}
	}
	u.mu.Lock()
	u.rec.Steps[i].Gates = runs
	u.mu.Unlock()
	u.fail(i, failures...)
}

// analyse measures one gate Count times, Interval apart, and fails it once
// more than FailureLimit measurements missed the condition, or at the
// first measurement that could not be taken.
func (u *run) analyse(ctx context.Context, i int, g api.GateSpec, ph placeholders) api.GateRun {
	gr := api.GateRun{Name: g.Name, Success: g.Success, State: api.StepRunning, Measurements: []api.Measurement{}}
	q, err := render(g.Query, ph)
	if err != nil {
		gr.State, gr.Reason = api.StepFailed, err.Error()
		return gr
	}
	gr.Query = q
	cond, err := parseCondition(g.Success)
	if err != nil {
		gr.State, gr.Reason = api.StepFailed, err.Error()
		return gr
	}
	failed := 0
	for m := 0; m < g.Count; m++ {
		wait := time.Duration(g.Interval)
		if m == 0 {
			wait = time.Duration(g.InitialDelay)
		}
		if wait > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(wait):
			}
		}
		if ctx.Err() != nil {
			gr.State, gr.Reason = api.StepFailed, "interrupted before its measurements were taken"
			return gr
		}
		ms := u.measure(ctx, q, cond)
		gr.Measurements = append(gr.Measurements, ms)
		u.say("  gate %s measurement %d/%d: %s", g.Name, m+1, g.Count, describe(ms))
		if ms.Error != "" {
			gr.State, gr.Reason = api.StepFailed, "could not be measured: "+ms.Error
			return gr
		}
		if !ms.Passed {
			failed++
			if failed > g.FailureLimit {
				gr.State = api.StepFailed
				gr.Reason = fmt.Sprintf("%d of %d measurements failed %s (failure limit %d); last: %s", failed, m+1, g.Success, g.FailureLimit, describe(ms))
				return gr
			}
		}
	}
	gr.State = api.StepPassed
	return gr
}

// measure takes one measurement: every sample must meet the condition.
func (u *run) measure(ctx context.Context, q string, cond condition) api.Measurement {
	start := time.Now()
	ms := api.Measurement{Time: u.now()}
	samples, err := u.p.prom.query(ctx, q)
	ms.Took = time.Since(start)
	if err != nil {
		ms.Error = err.Error()
		return ms
	}
	ms.Samples, ms.Passed = samples, true
	for _, s := range samples {
		ms.Passed = ms.Passed && cond.holds(s.Value)
	}
	return ms
}

func describe(m api.Measurement) string {
	if m.Error != "" {
		return "ERROR " + m.Error
	}
	s := ""
	for i, sm := range m.Samples {
		if i == 3 {
			s += fmt.Sprintf(" and %d more", len(m.Samples)-3)
			break
		}
		if i > 0 {
			s += ", "
		}
		v := strconv.FormatFloat(sm.Value, 'g', 4, 64)
		if sm.Labels != "" && sm.Labels != "{}" {
			v = sm.Labels + " " + v
		}
		s += v
	}
	if m.Passed {
		return s + " passed"
	}
	return s + " FAILED"
}
