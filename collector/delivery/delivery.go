// Package delivery derives delivery metrics — deployment frequency, change
// failure rate, time to restore and lead time for changes — from what the
// collector sees happen: the nodes' change events, rollouts' records,
// checks that go critical and remediation records. Each event updates a few
// counters and histograms and the small state of recent deployments, so a
// scrape reads numbers and never scans history.
//
// It only counts: it never acts on the fleet, and an event it cannot read
// is ignored, never fatal. The definitions are the README's ("Delivery
// metrics").
package delivery

import (
	"encoding/json"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pulseops/pulse/collector/api"
	"github.com/pulseops/pulse/internal/protocol"
)

// DefaultFailureWindow is how long after a deployment a failure on its
// nodes counts against it.
const DefaultFailureWindow = time.Hour

// Options configure a Tracker.
type Options struct {
	Registerer prometheus.Registerer
	// LabelNames are the fleet's fact labels (az, role, cluster); Labels
	// returns a node's values of them, "" where unknown.
	LabelNames []string
	Labels     func(identity string) []string
	// FailureWindow: a deployment followed within it by a failed gate, a
	// rollback, a check going CRITICAL or an alert on its nodes failed.
	FailureWindow time.Duration
	Logger        *slog.Logger
}

// Tracker turns events into delivery metrics. It is safe for concurrent
// use; Observe never blocks on anything but its own short lock.
type Tracker struct {
	opts Options
	log  *slog.Logger

	deployments *prometheus.CounterVec
	failures    *prometheus.CounterVec
	restore     *prometheus.HistogramVec
	leadTime    *prometheus.HistogramVec

	mu sync.Mutex
	// sets are the deployments still inside the failure window, oldest
	// first; byID finds them, lastOn the latest one on each node.
	sets   []*deployment
	byID   map[string]*deployment
	lastOn map[string]nodeDeploy
	// restored remembers remediations already counted, and failedSets
	// change sets known to have failed (a rollout's record can arrive
	// before its changes: they travel on separate streams), until they
	// age out with the window.
	restored   map[string]time.Time
	failedSets map[string]time.Time
}

// nodeDeploy is a node's latest deployment and when it changed the node.
type nodeDeploy struct {
	d  *deployment
	at time.Time
}

// deployment is one change set: a rollout, or one request that changed
// package versions, and the label groups it reached.
type deployment struct {
	id     string
	last   time.Time            // its latest change
	groups map[string]*groupRef // by joined label values
	failed map[string]bool      // groups it was counted as failed in
}

type groupRef struct {
	values []string
	// nodes of the set in this group.
	nodes map[string]bool
}

// New builds a Tracker and registers its metrics.
func New(o Options) *Tracker {
	if o.FailureWindow <= 0 {
		o.FailureWindow = DefaultFailureWindow
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Labels == nil {
		o.Labels = func(string) []string { return make([]string, len(o.LabelNames)) }
	}
	t := &Tracker{
		opts: o, log: o.Logger.With("component", "delivery"),
		byID: map[string]*deployment{}, lastOn: map[string]nodeDeploy{}, restored: map[string]time.Time{}, failedSets: map[string]time.Time{},
		deployments: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pulse_deployments_total",
			Help: "Deployments: package version changes made through pulse (a rollout, or one request; not rollbacks or remediation), counted once per zone/role/cluster group they reached.",
		}, o.LabelNames),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pulse_change_failures_total",
			Help: "Deployments that failed in a group: a change that failed, or, within the failure window, a failed rollout step or rollback, a check going CRITICAL or an alert remediated on their nodes.",
		}, o.LabelNames),
		restore: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "pulse_restore_duration_seconds",
			Help:    "Time to restore: from an alert starting to its remediation verified (source remediation), from a failed rollout step to its nodes verified back (source rollback).",
			Buckets: []float64{10, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, 24 * 3600},
		}, append([]string{"source"}, o.LabelNames...)),
		leadTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "pulse_lead_time_seconds",
			Help:    "Lead time for changes: from the commit (committed_at, when the caller said) to the change running in a group.",
			Buckets: []float64{60, 300, 900, 3600, 4 * 3600, 24 * 3600, 3 * 24 * 3600, 7 * 24 * 3600, 30 * 24 * 3600},
		}, o.LabelNames),
	}
	window := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "pulse_change_failure_window_seconds",
		Help: "How long after a deployment a failure on its nodes counts against it.",
	})
	window.Set(o.FailureWindow.Seconds())
	if o.Registerer != nil {
		o.Registerer.MustRegister(t.deployments, t.failures, t.restore, t.leadTime, window)
	}
	return t
}

// Group starts every series of a label group at zero, so dashboards see
// the group before its first deployment; the collector calls it for each
// node it learns of.
func (t *Tracker) Group(identity string) {
	v := t.opts.Labels(identity)
	t.deployments.WithLabelValues(v...)
	t.failures.WithLabelValues(v...)
}

// Observe takes one of the collector's events.
func (t *Tracker) Observe(e protocol.Event) {
	switch e.Type {
	case protocol.EventChange:
		var c protocol.Change
		if decode(e.Data, &c) {
			t.change(&c)
		}
	case protocol.EventRollout:
		var r api.Rollout
		if decode(e.Data, &r) {
			t.rollout(&r, e.Time)
		}
	case protocol.EventRemediation:
		var r api.Remediation
		if decode(e.Data, &r) && r.ID != "" {
			t.remediation(&r, e.Time)
		}
	case protocol.EventCheckState:
		if e.Status == protocol.StateCritical && e.Previous != protocol.StateCritical && e.Identity != "" {
			t.failureOn([]string{e.Identity}, ranAt(e))
		}
	case protocol.EventNodeUp:
		if e.Identity != "" {
			t.Group(e.Identity)
		}
	}
}

// ranAt is when the run a check_state event reports started, on the
// node's clock, as its changes are dated; the event's own time (the
// collector's, when it ingested the result) when the event does not say.
// Results and changes arrive on separate streams, so a result of a run
// before a change can be ingested after it: its own time says so.
func ranAt(e protocol.Event) time.Time {
	var ran string
	switch d := e.Data.(type) {
	case map[string]string:
		ran = d["ran"]
	case map[string]any:
		ran, _ = d["ran"].(string)
	}
	if t, err := time.Parse(time.RFC3339Nano, ran); err == nil {
		return t
	}
	return e.Time
}

// decode reads an event's data, which is a value of the type in process
// and a map after a trip through JSON.
func decode(data any, v any) bool {
	switch d := data.(type) {
	case nil:
		return false
	case protocol.Change:
		if c, ok := v.(*protocol.Change); ok {
			*c = d
			return true
		}
	case api.Rollout:
		if r, ok := v.(*api.Rollout); ok {
			*r = d
			return true
		}
	case api.Remediation:
		if r, ok := v.(*api.Remediation); ok {
			*r = d
			return true
		}
	}
	b, err := json.Marshal(data)
	return err == nil && json.Unmarshal(b, v) == nil
}

// setID is the change set a change belongs to: its rollout or action, or
// else its request. Rollbacks and remediation restore; they are not
// deployments ("" ).
func setID(c *protocol.Change) string {
	if c.Kind != "package" || c.Result == protocol.ChangeUnchanged {
		return ""
	}
	if o := c.Origin; o != nil {
		switch o.Via {
		case protocol.ViaRollback, protocol.ViaRemediation:
			return ""
		}
		if o.ID != "" {
			return o.Via + "/" + o.ID
		}
	}
	return "request/" + c.Request
}

func (t *Tracker) change(c *protocol.Change) {
	id := setID(c)
	if id == "" {
		return
	}
	values := t.opts.Labels(c.Identity)
	key := strings.Join(values, "\x00")
	t.mu.Lock()
	defer t.mu.Unlock()
	t.prune(c.Time)
	d := t.byID[id]
	if d == nil {
		d = &deployment{id: id, groups: map[string]*groupRef{}, failed: map[string]bool{}}
		t.byID[id] = d
		t.sets = append(t.sets, d)
	}
	if c.Time.After(d.last) {
		d.last = c.Time
	}
	g := d.groups[key]
	if g == nil {
		g = &groupRef{values: values, nodes: map[string]bool{}}
		d.groups[key] = g
		t.deployments.WithLabelValues(values...).Inc()
		if o := c.Origin; o != nil && !o.CommittedAt.IsZero() && c.Result == protocol.ChangeOK && c.Time.After(o.CommittedAt) {
			t.leadTime.WithLabelValues(values...).Observe(c.Time.Sub(o.CommittedAt).Seconds())
		}
		t.failures.WithLabelValues(values...) // exported from 0
	}
	g.nodes[c.Identity] = true
	if prev, ok := t.lastOn[c.Identity]; !ok || !prev.at.After(c.Time) {
		t.lastOn[c.Identity] = nodeDeploy{d: d, at: c.Time}
	}
	if _, failed := t.failedSets[id]; c.Result == protocol.ChangeFailed || failed {
		t.fail(d, key)
	}
}

// fail counts d as failed in group key, once.
func (t *Tracker) fail(d *deployment, key string) {
	if d.failed[key] {
		return
	}
	d.failed[key] = true
	t.failures.WithLabelValues(d.groups[key].values...).Inc()
}

// failureOn counts a failure on nodes against the deployment each last
// had, when that was within the window.
func (t *Tracker) failureOn(nodes []string, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, n := range nodes {
		nd, ok := t.lastOn[n]
		if !ok || at.Before(nd.at) || at.Sub(nd.at) > t.opts.FailureWindow {
			continue // no deployment there, a failure from before it, or too late
		}
		d := nd.d
		for key, g := range d.groups {
			if g.nodes[n] {
				t.fail(d, key)
			}
		}
	}
}

func (t *Tracker) rollout(r *api.Rollout, at time.Time) {
	switch r.State {
	case api.RolloutHalted, api.RolloutRolledBack, api.RolloutRollbackFailed:
	default:
		return
	}
	t.mu.Lock()
	id := protocol.ViaRollout + "/" + r.ID
	t.failedSets[id] = at
	if d := t.byID[id]; d != nil {
		for key := range d.groups {
			t.fail(d, key)
		}
	}
	t.mu.Unlock()
	if r.State != api.RolloutRolledBack {
		return
	}
	// Restored: from the step that failed to every node back, verified.
	var failedAt time.Time
	for _, s := range r.Steps {
		if s.State == api.StepFailed {
			failedAt = s.Started
			break
		}
	}
	end := r.Finished
	if end.IsZero() {
		end = at
	}
	if failedAt.IsZero() || end.Before(failedAt) {
		return
	}
	seen := map[string]bool{}
	for _, n := range r.Nodes {
		if n.State != api.NodeRolledBack {
			continue
		}
		v := t.opts.Labels(n.Identity)
		if k := strings.Join(v, "\x00"); !seen[k] {
			seen[k] = true
			t.restore.WithLabelValues(append([]string{"rollback"}, v...)...).Observe(end.Sub(failedAt).Seconds())
		}
	}
}

func (t *Tracker) remediation(r *api.Remediation, at time.Time) {
	// An alert acted on is a failure of the deployment on its nodes.
	t.failureOn(r.Targets, cmpTime(r.Created, at))
	if r.State != api.StateSucceeded || !r.Verified || r.Alert.StartsAt.IsZero() || r.Finished.Before(r.Alert.StartsAt) {
		return
	}
	t.mu.Lock()
	_, done := t.restored[r.ID]
	if !done {
		t.restored[r.ID] = at
	}
	t.mu.Unlock()
	if done {
		return
	}
	seen := map[string]bool{}
	for _, n := range r.Targets {
		v := t.opts.Labels(n)
		if k := strings.Join(v, "\x00"); !seen[k] {
			seen[k] = true
			t.restore.WithLabelValues(append([]string{"remediation"}, v...)...).Observe(r.Finished.Sub(r.Alert.StartsAt).Seconds())
		}
	}
}

func cmpTime(t, def time.Time) time.Time {
	if t.IsZero() {
		return def
	}
	return t
}

// prune forgets deployments whose window has passed. Lock must be held.
// Sets are kept in the order they were first seen, so this looks at the
// expired ones at the front and stops at the first that is not (a long
// rollout ahead of shorter ones holds them a little longer: bounded by
// the rollout's length).
func (t *Tracker) prune(now time.Time) {
	keep := 2 * t.opts.FailureWindow
	i := 0
	for ; i < len(t.sets) && now.Sub(t.sets[i].last) > keep; i++ {
		d := t.sets[i]
		delete(t.byID, d.id)
		for _, g := range d.groups {
			for n := range g.nodes {
				if t.lastOn[n].d == d {
					delete(t.lastOn, n)
				}
			}
		}
	}
	if i > 0 {
		t.sets = slices.Delete(t.sets, 0, i)
	}
	for _, m := range []map[string]time.Time{t.restored, t.failedSets} {
		for id, at := range m {
			if now.Sub(at) > keep {
				delete(m, id)
			}
		}
	}
}
