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
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pulseops/pulse/collector/api"
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

// Fleet is the collector's live view of the nodes, which the engine looks
// at before it counts: the nodes an alert names must exist and be up, a
// fact filter resolves to the live nodes it selects (max_targets,
// max_group_percent), and a node whose check passes again needs no repair.
// *collector.Collector is one.
type Fleet interface {
	// Resolve returns the identities of the live nodes spec selects.
	Resolve(filter.Spec) []string
	// Node returns one node as the API shows it and whether it is known.
	Node(identity string) (api.NodeView, bool)
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
	// Fleet is where targets are looked up; required.
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
	// MaxDeferred bounds the decisions waiting for a guard to lift
	// (default 1000); beyond it the oldest is dropped. DeferFor is the
	// longest one waits (default 1h).
	MaxDeferred int
	DeferFor    time.Duration
	// MaxAlerts bounds the firing alerts remembered from webhooks for
	// Firing (default 10000); beyond it the least recently sent goes.
	MaxAlerts int
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

	maxDeferred int
	deferFor    time.Duration
	// wake tells the retry loop a remediation ended, so deferred decisions
	// waiting for one are decided again; loopDone closes when it ends.
	// Tests that drive Retry themselves set noRetryLoop before Start.
	wake        chan struct{}
	loopDone    chan struct{}
	noRetryLoop bool

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
	// parked are the deferred records' IDs, oldest first; parkedBy finds
	// an alert's; alerts holds each one's alert as last received.
	parked   []string
	parkedBy map[string]string // alert fingerprint → record ID
	alerts   map[string]Alert  // record ID → alert
	book     *alertBook
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
		return nil, errors.New("remediation engine: no fleet to look targets up in; pass the collector")
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
		parkedBy: map[string]string{},
		alerts:   map[string]Alert{},
		wake:     make(chan struct{}, 1),
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
	if e.maxDeferred = opts.MaxDeferred; e.maxDeferred <= 0 {
		e.maxDeferred = 1000
	}
	if e.deferFor = opts.DeferFor; e.deferFor <= 0 {
		e.deferFor = time.Hour
	}
	if opts.MaxAlerts <= 0 {
		opts.MaxAlerts = 10000
	}
	e.book = newAlertBook(opts.MaxAlerts)
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
// when it ends. It also decides deferred decisions again as their guards
// lift. Decisions need no Start; an alert decided on before Start or after
// Stop is recorded as failed, never left running.
func (e *Engine) Start(ctx context.Context) {
	e.runMu.Lock()
	defer e.runMu.Unlock()
	if e.ctx == nil {
		e.ctx, e.cancel = context.WithCancel(ctx)
		if e.noRetryLoop {
			return
		}
		done := make(chan struct{})
		e.loopDone = done
		go func(ctx context.Context) {
			defer close(done)
			e.retryLoop(ctx)
		}(e.ctx)
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
	loop := e.loopDone
	e.ctx, e.cancel, e.loopDone = nil, nil, nil
	e.runMu.Unlock()
	if loop != nil {
		<-loop
	}
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
// it decides on in the background; it returns without waiting for them. An
// alert whose decision is deferred is decided again now: a resend may find
// its guard lifted, and a resolved one ends it.
func (e *Engine) Handle(ctx context.Context, w *Webhook) []Decision {
	vs := make([]verdict, 0, len(w.Alerts))
	e.mu.Lock()
	for _, a := range w.Alerts {
		e.book.note(a, e.now())
		vs = append(vs, e.decide(a, e.parkedFor(a.Fingerprint)))
	}
	e.mu.Unlock()
	return e.conclude(ctx, vs)
}

// conclude carries the verdicts out once the lock is released: the log,
// the audit log, the events, and the remediations started.
func (e *Engine) conclude(ctx context.Context, vs []verdict) []Decision {
	decisions := make([]Decision, 0, len(vs))
	for _, v := range vs {
		decisions = append(decisions, v.d)
		e.logDecision(ctx, v.d)
		e.writeAudit("decision", v.d)
		if v.record != nil {
			e.writeAudit("record", *v.record)
		}
		e.emit(v.events)
	}
	for _, v := range vs {
		if v.run != nil {
			e.start(*v.run)
		}
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

// release gives back the group share a live record held, and wakes the
// deferred decisions that may have waited for it. Lock must be held.
func (e *Engine) release(rec *Record) {
	e.wakeUp()
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
