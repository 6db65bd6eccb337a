// Package rollout changes a package on a set of nodes in steps — a canary,
// then batches — and judges each step by the changed nodes' own evidence:
// their checks and probes, re-run after the change, and optional PromQL
// gates. A step that fails halts the rollout and, unless told otherwise,
// puts every changed node back to the version it had, and verifies it.
// Every rollout is a record (collector/api.Rollout) published on the bus as
// it moves; a lock per node, in a JetStream key-value bucket, keeps two
// rollouts off the same nodes.
//
// One implementation serves `pulse rollout` (the CLI runs it itself) and
// the collector's POST /api/v1/rollouts. It acts on the fleet only through
// the orchestration client, as the caller it was given, and never leaves a
// rollout without a final state: whatever stops it, the record says where
// every node stands.
package rollout

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pulseops/pulse/collector/api"
	"github.com/pulseops/pulse/internal/protocol"
	"github.com/pulseops/pulse/internal/rpc"
)

// Doer runs one call on the fleet; *rpc.Client is one.
type Doer interface {
	Do(ctx context.Context, call rpc.Call) (*rpc.Result, error)
}

// Locker holds nodes for one rollout at a time; *Locks is one.
type Locker interface {
	// Acquire holds every node for h's rollout, or none: a node another
	// rollout holds is a *ConflictError naming it.
	Acquire(ctx context.Context, nodes []string, h Hold) (release func(), err error)
}

// Options configure a Runner.
type Options struct {
	Client Doer
	// Caller is who the rollouts are run as ("user=alice", "collector"),
	// Via the door they came in by (protocol.ViaCLI, protocol.ViaAPI).
	Caller string
	Via    string
	// Prometheus is the base URL PromQL gates query.
	Prometheus string
	Locks      Locker
	// Publish records the rollout each time it moves; an error is logged,
	// never stops the rollout.
	Publish func(ctx context.Context, rec *api.Rollout) error
	// Progress, when set, is told in human words what happens, line by
	// line, as mco prints batches.
	Progress func(line string)
	// Timeout is how long a step waits for the package manager on its
	// nodes (5m); DiscoveryTimeout bounds discovery (2s).
	Timeout          time.Duration
	DiscoveryTimeout time.Duration
	Logger           *slog.Logger
	Now              func() time.Time
}

// Runner runs rollouts.
type Runner struct {
	opts Options
	log  *slog.Logger
}

// New builds a Runner.
func New(opts Options) (*Runner, error) {
	if opts.Client == nil || opts.Locks == nil {
		return nil, errors.New("rollout: a client and locks are needed")
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Minute
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Via == "" {
		opts.Via = protocol.ViaCLI
	}
	return &Runner{opts: opts, log: opts.Logger.With("component", "rollout")}, nil
}

// UsageError is a rollout refused before anything changed because of what
// was asked: the CLI exits 2, the API answers 400.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

func usage(format string, args ...any) error {
	return &UsageError{Err: fmt.Errorf(format, args...)}
}

// RefusedError is a rollout that could not start on these nodes now:
// nodes that do not answer, or whose version cannot be read. Nothing
// changed.
type RefusedError struct{ Err error }

func (e *RefusedError) Error() string { return e.Err.Error() }
func (e *RefusedError) Unwrap() error { return e.Err }

func refused(format string, args ...any) error {
	return &RefusedError{Err: fmt.Errorf(format, args...)}
}

// Defaults of a rollout's shape.
const (
	DefaultCanary       = "1"
	DefaultBatch        = "25%"
	DefaultEvidenceWait = 30 * time.Second
	// maxEvidencePerStep bounds the passing nodes' evidence a record
	// keeps per step (every failing node's is kept), so a record of a
	// large rollout stays within a message.
	maxEvidencePerStep = 20
	// maxOutput bounds a check's or probe's output in a record.
	maxOutput = 256
)

// plan is a checked request.
type plan struct {
	req          api.RolloutRequest
	canary       rpc.Count
	batch        rpc.Count
	rollback     bool
	evidenceWait time.Duration
	prom         *prometheus
}

// check validates req and fills in its defaults; errors are UsageErrors.
func (r *Runner) check(req api.RolloutRequest) (*plan, error) {
	p := &plan{req: req, rollback: req.Rollback == nil || *req.Rollback, evidenceWait: time.Duration(req.EvidenceWait)}
	switch {
	case req.Package == "" || strings.ContainsAny(req.Package, " \t\n/"):
		return nil, usage("package %q is not a package name", req.Package)
	case req.Version == "" || strings.ContainsAny(req.Version, " \t\n"):
		return nil, usage("a rollout needs the version to roll out (--version), got %q", req.Version)
	case req.Filter.Empty() && len(req.Nodes) == 0:
		return nil, usage("refusing to roll out to the whole fleet: give a filter or nodes (-W role=web, --nodes FILE)")
	case p.evidenceWait < 0 || p.evidenceWait > maxRerunWait:
		return nil, usage("evidence wait %s must be between 0 and %s", p.evidenceWait, maxRerunWait)
	case req.BatchSleep < 0:
		return nil, usage("batch sleep must not be negative")
	}
	if p.evidenceWait == 0 {
		p.evidenceWait = DefaultEvidenceWait
	}
	canary := req.Canary
	if canary == "" {
		canary = DefaultCanary
	}
	if canary != "0" {
		c, err := rpc.ParseCount(canary)
		if err != nil {
			return nil, usage("canary: %v", err)
		}
		p.canary = c
	}
	batch := req.Batch
	if batch == "" {
		batch = DefaultBatch
	}
	b, err := rpc.ParseCount(batch)
	if err != nil {
		return nil, usage("batch: %v", err)
	}
	p.batch = b
	seen := map[string]bool{}
	for i := range p.req.Gates {
		g := &p.req.Gates[i]
		if err := CheckGate(g); err != nil {
			return nil, usage("%v", err)
		}
		if seen[g.Name] {
			return nil, usage("gate %q is given twice", g.Name)
		}
		seen[g.Name] = true
	}
	if len(p.req.Gates) > 0 {
		if r.opts.Prometheus == "" {
			return nil, usage("PromQL gates need a Prometheus: set --prometheus URL (or prometheus: in the gates file)")
		}
		if p.prom, err = newPrometheus(r.opts.Prometheus); err != nil {
			return nil, usage("%v", err)
		}
	}
	return p, nil
}

// maxRerunWait is the longest a node's health agent waits for its checks
// and probes (nodeagent's bound).
const maxRerunWait = 5 * time.Minute

// run is one rollout under way: its record, guarded by mu, and what it
// needs to move it.
type run struct {
	r    *Runner
	p    *plan
	mu   sync.Mutex
	rec  api.Rollout
	node map[string]*api.RolloutNode
}

// Run runs the rollout req asks for and returns its final record. An
// error with a zero record means nothing was changed: a UsageError (what
// was asked cannot be done), a RefusedError or a *ConflictError (not on
// these nodes, not now). Once nodes change, Run always returns the record
// with its final state; a rollout whose ctx ends halts as if a step had
// failed, and rolls back (on a context of its own, bounded by Timeout).
func (r *Runner) Run(ctx context.Context, req api.RolloutRequest) (api.Rollout, error) {
	return r.run(ctx, req, nil)
}

// run is Run, telling started the rollout's id once it holds its nodes and
// its first record is out.
func (r *Runner) run(ctx context.Context, req api.RolloutRequest, started func(id string)) (api.Rollout, error) {
	p, err := r.check(req)
	if err != nil {
		return api.Rollout{}, err
	}
	targets, before, err := r.discover(ctx, p)
	if err != nil {
		return api.Rollout{}, err
	}
	u := &run{r: r, p: p, node: map[string]*api.RolloutNode{}}
	now := r.opts.Now().UTC()
	u.rec = api.Rollout{
		ID: newID(), Package: req.Package, Version: req.Version, Filter: req.Filter, StartedBy: r.opts.Caller, Via: r.opts.Via,
		State: api.RolloutRunning, Rollback: p.rollback, Started: now, Updated: now, CommittedAt: req.CommittedAt,
		Canary: p.canary.String(), Batch: p.batch.String(), Gates: p.req.Gates,
	}
	if u.rec.Canary == "" {
		u.rec.Canary = "0"
	}
	for i, nodes := range steps(targets, p.canary, p.batch) {
		name := fmt.Sprintf("batch %d", i)
		if i == 0 && !p.canary.IsZero() {
			name = "canary"
		} else if p.canary.IsZero() {
			name = fmt.Sprintf("batch %d", i+1)
		}
		u.rec.Steps = append(u.rec.Steps, api.RolloutStep{Name: name, Nodes: nodes, State: api.StepPending})
		for _, n := range nodes {
			u.rec.Nodes = append(u.rec.Nodes, api.RolloutNode{Identity: n, Before: before[n], After: before[n], Step: i, State: api.NodePending})
		}
	}
	for i := range u.rec.Nodes {
		u.node[u.rec.Nodes[i].Identity] = &u.rec.Nodes[i]
	}
	release, err := r.opts.Locks.Acquire(ctx, targets, Hold{Rollout: u.rec.ID, By: r.opts.Caller, Package: req.Package, Version: req.Version, Since: now})
	if err != nil {
		return api.Rollout{}, err
	}
	defer release()
	u.say("Rollout %s of %s %s to %d nodes: %s", u.rec.ID, req.Package, req.Version, len(targets), u.shape())
	u.publish(ctx)
	if started != nil {
		started(u.rec.ID)
	}

	failed := -1
	for i := range u.rec.Steps {
		if i > 0 && req.BatchSleep > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(time.Duration(req.BatchSleep)):
			}
		}
		if ctx.Err() != nil {
			u.fail(i, api.StepFailure{Gate: "interrupted", Message: "interrupted before step " + u.rec.Steps[i].Name})
			failed = i
			break
		}
		if !u.step(ctx, i) {
			failed = i
			break
		}
	}
	if failed < 0 {
		u.finish(api.RolloutSucceeded, "")
		return u.record(), nil
	}
	u.halt(failed)
	return u.record(), nil
}

// discover finds the targets and the version each has now, in one
// package#status call; nodes that do not answer, or cannot say, refuse the
// rollout before anything changes.
func (r *Runner) discover(ctx context.Context, p *plan) ([]string, map[string]string, error) {
	res, err := r.opts.Client.Do(ctx, rpc.Call{
		Agent: "package", Action: "status", Data: map[string]string{"package": p.req.Package},
		Filter: p.req.Filter, Nodes: p.req.Nodes, DiscoveryTimeout: r.opts.DiscoveryTimeout,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("find the nodes and their %s versions: %w", p.req.Package, err)
	}
	if len(res.Targets) == 0 {
		return nil, nil, refused("no node matches the filter: nothing to roll out")
	}
	if len(res.NoResponse) > 0 {
		return nil, nil, refused("%s did not answer with %s's version, so they cannot be rolled out or back: nothing was changed (leave them out with a filter, or --nodes)",
			names(res.NoResponse), p.req.Package)
	}
	before := make(map[string]string, len(res.Replies))
	var bad []string
	for _, rep := range res.Replies {
		ensure, _ := rep.DataMap()["ensure"].(string)
		if rep.Status != protocol.OK || ensure == "" {
			bad = append(bad, fmt.Sprintf("%s: %s", rep.Identity, rep.StatusMsg))
			continue
		}
		before[rep.Identity] = ensure
	}
	if len(bad) > 0 {
		sort := slices.Clone(bad)
		slices.Sort(sort)
		return nil, nil, refused("cannot read %s's version, so the rollout could not be undone: %s; nothing was changed", p.req.Package, strings.Join(sort[:min(len(sort), 5)], "; "))
	}
	targets := slices.Sorted(maps.Keys(before))
	return targets, before, nil
}

// steps cuts targets into the canary and batches.
func steps(targets []string, canary, batch rpc.Count) [][]string {
	var out [][]string
	rest := targets
	if !canary.IsZero() {
		n := min(max(canary.Of(len(targets)), 1), len(rest))
		out, rest = append(out, rest[:n]), rest[n:]
	}
	size := max(batch.Of(len(targets)), 1)
	for len(rest) > 0 {
		n := min(size, len(rest))
		out, rest = append(out, rest[:n]), rest[n:]
	}
	return out
}

func (u *run) shape() string {
	var parts []string
	for _, s := range u.rec.Steps {
		parts = append(parts, fmt.Sprintf("%s %d", s.Name, len(s.Nodes)))
	}
	return strings.Join(parts, ", ")
}

// step runs step i: change, evidence, gates. It reports whether the step
// passed.
func (u *run) step(ctx context.Context, i int) bool {
	u.mu.Lock()
	s := &u.rec.Steps[i]
	s.State, s.Started = api.StepRunning, u.now()
	nodes := slices.Clone(s.Nodes)
	u.mu.Unlock()
	u.say("step %s: %s", s.Name, names(nodes))
	u.publish(ctx)

	changed := u.change(ctx, i, nodes)
	if len(u.rec.Steps[i].Failures) == 0 && len(changed) > 0 {
		u.evidence(ctx, i, changed)
	}
	if len(u.rec.Steps[i].Failures) == 0 && len(u.p.req.Gates) > 0 {
		u.gates(ctx, i)
	}
	u.mu.Lock()
	s = &u.rec.Steps[i]
	s.Finished = u.now()
	ok := len(s.Failures) == 0
	if ok {
		s.State = api.StepPassed
	} else {
		s.State = api.StepFailed
	}
	u.mu.Unlock()
	if ok {
		u.say("step %s passed", s.Name)
	}
	u.publish(ctx)
	return ok
}

// change installs the version on nodes and returns those now at it.
func (u *run) change(ctx context.Context, i int, nodes []string) []string {
	req := u.p.req
	res, err := u.r.opts.Client.Do(ctx, rpc.Call{
		Agent: "package", Action: "install", Data: map[string]string{"package": req.Package, "version": req.Version},
		Nodes: nodes, Timeout: u.r.opts.Timeout,
		Origin: &protocol.Origin{Via: protocol.ViaRollout, ID: u.rec.ID, CommittedAt: req.CommittedAt},
	})
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("interrupted during step %s", u.rec.Steps[i].Name)
		}
		// Nothing is known of what reached which node: every one is
		// failed, at a version to be found out by the rollback.
		u.mu.Lock()
		for _, n := range nodes {
			u.node[n].State, u.node[n].After, u.node[n].Message = api.NodeFailed, "unknown", err.Error()
		}
		u.mu.Unlock()
		gate := "install"
		if ctx.Err() != nil {
			gate = "interrupted"
		}
		u.fail(i, api.StepFailure{Gate: gate, Message: err.Error()})
		return nil
	}
	var changed []string
	var failures []api.StepFailure
	u.mu.Lock()
	for _, rep := range res.Replies {
		n := u.node[rep.Identity]
		if n == nil {
			continue // not a target of this step: ignored, as rpc ignores strays
		}
		ensure, _ := rep.DataMap()["ensure"].(string)
		switch {
		case rep.Status != protocol.OK:
			n.State, n.After, n.Message = api.NodeFailed, or(ensure, "unknown"), rep.StatusMsg
			failures = append(failures, api.StepFailure{Gate: "install", Node: n.Identity, Message: rep.StatusMsg})
		case ensure != req.Version:
			n.State, n.After = api.NodeFailed, or(ensure, "unknown")
			n.Message = fmt.Sprintf("install succeeded but the node reports %s %s", req.Package, n.After)
			failures = append(failures, api.StepFailure{Gate: "install", Node: n.Identity, Message: n.Message})
		default:
			n.After, n.State = ensure, api.NodeChanged
			if n.Before == ensure {
				n.State = api.NodeUnchanged
			}
			changed = append(changed, n.Identity)
		}
	}
	for _, id := range res.NoResponse {
		n := u.node[id]
		n.State, n.After = api.NodeFailed, "unknown"
		n.Message = fmt.Sprintf("no answer within %s: the install may still be running there", u.r.opts.Timeout)
		failures = append(failures, api.StepFailure{Gate: "install", Node: id, Message: n.Message})
	}
	lines := make([]string, 0, len(nodes))
	for _, id := range nodes {
		n := u.node[id]
		line := fmt.Sprintf("  %-30s %s %s → %s", id, req.Package, n.Before, n.After)
		if n.State == api.NodeFailed {
			line += "  FAILED: " + n.Message
		}
		lines = append(lines, line)
	}
	u.mu.Unlock()
	for _, l := range lines {
		u.say("%s", l)
	}
	u.fail(i, failures...)
	u.publish(ctx)
	return changed
}

// evidence asks the changed nodes to run their own checks and probes now
// and judges what they report.
func (u *run) evidence(ctx context.Context, i int, nodes []string) {
	wait := u.p.evidenceWait
	res, err := u.r.opts.Client.Do(ctx, rpc.Call{
		Agent: "health", Action: "rerun", Data: map[string]string{"wait": wait.String()},
		Nodes: nodes, Timeout: wait + 10*time.Second,
	})
	if err != nil {
		if ctx.Err() != nil {
			u.fail(i, api.StepFailure{Gate: "interrupted", Message: "interrupted during step " + u.rec.Steps[i].Name})
			return
		}
		u.fail(i, api.StepFailure{Gate: "checks", Message: "asking the nodes for their checks and probes: " + err.Error()})
		return
	}
	var failures []api.StepFailure
	var evidence []api.NodeEvidence
	passing := 0
	for _, rep := range res.Replies {
		ev := api.NodeEvidence{Identity: rep.Identity, Checks: []api.JobResult{}, Probes: []api.JobResult{}}
		var h healthReply
		if rep.Status != protocol.OK {
			ev.Error = rep.StatusMsg
			failures = append(failures, api.StepFailure{Gate: "checks", Node: rep.Identity, Message: "the node did not report its checks and probes: " + rep.StatusMsg})
		} else if err := json.Unmarshal(rep.Data, &h); err != nil {
			ev.Error = err.Error()
			failures = append(failures, api.StepFailure{Gate: "checks", Node: rep.Identity, Message: "unreadable checks and probes: " + err.Error()})
		}
		for _, j := range h.Checks {
			ev.Checks = append(ev.Checks, j.view())
			if f, bad := j.judge("check", wait); bad {
				failures = append(failures, api.StepFailure{Gate: "checks", Node: rep.Identity, Message: f})
			}
		}
		for _, j := range h.Probes {
			ev.Probes = append(ev.Probes, j.view())
			if f, bad := j.judge("probe", wait); bad {
				failures = append(failures, api.StepFailure{Gate: "probes", Node: rep.Identity, Message: f})
			}
		}
		ok := !slices.ContainsFunc(failures, func(f api.StepFailure) bool { return f.Node == rep.Identity })
		if ok {
			passing++
		}
		if !ok || passing <= maxEvidencePerStep {
			evidence = append(evidence, ev)
		}
		u.say("  %-30s %s", rep.Identity, summary(h, ev.Error))
	}
	for _, id := range res.NoResponse {
		failures = append(failures, api.StepFailure{Gate: "checks", Node: id, Message: fmt.Sprintf("no answer within %s about its checks and probes", wait+10*time.Second)})
		evidence = append(evidence, api.NodeEvidence{Identity: id, Checks: []api.JobResult{}, Probes: []api.JobResult{}, Error: "no answer"})
	}
	u.mu.Lock()
	u.rec.Steps[i].Evidence = evidence
	u.mu.Unlock()
	u.fail(i, failures...)
}

// healthReply is nodeagent's health#rerun reply (nodeagent.HealthReply),
// read here without importing the agent.
type healthReply struct {
	Checks []healthJob `json:"checks"`
	Probes []healthJob `json:"probes"`
}

type healthJob struct {
	Name    string    `json:"name"`
	Status  int       `json:"status"`
	State   string    `json:"state"`
	Output  string    `json:"output"`
	Time    time.Time `json:"time"`
	Pending bool      `json:"pending"`
}

func (j healthJob) view() api.JobResult {
	return api.JobResult{Name: j.Name, State: j.State, Output: cut(j.Output, maxOutput), Time: j.Time, Pending: j.Pending}
}

// judge says why j does not pass, if it does not.
func (j healthJob) judge(kind string, wait time.Duration) (string, bool) {
	switch {
	case j.Pending:
		return fmt.Sprintf("%s %s did not run within %s of the change", kind, j.Name, wait), true
	case j.Status != protocol.StateOK:
		return fmt.Sprintf("%s %s is %s: %s", kind, j.Name, j.State, cut(j.Output, maxOutput)), true
	}
	return "", false
}

func summary(h healthReply, err string) string {
	if err != "" {
		return "no evidence: " + err
	}
	part := func(kind string, js []healthJob) string {
		if len(js) == 0 {
			return "no " + kind + "s"
		}
		s := make([]string, len(js))
		for i, j := range js {
			st := j.State
			if j.Pending {
				st = "NOT RUN"
			}
			s[i] = j.Name + " " + st
		}
		return kind + "s " + strings.Join(s, ", ")
	}
	return part("check", h.Checks) + "; " + part("probe", h.Probes)
}

// fail records failures of step i.
func (u *run) fail(i int, fs ...api.StepFailure) {
	if len(fs) == 0 {
		return
	}
	u.mu.Lock()
	u.rec.Steps[i].Failures = append(u.rec.Steps[i].Failures, fs...)
	u.mu.Unlock()
	for _, f := range fs {
		where := ""
		if f.Node != "" {
			where = " on " + f.Node
		}
		u.say("  FAILED %s%s: %s", f.Gate, where, f.Message)
	}
}

// halt stops after step failed: the steps after it never run, and unless
// told otherwise the changed nodes go back.
func (u *run) halt(failed int) {
	u.mu.Lock()
	for i := failed + 1; i < len(u.rec.Steps); i++ {
		for _, id := range u.rec.Steps[i].Nodes {
			u.node[id].State = api.NodeSkipped
		}
	}
	reason := reasonOf(u.rec.Steps[failed])
	u.mu.Unlock()
	u.say("step %s failed", u.rec.Steps[failed].Name)
	if !u.p.rollback {
		u.finish(api.RolloutHalted, reason+"; not rolled back (--rollback=false)")
		return
	}
	// The rollback runs whatever ended the rollout's context: a halted
	// rollout must not leave nodes half-changed.
	ctx, cancel := context.WithTimeout(context.Background(), u.r.opts.Timeout+time.Minute)
	defer cancel()
	state := u.rollback(ctx)
	switch state {
	case api.RolloutHalted:
		reason += "; nothing to roll back"
	case api.RolloutRollbackFailed:
		reason += "; the rollback failed on " + names(u.nodesIn(api.NodeRollbackFailed))
	}
	u.finish(state, reason)
}

// reasonOf names what failed in a step, on which nodes. The same failure
// on many nodes is said once, with its nodes.
func reasonOf(s api.RolloutStep) string {
	type group struct {
		gate, msg, first string
		nodes            []string
	}
	var groups []*group
	byKey := map[string]*group{}
	for _, f := range s.Failures {
		key := f.Gate + "\x00" + f.Message
		if f.Node != "" {
			key = f.Gate + "\x00" + strings.ReplaceAll(f.Message, f.Node, "\x01")
		}
		g := byKey[key]
		if g == nil {
			g = &group{gate: f.Gate, msg: strings.ReplaceAll(key[len(f.Gate)+1:], "\x01", "<node>"), first: f.Message}
			byKey[key] = g
			groups = append(groups, g)
		}
		if f.Node != "" {
			g.nodes = append(g.nodes, f.Node)
		}
	}
	parts := make([]string, 0, len(groups))
	for _, g := range groups {
		if g.gate == "interrupted" {
			parts = append(parts, g.first)
			continue
		}
		p := g.gate + " failed"
		if len(g.nodes) > 0 {
			p += " on " + names(g.nodes)
		}
		msg := g.msg
		if len(g.nodes) <= 1 {
			msg = g.first
		}
		parts = append(parts, p+": "+msg)
	}
	return strings.Join(parts, "; ")
}

// rollback puts every node the rollout changed, or tried to, back at the
// version it had, and checks that it is there. It returns the rollout's
// final state.
func (u *run) rollback(ctx context.Context) api.RolloutState {
	u.mu.Lock()
	byVersion := map[string][]string{}
	var all []string
	for _, n := range u.rec.Nodes {
		if n.State != api.NodeChanged && n.State != api.NodeFailed {
			continue
		}
		if n.State == api.NodeFailed && n.After == n.Before {
			continue // the change failed and left it where it was
		}
		byVersion[n.Before] = append(byVersion[n.Before], n.Identity)
		all = append(all, n.Identity)
	}
	u.mu.Unlock()
	if len(all) == 0 {
		return api.RolloutHalted
	}
	if len(all) == 1 {
		u.say("rolling back 1 node to the version it had")
	} else {
		u.say("rolling back %d nodes to the versions they had", len(all))
	}
	origin := &protocol.Origin{Via: protocol.ViaRollback, ID: u.rec.ID}
	said := map[string]string{}
	for _, v := range slices.Sorted(maps.Keys(byVersion)) {
		call := rpc.Call{Agent: "package", Action: "install", Data: map[string]string{"package": u.p.req.Package, "version": v},
			Nodes: byVersion[v], Timeout: u.r.opts.Timeout, Origin: origin}
		if v == "absent" {
			call.Action, call.Data = "uninstall", map[string]string{"package": u.p.req.Package}
		}
		res, err := u.r.opts.Client.Do(ctx, call)
		if err != nil {
			for _, id := range byVersion[v] {
				said[id] = err.Error()
			}
			continue
		}
		for _, rep := range res.Replies {
			if rep.Status != protocol.OK {
				said[rep.Identity] = rep.StatusMsg
			}
		}
		for _, id := range res.NoResponse {
			said[id] = "no answer to the rollback"
		}
	}
	// Verified by asking again, not by believing the install's reply.
	res, err := u.r.opts.Client.Do(ctx, rpc.Call{Agent: "package", Action: "status", Data: map[string]string{"package": u.p.req.Package}, Nodes: all})
	now := map[string]string{}
	if err == nil {
		for _, rep := range res.Replies {
			if e, _ := rep.DataMap()["ensure"].(string); rep.Status == protocol.OK && e != "" {
				now[rep.Identity] = e
			}
		}
	}
	state := api.RolloutRolledBack
	u.mu.Lock()
	var lines []string
	for _, id := range all {
		n := u.node[id]
		was := n.After
		v, known := now[id]
		switch {
		case known && v == n.Before:
			n.State, n.After, n.Message = api.NodeRolledBack, v, ""
		default:
			state = api.RolloutRollbackFailed
			n.State = api.NodeRollbackFailed
			if known {
				n.After = v
			} else {
				n.After = "unknown"
			}
			n.Message = fmt.Sprintf("after the rollback it reports %s %s, not %s", u.p.req.Package, n.After, n.Before)
			if s := said[id]; s != "" {
				n.Message += ": " + s
			} else if err != nil {
				n.Message += ": " + err.Error()
			}
		}
		line := fmt.Sprintf("  %-30s %s %s → %s  %s", id, u.p.req.Package, was, n.After, strings.ReplaceAll(string(n.State), "_", " "))
		if n.State == api.NodeRollbackFailed {
			line += ": " + n.Message
		}
		lines = append(lines, line)
	}
	u.mu.Unlock()
	for _, l := range lines {
		u.say("%s", l)
	}
	return state
}

func (u *run) nodesIn(s api.NodeState) []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	var out []string
	for _, n := range u.rec.Nodes {
		if n.State == s {
			out = append(out, n.Identity)
		}
	}
	return out
}

// finish gives the rollout its final state and publishes it.
func (u *run) finish(s api.RolloutState, reason string) {
	u.mu.Lock()
	u.rec.State, u.rec.Reason, u.rec.Finished = s, reason, u.now()
	u.mu.Unlock()
	// The final record is published whatever ended the rollout's context.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	u.publish(ctx)
}

func (u *run) record() api.Rollout {
	u.mu.Lock()
	defer u.mu.Unlock()
	return cloneRecord(&u.rec)
}

// publish records the rollout as it stands.
func (u *run) publish(ctx context.Context) {
	if u.r.opts.Publish == nil {
		return
	}
	u.mu.Lock()
	u.rec.Updated = u.now()
	rec := cloneRecord(&u.rec)
	u.mu.Unlock()
	if err := u.r.opts.Publish(ctx, &rec); err != nil {
		u.r.log.Warn("could not publish the rollout's record; it goes on", "rollout", rec.ID, "err", err)
	}
}

func (u *run) now() time.Time { return u.r.opts.Now().UTC() }

func (u *run) say(format string, args ...any) {
	if u.r.opts.Progress != nil {
		u.r.opts.Progress(fmt.Sprintf(format, args...))
	}
}

// cloneRecord copies a record deeply enough to leave the run's lock.
func cloneRecord(r *api.Rollout) api.Rollout {
	c := *r
	c.Gates = slices.Clone(r.Gates)
	c.Nodes = slices.Clone(r.Nodes)
	c.Steps = slices.Clone(r.Steps)
	for i := range c.Steps {
		s := &c.Steps[i]
		s.Nodes = slices.Clone(s.Nodes)
		s.Evidence = slices.Clone(s.Evidence)
		s.Failures = slices.Clone(s.Failures)
		s.Gates = slices.Clone(s.Gates)
		for j := range s.Gates {
			s.Gates[j].Measurements = slices.Clone(s.Gates[j].Measurements)
		}
	}
	return c
}

// names lists identities for a message: the first few, and how many more.
func names(ids []string) string {
	if len(ids) <= 4 {
		return strings.Join(ids, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(ids[:4], ", "), len(ids)-4)
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && n < len(s) && s[n]&0xc0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}

func newID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
