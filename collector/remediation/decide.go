package remediation

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/pulseops/pulse/collector/api"
	"github.com/pulseops/pulse/internal/filter"
	"github.com/pulseops/pulse/internal/protocol"
	"github.com/pulseops/pulse/nodeagent/actions"
	"github.com/pulseops/pulse/nodeagent/checks"
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
// for is rendered and checked with the agent's own rules (target, data,
// verify check), then the engine looks before it counts: the targets must
// be live nodes of the collector's fleet that are still broken, and only
// then are they counted (how many nodes, what share of their group) and
// the budgets come last, so an alert about a node that does not exist, or
// with a value an agent would refuse, never consumes budget. A new guard
// is one function and one line here, placed by that argument.
var stages = []stage{
	{"firing", onlyFiring},
	{"rule", matchRule},
	{"duplicate", notDuplicate},
	{"circuit", circuitClosed},
	{"target", renderTarget},
	{"data", renderData},
	{"verify", renderVerify},
	{"fleet", resolveTargets},
	{"recovered", stillBroken},
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
	// targets are the live nodes the remediation acts on, resolved
	// against the fleet; nodes holds what the fleet said of each when the
	// alert names them.
	targets []string
	nodes   map[string]api.NodeView
	// group is the max_group_percent key this remediation counts against
	// ("" without that guard).
	group string
}

// refusal is why a stage stopped an alert. A refusal by a guard that lifts
// by itself defers the decision instead of dropping it: until retry, or
// until a running remediation ends when onRelease is set.
type refusal struct {
	reason    Reason
	detail    string
	deferred  bool
	retry     time.Time
	onRelease bool
}

func refuse(reason Reason, format string, args ...any) *refusal {
	return &refusal{reason: reason, detail: fmt.Sprintf(format, args...)}
}

// deferUntil refuses for now and asks to be decided again at t.
func deferUntil(t time.Time, reason Reason, format string, args ...any) *refusal {
	r := refuse(reason, format, args...)
	r.deferred, r.retry = true, t
	return r
}

// deferUntilRelease refuses for now and asks to be decided again when a
// running or pending remediation ends.
func deferUntilRelease(reason Reason, format string, args ...any) *refusal {
	r := refuse(reason, format, args...)
	r.deferred, r.onRelease = true, true
	return r
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

// notDuplicate defers an alert whose last remediation is still live, or
// was made within the rule's cooldown: Alertmanager resends firing alerts,
// and a pair of them delivers each twice. Once the remediation has ended
// and the cooldown passed, an alert that still fires is decided again.
func notDuplicate(e *Engine, c *candidate) *refusal {
	prev := e.store.latest(c.alert.Fingerprint)
	if prev == nil {
		return nil
	}
	if prev.State.Live() {
		return deferUntilRelease(ReasonDuplicate, "remediation %s for this alert is %s", prev.ID, prev.State)
	}
	g := c.rule.Guards
	if until := prev.Created.Add(g.Cooldown); c.now.Before(until) {
		return deferUntil(until, ReasonDuplicate, "remediation %s handled this alert %s ago (cooldown %s)", prev.ID, c.now.Sub(prev.Created).Round(time.Second), g.Cooldown)
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

// renderData renders the action's data and checks it as the agent that
// will receive it does, so a value the agent would refuse is refused here,
// before it costs budget or counts against the rule.
func renderData(_ *Engine, c *candidate) *refusal {
	data, err := c.rule.renderData(c.alert)
	if err != nil {
		return refuse(ReasonInvalidValue, "refused: %v", err)
	}
	if err := actions.ValidateRequest(c.rule.Agent, c.rule.Action, data); err != nil {
		return refuse(ReasonInvalidValue, "refused: the %s agent would refuse it: %v", c.rule.Agent, err)
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
	if err := checks.ValidName(check); err != nil {
		return refuse(ReasonInvalidValue, "refused: verify check: the nrpe agent would refuse it: %v", err)
	}
	c.verifyCheck = check
	return nil
}

// resolveTargets looks the targets up in the collector's live fleet: the
// nodes the alert names must be known and up, and a fact filter must
// select at least one live node. What is resolved here is what the action
// runs on, and what a dry run shows.
func resolveTargets(e *Engine, c *candidate) *refusal {
	if len(c.spec.Fact) > 0 {
		if c.targets = e.fleet.Resolve(c.spec); len(c.targets) == 0 {
			return refuse(ReasonNoTarget, "refused: no live node matches %s", c.key)
		}
		return nil
	}
	c.nodes = make(map[string]api.NodeView, len(c.spec.Identity))
	for _, id := range c.spec.Identity {
		n, ok := e.fleet.Node(id)
		if !ok {
			return refuse(ReasonUnknownNode, "refused: no node %s in the collector's fleet; pulse acts only on nodes it knows", id)
		}
		if !n.Up {
			return refuse(ReasonNodeDown, "refused: node %s is down (last heard from %s); a node that does not answer cannot be repaired", id, n.LastSeen.UTC().Format(time.RFC3339))
		}
		c.nodes[id] = n
	}
	c.targets = slices.Clone(c.spec.Identity)
	return nil
}

// stillBroken skips an alert whose verify check already passes again on
// every target, with a result newer than the alert: the node recovered by
// itself (or an earlier remediation fixed it) and Prometheus has not
// resolved the alert yet.
func stillBroken(_ *Engine, c *candidate) *refusal {
	if c.verifyCheck == "" || len(c.nodes) == 0 {
		return nil
	}
	var since time.Time
	for _, id := range c.targets {
		n := c.nodes[id]
		i := slices.IndexFunc(n.Checks, func(v api.CheckView) bool { return v.Name == c.verifyCheck })
		if i < 0 {
			return nil
		}
		ch := n.Checks[i]
		if ch.Status != protocol.StateOK || ch.Stale || !ch.LastRun.After(c.alert.StartsAt) {
			return nil
		}
		if ch.LastRun.After(since) {
			since = ch.LastRun
		}
	}
	return refuse(ReasonRecovered, "%s is OK again on %s (last run %s, after the alert started): nothing to repair", c.verifyCheck, c.key, since.UTC().Format(time.RFC3339))
}

func maxTargets(_ *Engine, c *candidate) *refusal {
	if max := c.rule.Guards.MaxTargets; len(c.targets) > max {
		return refuse(ReasonTooManyTargets, "%d nodes match %s, more than max_targets %d", len(c.targets), c.key, max)
	}
	return nil
}

// groupShare bounds the share of one group (a zone, say) under remediation
// by this rule at once, counting the live remediations' targets. A
// remediation that would fit once others end is deferred until then.
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
	size := len(e.fleet.Resolve(filter.Spec{Fact: []string{fact + "=" + gv}}))
	allowed := int(float64(size) * g.MaxGroupPercent / 100)
	c.group = c.rule.Name + "\x00" + gv
	n := len(c.targets)
	if n > allowed {
		return refuse(ReasonTooManyTargets, "%d nodes are more than max_group_percent %g of the %d live nodes in %s=%s allows (%d)", n, g.MaxGroupPercent, size, g.GroupLabel, gv, allowed)
	}
	if busy := e.active[c.group]; busy+n > allowed {
		return deferUntilRelease(ReasonTooManyTargets, "%d of %d nodes in %s=%s already under remediation; %d more would exceed max_group_percent %g (%d nodes)", busy, size, g.GroupLabel, gv, n, g.MaxGroupPercent, allowed)
	}
	return nil
}

// cooldownKey is what the cooldown is kept per: a rule on a target.
func (c *candidate) cooldownKey() string { return c.rule.Name + "\x00" + c.key }

func cooldown(e *Engine, c *candidate) *refusal {
	g := c.rule.Guards
	if last, ok := e.lastRun[c.cooldownKey()]; ok && c.now.Before(last.Add(g.Cooldown)) {
		return deferUntil(last.Add(g.Cooldown), ReasonCooldown, "rule %s acted on %s %s ago (cooldown %s)", c.rule.Name, c.key, c.now.Sub(last).Round(time.Second), g.Cooldown)
	}
	return nil
}

// hourlyBudget forgets runs older than an hour, then defers a rule that
// used its max_per_hour until the oldest of them is an hour old.
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
		return deferUntil(recent[0].Add(time.Hour), ReasonBudget, "rule %s already acted %d times in the last hour (max_per_hour %d)", name, len(recent), max)
	}
	return nil
}

// verdict is one decision and what follows from it, gathered under the
// lock and carried out (logged, audited, announced, started) after it.
type verdict struct {
	d      Decision
	run    *pendingRun
	events []protocol.Event
	// record is a copy of the record the decision made or changed, for
	// the audit log; nil when none changed.
	record *Record
}

// decide runs the stages for one alert. parked is the alert's deferred
// record when it is decided again, nil for a new decision. Lock must be
// held.
func (e *Engine) decide(a Alert, parked *Record) verdict {
	d := Decision{Alert: a.Name(), Fingerprint: a.Fingerprint, Outcome: Skipped}
	c := &candidate{alert: a, now: e.now()}
	for _, s := range e.stages {
		r := s.guard(e, c)
		if c.rule != nil {
			d.Rule = c.rule.Name
		}
		if r == nil {
			continue
		}
		d.Reason, d.Detail, d.Targets = r.reason, r.detail, slices.Clone(c.targets)
		if r.deferred {
			return e.deferDecision(c, d, r, parked)
		}
		return e.skip(c, d, parked)
	}
	return e.admit(c, d, parked)
}

// newRecord is the record of a candidate, in no state yet.
func (e *Engine) newRecord(c *candidate) *Record {
	rec := &Record{
		ID: e.store.nextID(),
		Alert: AlertRef{
			Name: c.alert.Name(), Fingerprint: c.alert.Fingerprint,
			Labels: maps.Clone(c.alert.Labels), StartsAt: c.alert.StartsAt,
		},
		Created: c.now,
	}
	if c.rule != nil {
		rec.Rule = c.rule.Name
	}
	e.fill(rec, c)
	return rec
}

// fill copies what the stages found out into rec.
func (e *Engine) fill(rec *Record, c *candidate) {
	if c.rule != nil {
		g := c.rule.Guards
		rec.Action = Action{Agent: c.rule.Agent, Action: c.rule.Action, Data: c.data, Filter: c.spec, Batch: g.Batch, BatchSleep: g.BatchSleep}
	}
	rec.Targets = slices.Clone(c.targets)
	rec.VerifyCheck = c.verifyCheck
	rec.Decided = c.now
}

// skip records an alert a guard refused for good. Alerts no rule matched
// (and resolved ones) leave no record: `pulse alerts` lists them. An
// alert refused again for the same reason updates its record rather than
// adding one, so Alertmanager's resends do not flood the list. Lock must
// be held.
func (e *Engine) skip(c *candidate, d Decision, parked *Record) verdict {
	if parked != nil && d.Rule == "" {
		d.Rule = parked.Rule // resolved: refused before the rule was matched
	}
	e.metrics.skipped.WithLabelValues(d.Rule, string(d.Reason)).Inc()
	if c.rule == nil && parked == nil {
		return verdict{d: d}
	}
	rec := parked
	if rec != nil {
		e.unpark(rec)
		if d.Reason == ReasonResolved {
			d.Detail = "the alert resolved while the decision was deferred"
		}
	} else if prev := e.store.lastSkip(c.alert.Fingerprint); prev != nil && prev.Reason == d.Reason {
		prev.Detail, prev.Decided = d.Detail, c.now
		d.RecordID = prev.ID
		return verdict{d: d}
	} else {
		rec = e.newRecord(c)
	}
	if c.rule != nil {
		e.fill(rec, c)
	}
	rec.State, rec.Reason, rec.Detail, rec.Finished, rec.Retry = StateSkipped, d.Reason, d.Detail, c.now, time.Time{}
	if parked == nil {
		e.store.add(rec)
	}
	e.store.skips[rec.Alert.Fingerprint] = rec.ID
	d.RecordID = rec.ID
	cp := cloneRecord(rec)
	return verdict{d: d, record: &cp, events: []protocol.Event{e.event(rec, fmt.Sprintf("remediation %s (%s) skipped for %s: %s: %s", rec.ID, rec.Rule, rec.Alert.Name, d.Reason, d.Detail))}}
}

// admit records a candidate every stage passed. The remediation takes
// budget and cooldown now, including dry runs and pending approvals, so
// that what a dry run records is what would really have happened. A
// deferred record becomes the remediation. Lock must be held.
func (e *Engine) admit(c *candidate, d Decision, parked *Record) verdict {
	r, g, now := c.rule, c.rule.Guards, c.now
	e.runs[r.Name] = append(e.runs[r.Name], now)
	e.lastRun[c.cooldownKey()] = now
	rec := parked
	if rec != nil {
		e.unpark(rec)
		e.fill(rec, c)
		rec.Reason, rec.Detail, rec.Retry = "", "", time.Time{}
	} else {
		rec = e.newRecord(c)
	}
	d.RecordID = rec.ID
	d.Targets = slices.Clone(c.targets)

	var run *pendingRun
	switch {
	case g.DryRun:
		rec.State = StateDryRun
		rec.Finished = now
		rec.Reason = ReasonDryRun
		rec.Detail = fmt.Sprintf("dry run: would run %s.%s on %s", r.Agent, r.Action, describeTargets(c))
		d.Reason, d.Detail = ReasonDryRun, rec.Detail
		e.metrics.total.WithLabelValues(r.Name, string(StateDryRun)).Inc()
	case g.Approval:
		rec.State = StatePending
		d.Reason, d.Detail = ReasonPendingApproval, fmt.Sprintf("waiting for approval to run %s.%s on %s", r.Agent, r.Action, describeTargets(c))
		rec.Reason, rec.Detail = d.Reason, d.Detail
		e.metrics.skipped.WithLabelValues(r.Name, string(ReasonPendingApproval)).Inc()
	default:
		rec.State = StateRunning
		rec.Started = now
		d.Outcome = Acted
		run = e.runOf(rec, r)
	}
	if rec.State.Live() && c.group != "" {
		e.active[c.group] += len(c.targets)
		e.holds[rec.ID] = hold{group: c.group, n: len(c.targets)}
	}
	// Added only now that rec has its state: before, a new record looks
	// finished and could be pruned while it is about to run.
	if parked == nil {
		e.store.add(rec)
	}
	e.store.admitted(rec)
	cp := cloneRecord(rec)
	return verdict{d: d, run: run, record: &cp, events: []protocol.Event{e.event(rec, fmt.Sprintf("remediation %s (%s): %s.%s on %s: %s", rec.ID, r.Name, r.Agent, r.Action, describeTargets(c), rec.State))}}
}

// runOf is how a record's action runs: on exactly the nodes resolved when
// it was admitted, never on whatever its filter selects later.
func (e *Engine) runOf(rec *Record, r *Rule) *pendingRun {
	act := rec.Action
	act.Filter = filter.Spec{Identity: slices.Clone(rec.Targets)}
	return &pendingRun{id: rec.ID, rule: r, act: act, check: rec.VerifyCheck}
}

// describeTargets names the nodes for a human: the alert's node, or the
// filter and the nodes it resolved to.
func describeTargets(c *candidate) string {
	if len(c.spec.Fact) == 0 {
		return c.key
	}
	return fmt.Sprintf("%s (%s)", c.key, describeFilter(filter.Spec{Identity: c.targets}))
}
