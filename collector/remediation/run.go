package remediation

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/pulseops/pulse/internal/filter"
	"github.com/pulseops/pulse/internal/protocol"
)

// start runs a remediation in the background so the webhook answers at once.
func (e *Engine) start(p pendingRun) {
	e.runMu.Lock()
	ctx := e.ctx
	if ctx == nil {
		e.runMu.Unlock()
		e.finish(p, outcome{state: StateFailed, notRun: true, err: "not run: the remediation engine was stopping"}, 0)
		return
	}
	e.wg.Add(1)
	e.runMu.Unlock()
	go func() {
		defer e.wg.Done()
		e.run(ctx, p)
	}()
}

// outcome is what a remediation's goroutine found out.
type outcome struct {
	state        State
	err          string
	targets      []string
	results      []NodeResult
	verification []NodeResult
	verified     bool
	// notRun is a remediation the engine never started because it was
	// stopping; it says nothing about the rule, so the breaker ignores it.
	notRun bool
}

func (e *Engine) run(ctx context.Context, p pendingRun) {
	ctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	began := time.Now()
	o := e.execute(ctx, p.rule, p.act, p.check)
	e.finish(p, o, time.Since(began))
}

func (e *Engine) execute(ctx context.Context, r *Rule, act Action, check string) outcome {
	o := outcome{state: StateFailed}
	results, err := e.exec.Run(ctx, act)
	o.results = results
	for _, res := range results {
		o.targets = append(o.targets, res.Identity)
	}
	if err != nil {
		o.err = fmt.Sprintf("run %s.%s on %s: %v", act.Agent, act.Action, describeFilter(act.Filter), err)
		return o
	}
	if msg := checkResults(act.Filter.Identity, results); msg != "" {
		o.err = fmt.Sprintf("run %s.%s on %s: %s", act.Agent, act.Action, describeFilter(act.Filter), msg)
		return o
	}
	if check == "" {
		o.state = StateSucceeded
		return o
	}
	if r.Verify != nil && r.Verify.After > 0 {
		// Give the service time to come up before judging it; this is the
		// product's own delay, not a test waiting for state.
		t := time.NewTimer(r.Verify.After)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			o.err = fmt.Sprintf("verify %s: %v", check, ctx.Err())
			return o
		}
	}
	va := Action{
		Agent: "nrpe", Action: "runcommand",
		Data:   map[string]any{"command": check},
		Filter: filter.Spec{Identity: slices.Clone(o.targets)},
	}
	vres, err := e.exec.Run(ctx, va)
	o.verification = vres
	if err != nil {
		o.err = fmt.Sprintf("verify %s on %s: %v", check, describeFilter(va.Filter), err)
		return o
	}
	if msg := checkVerification(o.targets, vres); msg != "" {
		o.state = StateIneffective
		o.err = fmt.Sprintf("verify %s: %s", check, msg)
		return o
	}
	o.state, o.verified = StateSucceeded, true
	return o
}

// reached reports whether the action reached a real node: some node
// answered it, whatever it said.
func (o outcome) reached() bool {
	return slices.ContainsFunc(o.results, func(r NodeResult) bool { return !r.NoReply })
}

// checkResults says what is wrong with an action's results, or "".
func checkResults(want []string, results []NodeResult) string {
	if len(results) == 0 {
		return "no node answered"
	}
	var problems []string
	got := map[string]bool{}
	for _, res := range results {
		got[res.Identity] = true
		if res.Status != protocol.OK {
			problems = append(problems, fmt.Sprintf("%s: %s: %s", res.Identity, res.Status, res.Message))
		}
	}
	for _, id := range want {
		if !got[id] {
			problems = append(problems, id+": no reply")
		}
	}
	return strings.Join(problems, "; ")
}

// checkVerification requires every target to answer the check with exit
// code 0 (Nagios OK).
func checkVerification(targets []string, results []NodeResult) string {
	byID := map[string]NodeResult{}
	for _, res := range results {
		byID[res.Identity] = res
	}
	var problems []string
	for _, id := range targets {
		res, ok := byID[id]
		if !ok {
			problems = append(problems, id+": no reply")
			continue
		}
		if res.Status != protocol.OK {
			problems = append(problems, fmt.Sprintf("%s: %s: %s", id, res.Status, res.Message))
			continue
		}
		var d struct {
			ExitCode *int   `json:"exitcode"`
			Output   string `json:"output"`
		}
		if err := json.Unmarshal(res.Data, &d); err != nil || d.ExitCode == nil {
			problems = append(problems, id+": reply has no exitcode")
			continue
		}
		if *d.ExitCode != 0 {
			problems = append(problems, fmt.Sprintf("%s: still exit code %d %s", id, *d.ExitCode, d.Output))
		}
	}
	return strings.TrimSpace(strings.Join(problems, "; "))
}

// finish records a remediation's outcome, feeds the metrics and the circuit
// breaker, and tells the humans.
func (e *Engine) finish(p pendingRun, o outcome, took time.Duration) {
	e.mu.Lock()
	rec := e.store.get(p.id)
	if rec == nil { // cannot happen: live records are never pruned
		e.mu.Unlock()
		return
	}
	now := e.now()
	rec.State = o.state
	rec.Error = o.err
	rec.Results = o.results
	rec.Verification = o.verification
	rec.Verified = o.verified
	if len(rec.Targets) == 0 {
		rec.Targets = o.targets
	}
	rec.Finished = now
	e.release(rec)
	e.metrics.total.WithLabelValues(rec.Rule, string(o.state)).Inc()
	e.metrics.duration.WithLabelValues(rec.Rule).Observe(took.Seconds())
	if o.verified && !rec.Alert.StartsAt.IsZero() && now.After(rec.Alert.StartsAt) {
		e.metrics.timeToFix.WithLabelValues(rec.Rule).Observe(now.Sub(rec.Alert.StartsAt).Seconds())
	}
	events := []protocol.Event{e.event(rec, fmt.Sprintf("remediation %s (%s) %s%s", rec.ID, rec.Rule, rec.State, suffix(rec.Error)))}
	switch {
	case o.state == StateSucceeded:
		e.failures[rec.Rule] = 0
	case o.notRun || !o.reached():
		// Nothing reached a node (the bus failed, or no node answered):
		// that says nothing about whether the rule's remedy works, so
		// the breaker does not count it; the record says what happened.
	default:
		e.failures[rec.Rule]++
		k := p.rule.Guards.CircuitBreaker
		if e.failures[rec.Rule] >= k && !e.open[rec.Rule] {
			e.open[rec.Rule] = true
			e.metrics.circuit.WithLabelValues(rec.Rule).Set(1)
			msg := fmt.Sprintf("circuit breaker for rule %s opened after %d failed or ineffective remediations; the rule is stopped until reset", rec.Rule, k)
			e.log.Error(msg, "rule", rec.Rule, "last", rec.ID)
			events = append(events, protocol.Event{Type: protocol.EventRemediation, Time: now, Message: msg, Data: map[string]any{"rule": rec.Rule, "circuit_open": true}})
		}
	}
	c := cloneRecord(rec)
	e.mu.Unlock()

	e.log.Info("remediation finished", "id", c.ID, "rule", c.Rule, "state", c.State, "targets", c.Targets, "verified", c.Verified, "err", c.Error)
	e.writeAudit("record", c)
	e.emit(events)
}

func suffix(err string) string {
	if err == "" {
		return ""
	}
	return ": " + err
}
