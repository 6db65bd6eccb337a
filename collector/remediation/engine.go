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
	"errors"
	"fmt"
	"io"
	"log/slog"
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
	rules   *RuleSet
	exec    Executor
	fleet   Fleet
	log     *slog.Logger
	onEvent func(protocol.Event)
	now     func() time.Time
	timeout time.Duration
	maxBody int64
	metrics *metrics

	auditMu sync.Mutex
	audit   io.Writer

	// runMu guards ctx and cancel, set by Start and cleared by Stop: a
	// remediation only starts under ctx, and wg is only added to under
	// runMu while ctx is set, so it never races Stop's Wait.
	runMu  sync.Mutex
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// stages are the guards an alert passes, in order (see stages).
	stages []stage

	mu       sync.Mutex // guards everything below
	store    *store
	lastRun  map[string]time.Time   // rule + target → when last acted
	runs     map[string][]time.Time // rule → action times in the last hour
	failures map[string]int         // rule → consecutive failed or ineffective
	open     map[string]bool        // rule → circuit open
	active   map[string]int         // rule + group → targets in live records
	holds    map[string]hold        // record ID → the group share it holds
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
		rules:    opts.Rules,
		exec:     opts.Executor,
		fleet:    opts.Fleet,
		log:      opts.Logger,
		onEvent:  opts.OnEvent,
		now:      opts.Now,
		audit:    opts.Audit,
		timeout:  opts.Timeout,
		maxBody:  opts.MaxBodyBytes,
		stages:   stages,
		lastRun:  map[string]time.Time{},
		runs:     map[string][]time.Time{},
		failures: map[string]int{},
		open:     map[string]bool{},
		active:   map[string]int{},
		holds:    map[string]hold{},
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
	if opts.MaxRecords <= 0 {
		opts.MaxRecords = 1000
	}
	e.store = newStore(opts.MaxRecords)
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
		if rec := e.store.get(d.RecordID); rec != nil {
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

// List returns copies of all records, oldest first.
func (e *Engine) List() []Record {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.store.list()
}

// Get returns a copy of the record with id.
func (e *Engine) Get(id string) (Record, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	r := e.store.get(id)
	if r == nil {
		return Record{}, false
	}
	return cloneRecord(r), true
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

func describeFilter(s filter.Spec) string {
	return strings.Join(append(slices.Clone(s.Identity), s.Fact...), ",")
}
