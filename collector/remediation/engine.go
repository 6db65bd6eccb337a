// Package remediation is pulse's remediation engine: it receives
// Alertmanager webhooks, maps each firing alert to an action through
// remediation rules, runs the action through an Executor on exactly the
// nodes the alert names, verifies the fix by re-running the check, and keeps
// a record of everything it decided and did.
//
// It must never act on an empty filter (that would be the whole fleet),
// never hand an alert label to an agent without validating it, never act on
// a resolved alert, and never block the webhook response on a remediation.
package remediation

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pulseops/pulse/internal/filter"
	"github.com/pulseops/pulse/internal/protocol"
)

// Executor runs one action on the nodes its filter selects and returns one
// result per node that answered. The collector implements it with the
// orchestration client; batching (Batch, BatchSleep) is the Executor's job
// because only it knows the discovered nodes.
type Executor interface {
	Run(ctx context.Context, a Action) ([]NodeResult, error)
}

// Fleet counts the nodes a filter selects, for the max_targets guard on
// fact-filter targets and the max_group_percent guard.
type Fleet interface {
	Count(filter.Spec) int
}

// Errors returned by Approve and Reject; the HTTP handler maps them to 404
// and 409.
var (
	ErrNotFound   = errors.New("remediation not found")
	ErrNotPending = errors.New("remediation is not pending approval")
	errNoTarget   = errors.New("no target")
)

// Options configure an Engine.
type Options struct {
	Rules    *RuleSet
	Executor Executor
	// Fleet is required when a rule uses fact_filter or max_group_percent.
	Fleet Fleet
	// Registerer receives the engine's metrics; nil keeps them private.
	Registerer prometheus.Registerer
	Logger     *slog.Logger
	// OnEvent is called (never under the engine's lock) for every
	// remediation event worth showing a human.
	OnEvent func(protocol.Event)
	// Now is the clock; tests pass a fake one.
	Now func() time.Time
	// Audit receives one JSON line per decision and per record change.
	Audit io.Writer
	// Timeout bounds one remediation including verification (default 5m).
	Timeout time.Duration
	// MaxRecords bounds the finished records kept in memory (default 1000).
	MaxRecords int
	// MaxBodyBytes bounds a webhook body (default 1 MiB).
	MaxBodyBytes int64
}

// Engine decides and runs remediations. It is safe for concurrent use.
type Engine struct {
	rules      *RuleSet
	exec       Executor
	fleet      Fleet
	log        *slog.Logger
	onEvent    func(protocol.Event)
	now        func() time.Time
	timeout    time.Duration
	maxRecords int
	maxBody    int64
	metrics    *metrics
	idPrefix   string

	auditMu sync.Mutex
	audit   io.Writer

	// runMu guards ctx and cancel, set by Start and cleared by Stop: a
	// remediation only starts under ctx, and wg is only added to under
	// runMu while ctx is set, so it never races Stop's Wait.
	runMu  sync.Mutex
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu            sync.Mutex // guards everything below
	seq           uint64
	records       map[string]*Record
	order         []string               // record IDs, oldest first
	byFingerprint map[string]string      // alert fingerprint → latest record ID
	lastRun       map[string]time.Time   // rule + target → when last acted
	runs          map[string][]time.Time // rule → action times in the last hour
	failures      map[string]int         // rule → consecutive failed or ineffective
	open          map[string]bool        // rule → circuit open
	active        map[string]int         // rule + group → targets in live records
	holds         map[string]hold        // record ID → the group share it holds
}

// hold is the max_group_percent share a live record holds, given back when
// it finishes.
type hold struct {
	group string
	n     int
}

// New builds an Engine from opts.
func New(opts Options) (*Engine, error) {
	if opts.Rules == nil {
		return nil, errors.New("remediation engine: no rules; load them with LoadRules")
	}
	if opts.Executor == nil {
		return nil, errors.New("remediation engine: no executor to run actions with")
	}
	if opts.Fleet == nil {
		for _, r := range opts.Rules.Rules {
			if len(r.factFilter) > 0 || r.Guards.MaxGroupPercent > 0 {
				return nil, fmt.Errorf("remediation engine: rule %q needs a fleet to count nodes (fact_filter or max_group_percent) but none was given", r.Name)
			}
		}
	}
	e := &Engine{
		rules:         opts.Rules,
		exec:          opts.Executor,
		fleet:         opts.Fleet,
		log:           opts.Logger,
		onEvent:       opts.OnEvent,
		now:           opts.Now,
		audit:         opts.Audit,
		timeout:       opts.Timeout,
		maxRecords:    opts.MaxRecords,
		maxBody:       opts.MaxBodyBytes,
		records:       map[string]*Record{},
		byFingerprint: map[string]string{},
		lastRun:       map[string]time.Time{},
		runs:          map[string][]time.Time{},
		failures:      map[string]int{},
		open:          map[string]bool{},
		active:        map[string]int{},
		holds:         map[string]hold{},
	}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	e.log = e.log.With("component", "remediation")
	if e.now == nil {
		e.now = time.Now
	}
	if e.timeout <= 0 {
		e.timeout = 5 * time.Minute
	}
	if e.maxRecords <= 0 {
		e.maxRecords = 1000
	}
	if e.maxBody <= 0 {
		e.maxBody = 1 << 20
	}
	reg := opts.Registerer
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m, err := newMetrics(reg, opts.Rules)
	if err != nil {
		return nil, err
	}
	e.metrics = m
	var b [4]byte
	_, _ = rand.Read(b[:])
	// A random prefix keeps IDs unique across collector restarts, which the
	// audit log outlives.
	e.idPrefix = hex.EncodeToString(b[:])
	return e, nil
}

// Start lets the engine run remediations, under ctx: they are cancelled
// when it ends. Decisions need no Start; an alert decided on before Start
// or after Stop is recorded as failed, never left running.
func (e *Engine) Start(ctx context.Context) {
	e.runMu.Lock()
	defer e.runMu.Unlock()
	if e.ctx == nil {
		e.ctx, e.cancel = context.WithCancel(ctx)
	}
}

// running reports whether the engine is between Start and Stop.
func (e *Engine) running() bool {
	e.runMu.Lock()
	defer e.runMu.Unlock()
	return e.ctx != nil
}

// Wait blocks until every running remediation has finished.
func (e *Engine) Wait() { e.wg.Wait() }

// Stop cancels running remediations and waits for them; it is safe to call
// more than once.
func (e *Engine) Stop() {
	e.runMu.Lock()
	if e.cancel != nil {
		e.cancel()
	}
	e.ctx, e.cancel = nil, nil
	e.runMu.Unlock()
	e.wg.Wait()
}

// pendingRun is a remediation to start once the lock is released, with
// the action and verify check copied from its record.
type pendingRun struct {
	id    string
	rule  *Rule
	act   Action
	check string
}

// Handle decides what to do for each alert in w and starts the remediations
// it decides on in the background; it returns without waiting for them.
func (e *Engine) Handle(ctx context.Context, w *Webhook) []Decision {
	var (
		decisions = make([]Decision, 0, len(w.Alerts))
		starts    []pendingRun
		events    []protocol.Event
		// audited holds a copy of each new record by ID for the audit
		// log, taken under the lock and only when there is a log.
		audited map[string]Record
	)
	e.mu.Lock()
	for _, a := range w.Alerts {
		d, run, ev := e.decide(a)
		decisions = append(decisions, d)
		if run != nil {
			starts = append(starts, *run)
		}
		events = append(events, ev...)
		if e.audit == nil || d.RecordID == "" {
			continue
		}
		// A dry run's record is finished at once and may already be
		// pruned; it is then left out of the log.
		if rec := e.records[d.RecordID]; rec != nil {
			if audited == nil {
				audited = map[string]Record{}
			}
			audited[rec.ID] = cloneRecord(rec)
		}
	}
	e.mu.Unlock()

	for _, d := range decisions {
		e.logDecision(ctx, d)
		e.writeAudit("decision", d)
		if rec, ok := audited[d.RecordID]; ok {
			e.writeAudit("record", rec)
		}
	}
	e.emit(events)
	for _, s := range starts {
		e.start(s)
	}
	return decisions
}

// decide runs the guards for one alert, in the order that gives the most
// useful reason: cheap and certain refusals first, budgets last so a refused
// alert never consumes budget. Lock must be held.
func (e *Engine) decide(a Alert) (Decision, *pendingRun, []protocol.Event) {
	d := Decision{Alert: a.Name(), Fingerprint: a.Fingerprint, Outcome: Skipped}
	skip := func(reason Reason, format string, args ...any) (Decision, *pendingRun, []protocol.Event) {
		d.Reason = reason
		d.Detail = fmt.Sprintf(format, args...)
		e.metrics.skipped.WithLabelValues(d.Rule, string(reason)).Inc()
		return d, nil, nil
	}
	if a.Status != StatusFiring {
		return skip(ReasonResolved, "alert is %s; only firing alerts are remediated", a.Status)
	}
	r := e.rules.Match(a.Labels)
	if r == nil {
		return skip(ReasonNoRule, "no remediation rule matches this alert")
	}
	d.Rule = r.Name
	now := e.now()
	g := r.Guards
	if id, ok := e.byFingerprint[a.Fingerprint]; ok {
		if prev := e.records[id]; prev != nil {
			if prev.State.Live() {
				return skip(ReasonDuplicate, "remediation %s for this alert is %s", prev.ID, prev.State)
			}
			if until := prev.Created.Add(g.Cooldown); now.Before(until) {
				return skip(ReasonDuplicate, "remediation %s handled this alert %s ago (cooldown %s)", prev.ID, now.Sub(prev.Created).Round(time.Second), g.Cooldown)
			}
		}
	}
	if e.open[r.Name] {
		return skip(ReasonCircuitOpen, "circuit breaker for rule %s is open after %d failed or ineffective remediations; reset it once the cause is fixed", r.Name, g.CircuitBreaker)
	}
	spec, key, err := r.target(a)
	if errors.Is(err, errNoTarget) {
		return skip(ReasonNoTarget, "refused: %v; a remediation never runs without a target", err)
	}
	if err != nil {
		return skip(ReasonInvalidValue, "refused: %v", err)
	}
	data, err := r.renderData(a)
	if err != nil {
		return skip(ReasonInvalidValue, "refused: %v", err)
	}
	verifyCheck := ""
	if r.verifyCheck != nil {
		if verifyCheck, err = render(r.verifyCheck, a); err != nil {
			return skip(ReasonInvalidValue, "refused: %v", err)
		}
	}
	var targets []string
	n := len(spec.Identity)
	if len(spec.Fact) > 0 {
		n = e.fleet.Count(spec)
		if n == 0 {
			return skip(ReasonNoTarget, "refused: no node matches %s", key)
		}
	} else {
		targets = slices.Clone(spec.Identity)
	}
	if n > g.MaxTargets {
		return skip(ReasonTooManyTargets, "%d nodes match %s, more than max_targets %d", n, key, g.MaxTargets)
	}
	groupKey := ""
	if g.MaxGroupPercent > 0 {
		gv := a.Labels[g.GroupLabel]
		if !safeValue.MatchString(gv) {
			return skip(ReasonTooManyTargets, "alert has no valid %q label, so the share of its group cannot be bounded", g.GroupLabel)
		}
		fact := g.GroupFact
		if fact == "" {
			fact = g.GroupLabel
		}
		size := e.fleet.Count(filter.Spec{Fact: []string{fact + "=" + gv}})
		allowed := int(float64(size) * g.MaxGroupPercent / 100)
		groupKey = r.Name + "\x00" + gv
		if busy := e.active[groupKey]; busy+n > allowed {
			return skip(ReasonTooManyTargets, "%d of %d nodes in %s=%s already under remediation; %d more would exceed max_group_percent %g (%d nodes)", busy, size, g.GroupLabel, gv, n, g.MaxGroupPercent, allowed)
		}
	}
	cdKey := r.Name + "\x00" + key
	if last, ok := e.lastRun[cdKey]; ok && now.Before(last.Add(g.Cooldown)) {
		return skip(ReasonCooldown, "rule %s acted on %s %s ago (cooldown %s)", r.Name, key, now.Sub(last).Round(time.Second), g.Cooldown)
	}
	recent := e.runs[r.Name][:0]
	for _, t := range e.runs[r.Name] {
		if now.Sub(t) < time.Hour {
			recent = append(recent, t)
		}
	}
	e.runs[r.Name] = recent
	if len(recent) >= g.MaxPerHour {
		return skip(ReasonBudget, "rule %s already acted %d times in the last hour (max_per_hour %d)", r.Name, len(recent), g.MaxPerHour)
	}

	// Every guard passed: the remediation takes budget and cooldown now,
	// including dry runs and pending approvals, so that what a dry run
	// records is what would really have happened.
	e.runs[r.Name] = append(e.runs[r.Name], now)
	e.lastRun[cdKey] = now
	e.seq++
	rec := &Record{
		ID:   fmt.Sprintf("%s-%06d", e.idPrefix, e.seq),
		Rule: r.Name,
		Alert: AlertRef{
			Name: a.Name(), Fingerprint: a.Fingerprint,
			Labels: maps.Clone(a.Labels), StartsAt: a.StartsAt,
		},
		Action: Action{
			Agent: r.Agent, Action: r.Action, Data: data, Filter: spec,
			Batch: g.Batch, BatchSleep: g.BatchSleep,
		},
		Targets:     targets,
		VerifyCheck: verifyCheck,
		Created:     now,
	}
	e.records[rec.ID] = rec
	e.order = append(e.order, rec.ID)
	e.byFingerprint[a.Fingerprint] = rec.ID
	d.RecordID = rec.ID
	d.Targets = slices.Clone(targets)

	var run *pendingRun
	switch {
	case g.DryRun:
		rec.State = StateDryRun
		rec.Finished = now
		d.Reason, d.Detail = ReasonDryRun, fmt.Sprintf("dry run: would run %s.%s on %s", r.Agent, r.Action, key)
		e.metrics.total.WithLabelValues(r.Name, string(StateDryRun)).Inc()
	case g.Approval:
		rec.State = StatePending
		d.Reason, d.Detail = ReasonPendingApproval, fmt.Sprintf("waiting for approval to run %s.%s on %s", r.Agent, r.Action, key)
		e.metrics.skipped.WithLabelValues(r.Name, string(ReasonPendingApproval)).Inc()
	default:
		rec.State = StateRunning
		rec.Started = now
		d.Outcome = Acted
		run = &pendingRun{id: rec.ID, rule: r, act: rec.Action, check: rec.VerifyCheck}
	}
	if rec.State.Live() && groupKey != "" {
		e.active[groupKey] += n
		e.holds[rec.ID] = hold{group: groupKey, n: n}
	}
	// Pruned only now that rec has its state: before, a new record looks
	// finished and could be dropped while it is about to run.
	e.prune()
	return d, run, []protocol.Event{e.event(rec, fmt.Sprintf("remediation %s (%s): %s.%s on %s: %s", rec.ID, r.Name, r.Agent, r.Action, key, rec.State))}
}

// prune drops the oldest finished records beyond maxRecords. Lock must be
// held.
func (e *Engine) prune() {
	for len(e.order) > e.maxRecords {
		i := slices.IndexFunc(e.order, func(id string) bool { return !e.records[id].State.Live() })
		if i < 0 {
			return
		}
		id := e.order[i]
		fp := e.records[id].Alert.Fingerprint
		if e.byFingerprint[fp] == id {
			delete(e.byFingerprint, fp)
		}
		delete(e.records, id)
		if i == 0 {
			// The usual case: the oldest record is finished. Reslicing
			// avoids shifting every other ID on each new record; append
			// reallocates the backing array once it runs out.
			e.order = e.order[1:]
		} else {
			e.order = slices.Delete(e.order, i, i+1)
		}
	}
}

// List returns copies of all records, oldest first.
func (e *Engine) List() []Record {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]Record, 0, len(e.order))
	for _, id := range e.order {
		out = append(out, cloneRecord(e.records[id]))
	}
	return out
}

// Get returns a copy of the record with id.
func (e *Engine) Get(id string) (Record, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	r, ok := e.records[id]
	if !ok {
		return Record{}, false
	}
	return cloneRecord(r), true
}

// Approve starts a pending remediation on behalf of by.
func (e *Engine) Approve(id, by string) error {
	e.mu.Lock()
	rec, err := e.pending(id)
	if err != nil {
		e.mu.Unlock()
		return err
	}
	r := e.rules.Rule(rec.Rule)
	if e.open[rec.Rule] {
		e.mu.Unlock()
		return fmt.Errorf("approve remediation %s: circuit breaker for rule %s is open; reset it or reject the remediation", id, rec.Rule)
	}
	rec.State = StateRunning
	rec.ApprovedBy = by
	rec.Started = e.now()
	run := pendingRun{id: id, rule: r, act: rec.Action, check: rec.VerifyCheck}
	ev := e.event(rec, fmt.Sprintf("remediation %s (%s) approved by %s", id, rec.Rule, by))
	e.mu.Unlock()
	e.emit([]protocol.Event{ev})
	e.start(run)
	return nil
}

// Reject closes a pending remediation without running it.
func (e *Engine) Reject(id, by string) error {
	e.mu.Lock()
	rec, err := e.pending(id)
	if err != nil {
		e.mu.Unlock()
		return err
	}
	rec.State = StateRejected
	rec.RejectedBy = by
	rec.Finished = e.now()
	e.release(rec)
	e.metrics.total.WithLabelValues(rec.Rule, string(StateRejected)).Inc()
	ev := e.event(rec, fmt.Sprintf("remediation %s (%s) rejected by %s", id, rec.Rule, by))
	c := cloneRecord(rec)
	e.mu.Unlock()
	e.writeAudit("record", c)
	e.emit([]protocol.Event{ev})
	return nil
}

// pending returns the pending record id. Lock must be held.
func (e *Engine) pending(id string) (*Record, error) {
	rec, ok := e.records[id]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	if rec.State != StatePending {
		return nil, fmt.Errorf("%w: %s is %s", ErrNotPending, id, rec.State)
	}
	return rec, nil
}

// ResetCircuit closes the circuit breaker of rule, after a human has fixed
// whatever made its remediations fail.
func (e *Engine) ResetCircuit(rule string) {
	e.mu.Lock()
	wasOpen := e.open[rule]
	delete(e.open, rule)
	delete(e.failures, rule)
	e.metrics.circuit.WithLabelValues(rule).Set(0)
	e.mu.Unlock()
	if wasOpen {
		e.log.Info("circuit breaker reset", "rule", rule)
		e.emit([]protocol.Event{{Type: protocol.EventRemediation, Time: e.now(), Message: fmt.Sprintf("circuit breaker for rule %s reset", rule)}})
	}
}

// CircuitOpen reports whether the circuit breaker of rule is open.
func (e *Engine) CircuitOpen(rule string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.open[rule]
}

// release gives back the group share a live record held. Lock must be held.
func (e *Engine) release(rec *Record) {
	h, ok := e.holds[rec.ID]
	if !ok {
		return
	}
	delete(e.holds, rec.ID)
	e.active[h.group] -= h.n
	if e.active[h.group] <= 0 {
		delete(e.active, h.group)
	}
}

// event describes rec for OnEvent. Copying the record is the costly part, so
// nothing is built when nobody listens.
func (e *Engine) event(rec *Record, msg string) protocol.Event {
	if e.onEvent == nil {
		return protocol.Event{}
	}
	ev := protocol.Event{Type: protocol.EventRemediation, Time: e.now(), Check: rec.Alert.Labels["check"], Message: msg, Data: cloneRecord(rec)}
	if len(rec.Targets) == 1 {
		ev.Identity = rec.Targets[0]
	}
	return ev
}

func (e *Engine) emit(evs []protocol.Event) {
	if e.onEvent == nil {
		return
	}
	for _, ev := range evs {
		e.onEvent(ev)
	}
}

func (e *Engine) logDecision(ctx context.Context, d Decision) {
	level := slog.LevelInfo
	switch d.Reason {
	case ReasonResolved, ReasonNoRule, ReasonDuplicate:
		level = slog.LevelDebug
	case ReasonNoTarget, ReasonInvalidValue, ReasonCircuitOpen, ReasonTooManyTargets:
		level = slog.LevelWarn
	}
	e.log.Log(ctx, level, "remediation decision", "alert", d.Alert, "fingerprint", d.Fingerprint,
		"rule", d.Rule, "outcome", d.Outcome, "reason", d.Reason, "detail", d.Detail, "record", d.RecordID)
}

type auditLine struct {
	Time time.Time `json:"time"`
	Kind string    `json:"kind"`
	Data any       `json:"data"`
}

func (e *Engine) writeAudit(kind string, v any) {
	if e.audit == nil {
		return
	}
	b, err := json.Marshal(auditLine{Time: e.now(), Kind: kind, Data: v})
	if err != nil {
		e.log.Error("encode audit line", "kind", kind, "err", err)
		return
	}
	e.auditMu.Lock()
	defer e.auditMu.Unlock()
	if _, err := e.audit.Write(append(b, '\n')); err != nil {
		e.log.Error("write audit line; the audit log is incomplete", "kind", kind, "err", err)
	}
}

func describeFilter(s filter.Spec) string {
	return strings.Join(append(slices.Clone(s.Identity), s.Fact...), ",")
}
