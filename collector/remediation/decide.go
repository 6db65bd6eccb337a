package remediation

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/pulseops/pulse/internal/filter"
	"github.com/pulseops/pulse/internal/protocol"
)

// A stage is one guard between an alert and a remediation. It either lets
// the candidate pass, filling in what it learned for the stages after it,
// or refuses it with a reason a human can act on. A stage only reads the
// engine's memory; nothing is taken (budget, cooldown, group share) until
// every stage has passed.
type stage struct {
	name  string
	guard func(e *Engine, c *candidate) *refusal
}

// stages are the guards in the order they run, and the order is the
// engine's safety argument: cheap and certain refusals first (a resolved
// alert, no rule, a duplicate, an open circuit), then what the alert asks
// for is rendered and validated (target, data, verify check), then the
// fleet is counted (how many nodes, what share of their group), and the
// budgets come last, so a refused alert never consumes budget. A new guard
// is one function and one line here, placed by that argument.
var stages = []stage{
	{"firing", onlyFiring},
	{"rule", matchRule},
	{"duplicate", notDuplicate},
	{"circuit", circuitClosed},
	{"target", renderTarget},
	{"data", renderData},
	{"verify", renderVerify},
	{"count", countTargets},
	{"max_targets", maxTargets},
	{"group", groupShare},
	{"cooldown", cooldown},
	{"budget", hourlyBudget},
}

// candidate is an alert on its way through the stages, with what each
// stage found out.
type candidate struct {
	alert Alert
	now   time.Time
	rule  *Rule
	// spec selects the targets; key names them for humans and for the
	// cooldown.
	spec filter.Spec
	key  string
	data map[string]any
	// verifyCheck is the check re-run to verify the fix ("" for none).
	verifyCheck string
	// targets are the identities when the alert names them; n is how many
	// nodes the remediation acts on.
	targets []string
	n       int
	// group is the max_group_percent key this remediation counts against
	// ("" without that guard).
	group string
}

// refusal is why a stage stopped an alert.
type refusal struct {
	reason Reason
	detail string
}

func refuse(reason Reason, format string, args ...any) *refusal {
	return &refusal{reason: reason, detail: fmt.Sprintf(format, args...)}
}

func onlyFiring(_ *Engine, c *candidate) *refusal {
	if c.alert.Status != StatusFiring {
		return refuse(ReasonResolved, "alert is %s; only firing alerts are remediated", c.alert.Status)
	}
	return nil
}

func matchRule(e *Engine, c *candidate) *refusal {
	if c.rule = e.rules.Match(c.alert.Labels); c.rule == nil {
		return refuse(ReasonNoRule, "no remediation rule matches this alert")
	}
	return nil
}

// notDuplicate refuses an alert whose last remediation is still live, or
// was made within the rule's cooldown: Alertmanager resends firing alerts.
func notDuplicate(e *Engine, c *candidate) *refusal {
	prev := e.store.latest(c.alert.Fingerprint)
	if prev == nil {
		return nil
	}
	if prev.State.Live() {
		return refuse(ReasonDuplicate, "remediation %s for this alert is %s", prev.ID, prev.State)
	}
	g := c.rule.Guards
	if until := prev.Created.Add(g.Cooldown); c.now.Before(until) {
		return refuse(ReasonDuplicate, "remediation %s handled this alert %s ago (cooldown %s)", prev.ID, c.now.Sub(prev.Created).Round(time.Second), g.Cooldown)
	}
	return nil
}

func circuitClosed(e *Engine, c *candidate) *refusal {
	if e.open[c.rule.Name] {
		return refuse(ReasonCircuitOpen, "circuit breaker for rule %s is open after %d failed or ineffective remediations; reset it once the cause is fixed", c.rule.Name, c.rule.Guards.CircuitBreaker)
	}
	return nil
}

// renderTarget fills the rule's target in from the alert's labels; a value
// that renders empty or unsafe is refused, never sent.
func renderTarget(_ *Engine, c *candidate) *refusal {
	spec, key, err := c.rule.target(c.alert)
	if errors.Is(err, errNoTarget) {
		return refuse(ReasonNoTarget, "refused: %v; a remediation never runs without a target", err)
	}
	if err != nil {
		return refuse(ReasonInvalidValue, "refused: %v", err)
	}
	c.spec, c.key = spec, key
	return nil
}

func renderData(_ *Engine, c *candidate) *refusal {
	data, err := c.rule.renderData(c.alert)
	if err != nil {
		return refuse(ReasonInvalidValue, "refused: %v", err)
	}
	c.data = data
	return nil
}

func renderVerify(_ *Engine, c *candidate) *refusal {
	if c.rule.verifyCheck == nil {
		return nil
	}
	check, err := render(c.rule.verifyCheck, c.alert)
	if err != nil {
		return refuse(ReasonInvalidValue, "refused: %v", err)
	}
	c.verifyCheck = check
	return nil
}

// countTargets knows how many nodes the remediation acts on: the named
// identities, or the nodes a fact filter selects now.
func countTargets(e *Engine, c *candidate) *refusal {
	if len(c.spec.Fact) == 0 {
		c.targets, c.n = slices.Clone(c.spec.Identity), len(c.spec.Identity)
		return nil
	}
	if c.n = e.fleet.Count(c.spec); c.n == 0 {
		return refuse(ReasonNoTarget, "refused: no node matches %s", c.key)
	}
	return nil
}

func maxTargets(_ *Engine, c *candidate) *refusal {
	if max := c.rule.Guards.MaxTargets; c.n > max {
		return refuse(ReasonTooManyTargets, "%d nodes match %s, more than max_targets %d", c.n, c.key, max)
	}
	return nil
}

// groupShare bounds the share of one group (a zone, say) under remediation
// by this rule at once, counting the live remediations' targets.
func groupShare(e *Engine, c *candidate) *refusal {
	g := c.rule.Guards
	if g.MaxGroupPercent <= 0 {
		return nil
	}
	gv := c.alert.Labels[g.GroupLabel]
	if !safeValue.MatchString(gv) {
		return refuse(ReasonTooManyTargets, "alert has no valid %q label, so the share of its group cannot be bounded", g.GroupLabel)
	}
	fact := g.GroupFact
	if fact == "" {
		fact = g.GroupLabel
	}
	size := e.fleet.Count(filter.Spec{Fact: []string{fact + "=" + gv}})
	allowed := int(float64(size) * g.MaxGroupPercent / 100)
	c.group = c.rule.Name + "\x00" + gv
	if busy := e.active[c.group]; busy+c.n > allowed {
		return refuse(ReasonTooManyTargets, "%d of %d nodes in %s=%s already under remediation; %d more would exceed max_group_percent %g (%d nodes)", busy, size, g.GroupLabel, gv, c.n, g.MaxGroupPercent, allowed)
	}
	return nil
}

// cooldownKey is what the cooldown is kept per: a rule on a target.
func (c *candidate) cooldownKey() string { return c.rule.Name + "\x00" + c.key }

func cooldown(e *Engine, c *candidate) *refusal {
	g := c.rule.Guards
	if last, ok := e.lastRun[c.cooldownKey()]; ok && c.now.Before(last.Add(g.Cooldown)) {
		return refuse(ReasonCooldown, "rule %s acted on %s %s ago (cooldown %s)", c.rule.Name, c.key, c.now.Sub(last).Round(time.Second), g.Cooldown)
	}
	return nil
}

// hourlyBudget forgets runs older than an hour, then refuses a rule that
// used its max_per_hour.
func hourlyBudget(e *Engine, c *candidate) *refusal {
	name := c.rule.Name
	recent := e.runs[name][:0]
	for _, t := range e.runs[name] {
		if c.now.Sub(t) < time.Hour {
			recent = append(recent, t)
		}
	}
	e.runs[name] = recent
	if max := c.rule.Guards.MaxPerHour; len(recent) >= max {
		return refuse(ReasonBudget, "rule %s already acted %d times in the last hour (max_per_hour %d)", name, len(recent), max)
	}
	return nil
}

// decide runs the stages for one alert and, when all pass, records the
// remediation: running, pending approval or a dry run. Lock must be held.
func (e *Engine) decide(a Alert) (Decision, *pendingRun, []protocol.Event) {
	d := Decision{Alert: a.Name(), Fingerprint: a.Fingerprint, Outcome: Skipped}
	c := &candidate{alert: a, now: e.now()}
	for _, s := range e.stages {
		if r := s.guard(e, c); r != nil {
			d.Reason, d.Detail = r.reason, r.detail
			e.metrics.skipped.WithLabelValues(d.Rule, string(r.reason)).Inc()
			return d, nil, nil
		}
		if c.rule != nil {
			d.Rule = c.rule.Name
		}
	}
	return e.admit(c, d)
}

// admit records a candidate every stage passed. The remediation takes
// budget and cooldown now, including dry runs and pending approvals, so
// that what a dry run records is what would really have happened. Lock
// must be held.
func (e *Engine) admit(c *candidate, d Decision) (Decision, *pendingRun, []protocol.Event) {
	r, g, now := c.rule, c.rule.Guards, c.now
	e.runs[r.Name] = append(e.runs[r.Name], now)
	e.lastRun[c.cooldownKey()] = now
	rec := &Record{
		ID:   e.store.nextID(),
		Rule: r.Name,
		Alert: AlertRef{
			Name: c.alert.Name(), Fingerprint: c.alert.Fingerprint,
			Labels: maps.Clone(c.alert.Labels), StartsAt: c.alert.StartsAt,
		},
		Action: Action{
			Agent: r.Agent, Action: r.Action, Data: c.data, Filter: c.spec,
			Batch: g.Batch, BatchSleep: g.BatchSleep,
		},
		Targets:     c.targets,
		VerifyCheck: c.verifyCheck,
		Created:     now,
	}
	d.RecordID = rec.ID
	d.Targets = slices.Clone(c.targets)

	var run *pendingRun
	switch {
	case g.DryRun:
		rec.State = StateDryRun
		rec.Finished = now
		d.Reason, d.Detail = ReasonDryRun, fmt.Sprintf("dry run: would run %s.%s on %s", r.Agent, r.Action, c.key)
		e.metrics.total.WithLabelValues(r.Name, string(StateDryRun)).Inc()
	case g.Approval:
		rec.State = StatePending
		d.Reason, d.Detail = ReasonPendingApproval, fmt.Sprintf("waiting for approval to run %s.%s on %s", r.Agent, r.Action, c.key)
		e.metrics.skipped.WithLabelValues(r.Name, string(ReasonPendingApproval)).Inc()
	default:
		rec.State = StateRunning
		rec.Started = now
		d.Outcome = Acted
		run = &pendingRun{id: rec.ID, rule: r, act: rec.Action, check: rec.VerifyCheck}
	}
	if rec.State.Live() && c.group != "" {
		e.active[c.group] += c.n
		e.holds[rec.ID] = hold{group: c.group, n: c.n}
	}
	// Added only now that rec has its state: before, a new record looks
	// finished and could be pruned while it is about to run.
	e.store.add(rec)
	return d, run, []protocol.Event{e.event(rec, fmt.Sprintf("remediation %s (%s): %s.%s on %s: %s", rec.ID, r.Name, r.Agent, r.Action, c.key, rec.State))}
}
