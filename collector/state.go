package collector

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	dto "github.com/prometheus/client_model/go"

	"github.com/pulseops/pulse/internal/protocol"
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

// defaultInterval stands in for a missing heartbeat or result interval.
const defaultInterval = 30 * time.Second

// state is everything the collector knows. All fields are guarded by
// Collector.mu.
type state struct {
	nodes  map[string]*node
	guard  *labelGuard
	series int // admitted series, against MaxSeries
	// shape counts changes to which series exist or their labels, so a
	// scrape knows when its sorted index is out of date.
	shape uint64
	// interned shares label pairs between series; see pair.
	interned map[string]*dto.LabelPair
	started  time.Time // messages stored before this are history, not news
}

func newState(c *Collector) *state {
	return &state{
		nodes:    map[string]*node{},
		interned: map[string]*dto.LabelPair{},
		guard:    newLabelGuard(len(c.rules), c.opts.MaxLabelValues),
	}
}

type node struct {
	id         string
	fresh      freshness // of its heartbeats
	registered bool
	reg        protocol.Registration
	interval   time.Duration
	lastSeen   time.Time
	up         bool // as last told through events

	raw    []string // fact value per label rule
	values []string // label value per rule after the cardinality guard
	labels []*dto.LabelPair

	admitted bool
	entries  map[string]*entry
}

type entry struct {
	name      string
	kind      string
	fresh     freshness // of its results
	res       protocol.Result
	truncated bool

	admitted bool
	cost     int
	base     []*dto.LabelPair
	runs     [4][]*dto.LabelPair
	perf     map[string][]*dto.LabelPair
	steps    map[string][]*dto.LabelPair // step + "\x00" + phase
}

func (c *Collector) newNode(id string) *node {
	n := &node{
		id:       id,
		interval: defaultInterval,
		raw:      make([]string, len(c.rules)),
		values:   make([]string, len(c.rules)),
		entries:  map[string]*entry{},
	}
	c.buildNodeLabels(n)
	return n
}

// alive reports whether n has heartbeated within HeartbeatMisses intervals.
func (c *Collector) alive(n *node, now time.Time) bool {
	return n.registered && now.Sub(n.lastSeen) <= time.Duration(c.opts.HeartbeatMisses)*n.interval
}

// stale reports whether e's result is older than StaleIntervals × its
// interval.
func (c *Collector) stale(e *entry, now time.Time) bool {
	iv := time.Duration(e.res.Interval * float64(time.Second))
	if iv <= 0 {
		iv = defaultInterval
	}
	return now.Sub(e.res.Time) > time.Duration(c.opts.StaleIntervals)*iv
}

// admit takes n series from the budget. Lock must be held.
func (c *Collector) admit(n int) bool {
	if c.state.series+n > c.opts.MaxSeries {
		return false
	}
	c.state.series += n
	c.state.shape++
	return true
}

func (c *Collector) drop(reason string, n int) {
	if n > 0 {
		c.health.dropped.WithLabelValues(reason).Add(float64(n))
	}
}

// handle ingests one message. stored is when the broker stored it (zero for
// core NATS): a message stored before the collector started is history,
// which rebuilds state without raising events. When a node was last heard
// from is its own signed time, never the broker's.
func (c *Collector) handle(subject string, data []byte, stored time.Time) {
	now := c.opts.Now()
	if stored.IsZero() || stored.After(now) {
		stored = now
	}
	tokens := strings.Split(subject, ".")
	switch {
	case len(tokens) == 4 && tokens[2] == "registry":
		c.health.messages.WithLabelValues("registration").Inc()
		c.handleRegistration(subject, tokens[3], data, stored, now)
	case len(tokens) == 5 && tokens[2] == "results":
		c.health.messages.WithLabelValues("result").Inc()
		c.handleResult(subject, tokens[3], tokens[4], data, stored, now)
	default:
		c.health.messages.WithLabelValues("unknown").Inc()
		c.malformed("unknown", "subject", subject, fmt.Errorf("subject %q is neither a registry nor a results subject", subject))
	}
}

func (c *Collector) malformed(kind, reason, subject string, err error) {
	c.health.malformed.WithLabelValues(kind, reason).Inc()
	c.bad.Warn(kind+"/"+reason, "dropped a message (the count by reason is pulse_collector_malformed_messages_total)",
		"kind", kind, "reason", reason, "subject", subject, "err", err)
}

// open reads the envelope of a message of kind that arrived on the subject
// of node id, and checks that it comes from that node, is that kind and
// passes Verify. What fails is counted and logged by reason.
func (c *Collector) open(kind, subject, id string, data []byte) (*protocol.Envelope, bool) {
	env, err := protocol.Open(data)
	if err != nil {
		c.malformed(kind, protocol.ErrorReason(err), subject, err)
		return nil, false
	}
	switch {
	case string(env.Kind) != kind:
		c.malformed(kind, protocol.ReasonKind, subject, fmt.Errorf("a %s from %s arrived on a %s subject", env.Kind, env.From, kind))
		return nil, false
	case env.From != id:
		c.malformed(kind, "identity_mismatch", subject,
			fmt.Errorf("%s from %q arrived on the subject of %q: a node may only speak for itself", kind, env.From, id))
		return nil, false
	}
	if v := c.opts.Verify; v != nil {
		if err := v(env); err != nil {
			c.malformed(kind, "unverified", subject, err)
			return nil, false
		}
	}
	return env, true
}

func earlier(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func (c *Collector) handleRegistration(subject, id string, data []byte, stored, now time.Time) {
	if !utf8.ValidString(id) {
		c.malformed("registration", "subject", subject, fmt.Errorf("identity %q is not UTF-8", id))
		return
	}
	env, ok := c.open("registration", subject, id, data)
	if !ok {
		return
	}
	reg, err := env.Registration()
	if err != nil {
		c.malformed("registration", protocol.ErrorReason(err), subject, err)
		return
	}
	r := *reg
	if inFuture(r.Time, now, c.opts.Skew) {
		c.malformed("registration", reasonFuture, subject, fmt.Errorf("heartbeat from %s is dated %s ahead (allowed skew %s): check the node's clock",
			id, r.Time.Sub(now).Round(time.Millisecond), c.opts.Skew))
		return
	}

	c.mu.Lock()
	n := c.state.nodes[id]
	if n == nil {
		n = c.newNode(id)
		c.state.nodes[id] = n
	}
	if reason := n.fresh.accept(r.Stream, r.Time); reason != "" {
		c.mu.Unlock()
		c.malformed("registration", reason, subject, fmt.Errorf("heartbeat %s/%d from %s sent %s is not newer than the one accepted (%s/%d sent %s)",
			r.Boot, r.Seq, id, r.Time.Format(time.RFC3339Nano), n.fresh.boot, n.fresh.seq, n.fresh.time.Format(time.RFC3339Nano)))
		return
	}
	historical := stored.Before(c.state.started)
	n.registered = true
	n.reg = r
	n.interval = time.Duration(r.Interval * float64(time.Second))
	if n.interval <= 0 {
		n.interval = defaultInterval
	}
	// The node was last heard from when it says it sent the heartbeat:
	// signed, so a replay cannot make it newer, and never later than now.
	if seen := earlier(r.Time, now); seen.After(n.lastSeen) {
		n.lastSeen = seen
	}
	c.relabel(n)
	if !n.admitted {
		if c.admit(nodeSeries) {
			n.admitted = true
		} else {
			c.drop("max_series", nodeSeries)
		}
	}
	wasUp := n.up
	n.up = c.alive(n, now)
	var evs []protocol.Event
	if n.up && !wasUp && !historical {
		evs = append(evs, protocol.Event{
			Type: protocol.EventNodeUp, Time: now, Identity: id,
			Message: fmt.Sprintf("%s is up: heartbeat every %s", id, n.interval),
		})
	}
	c.mu.Unlock()
	c.emit(evs)
}

// relabel recomputes n's fact labels through the cardinality guard and
// rebuilds the label sets of n and its entries when they change. Lock must be
// held.
func (c *Collector) relabel(n *node) {
	changed := false
	for i, r := range c.rules {
		raw := ""
		if v, ok := lookupFact(n.reg.Facts, r.fact); ok {
			raw = factLabelValue(v)
		}
		old := n.values[i]
		if raw == n.raw[i] && old != overflowValue {
			continue
		}
		c.state.guard.release(i, old)
		v := c.state.guard.acquire(i, raw)
		if v == overflowValue && (old != overflowValue || raw != n.raw[i]) {
			c.health.overflow.WithLabelValues(r.label).Inc()
			c.bad.Warn("overflow/"+r.label, "fact label has too many distinct values; new values become "+overflowValue,
				"label", r.label, "fact", r.fact, "value", raw, "identity", n.id, "max", c.opts.MaxLabelValues)
		}
		n.raw[i], n.values[i] = raw, v
		if v != old {
			changed = true
		}
	}
	if changed {
		c.buildNodeLabels(n)
		for _, e := range n.entries {
			c.buildEntryLabels(n, e)
		}
	}
}

func labelPair(name, value string) *dto.LabelPair {
	return &dto.LabelPair{Name: &name, Value: &value}
}

// maxInterned bounds the table of shared label pairs; past it pairs are
// simply not shared.
const maxInterned = 200000

// pair returns a shared label pair for name=value. Every series of a fleet
// repeats the same zone, role, check and status pairs; sharing them keeps a
// scrape's walk over labels in cache, which is most of its cost. Lock must
// be held.
func (c *Collector) pair(name, value string) *dto.LabelPair {
	k := name + "\x00" + value
	if p, ok := c.state.interned[k]; ok {
		return p
	}
	p := labelPair(name, value)
	if len(c.state.interned) < maxInterned {
		c.state.interned[k] = p
	}
	return p
}

// withLabels returns base plus extra, sorted by name as the exposition needs.
// It never changes base, which scrapes may be reading.
func withLabels(base []*dto.LabelPair, extra ...*dto.LabelPair) []*dto.LabelPair {
	out := make([]*dto.LabelPair, 0, len(base)+len(extra))
	out = append(out, base...)
	out = append(out, extra...)
	sort.Slice(out, func(i, j int) bool { return out[i].GetName() < out[j].GetName() })
	return out
}

func (c *Collector) buildNodeLabels(n *node) {
	extra := make([]*dto.LabelPair, 0, len(c.rules)+1)
	extra = append(extra, labelPair("identity", n.id))
	for i, r := range c.rules {
		extra = append(extra, c.pair(r.label, n.values[i]))
	}
	n.labels = withLabels(nil, extra...)
	c.state.shape++
}

// buildEntryLabels (re)builds every label set of e from its node's. Lock must
// be held.
func (c *Collector) buildEntryLabels(n *node, e *entry) {
	c.state.shape++
	if e.kind == "probe" {
		e.base = withLabels(n.labels, c.pair("probe", e.name))
		for k := range e.steps {
			step, phase, _ := strings.Cut(k, "\x00")
			e.steps[k] = withLabels(e.base, c.pair("step", step), c.pair("phase", phase))
		}
		return
	}
	e.base = withLabels(n.labels, c.pair("check", e.name))
	for s := range e.runs {
		e.runs[s] = withLabels(e.base, c.pair("status", protocol.StateName(s)))
	}
	for k := range e.perf {
		e.perf[k] = withLabels(e.base, c.pair("label", k))
	}
}

// release gives e's series back to the budget. Lock must be held.
func (c *Collector) release(e *entry) {
	c.state.series -= e.cost
	e.cost, e.admitted = 0, false
	c.state.shape++
	e.perf, e.steps = nil, nil
}

var runStates = map[string]bool{"OK": true, "WARNING": true, "CRITICAL": true, "UNKNOWN": true}

// cleanResult bounds what a result may make the collector hold: outputs,
// duplicate perfdata labels and steps, unknown run states. It reports whether
// an output was truncated.
func (c *Collector) cleanResult(r *protocol.Result) bool {
	truncated := false
	if len(r.Output) > c.opts.MaxOutputBytes {
		r.Output = truncateUTF8(r.Output, c.opts.MaxOutputBytes)
		truncated = true
	}
	if len(r.LongOutput) > c.opts.MaxOutputBytes {
		r.LongOutput = truncateUTF8(r.LongOutput, c.opts.MaxOutputBytes)
		truncated = true
	}
	r.Output = strings.ToValidUTF8(r.Output, "\uFFFD")
	r.LongOutput = strings.ToValidUTF8(r.LongOutput, "\uFFFD")
	if r.Status < protocol.StateOK || r.Status > protocol.StateUnknown {
		r.Status = protocol.StateUnknown
	}
	if len(r.Perfdata) > 0 {
		kept := r.Perfdata[:0]
		for _, p := range r.Perfdata {
			p.Label = strings.ToValidUTF8(p.Label, "\uFFFD")
			// A linear scan: results carry a handful of perfdata items, and
			// maxPerfPerCheck bounds what is kept.
			if len(kept) >= maxPerfPerCheck {
				c.drop("perfdata_per_check", 1)
				continue
			}
			if p.Label == "" || slices.ContainsFunc(kept, func(q protocol.Perf) bool { return q.Label == p.Label }) {
				c.drop("duplicate", 1)
				continue
			}
			kept = append(kept, p)
		}
		r.Perfdata = kept
	}
	if len(r.Steps) > 0 {
		seen := make(map[string]bool, len(r.Steps))
		kept := r.Steps[:0]
		for _, s := range r.Steps {
			s.Name = strings.ToValidUTF8(s.Name, "\uFFFD")
			if seen[s.Name] {
				c.drop("duplicate", 1+len(s.Phases))
				continue
			}
			seen[s.Name] = true
			for ph := range s.Phases {
				if !utf8.ValidString(ph) || ph == "" || ph == "total" {
					delete(s.Phases, ph)
					c.drop("duplicate", 1)
				}
			}
			kept = append(kept, s)
		}
		r.Steps = kept
	}
	for k := range r.Runs {
		if !runStates[k] {
			delete(r.Runs, k)
			c.drop("unknown_run_state", 1)
		}
	}
	return truncated
}

// resultSeries is how many series r would expose, for counting what was
// refused.
func resultSeries(r *protocol.Result) int {
	if r.Kind == "probe" {
		n := probeSeries
		for _, s := range r.Steps {
			n += 1 + len(s.Phases)
		}
		return n
	}
	return 4 + len(r.Runs) + len(r.Perfdata)
}

func (c *Collector) handleResult(subject, id, name string, data []byte, stored, now time.Time) {
	if !utf8.ValidString(id) || !utf8.ValidString(name) {
		c.malformed("result", "subject", subject, fmt.Errorf("identity %q or check %q is not UTF-8", id, name))
		return
	}
	env, ok := c.open("result", subject, id, data)
	if !ok {
		return
	}
	res, err := env.Result()
	if err != nil {
		c.malformed("result", protocol.ErrorReason(err), subject, err)
		return
	}
	r := *res
	switch {
	case inFuture(r.Time, now, c.opts.Skew):
		c.malformed("result", reasonFuture, subject, fmt.Errorf("result of %s from %s is dated %s ahead (allowed skew %s): check the node's clock",
			name, id, r.Time.Sub(now).Round(time.Millisecond), c.opts.Skew))
		return
	case r.Name != name:
		c.malformed("result", "name_mismatch", subject,
			fmt.Errorf("result for %q arrived on the subject of %q", r.Name, name))
		return
	case r.Kind != "check" && r.Kind != "probe":
		c.malformed("result", "kind", subject, fmt.Errorf("result kind %q is neither check nor probe", r.Kind))
		return
	}
	truncated := c.cleanResult(&r)

	c.mu.Lock()
	historical := stored.Before(c.state.started)
	if !historical {
		lag := now.Sub(r.Time).Seconds()
		if lag < 0 {
			lag = 0
		}
		c.health.lag.Observe(lag)
	}
	n := c.state.nodes[id]
	if n == nil {
		n = c.newNode(id)
		c.state.nodes[id] = n
	}
	e := n.entries[name]
	if e == nil {
		if len(n.entries) >= maxEntriesPerNode {
			c.mu.Unlock()
			c.drop("checks_per_node", resultSeries(&r))
			c.bad.Warn("checks_per_node", "node has too many checks and probes; dropping results for new ones",
				"identity", id, "check", name, "max", maxEntriesPerNode)
			return
		}
		e = &entry{name: name, kind: r.Kind}
		n.entries[name] = e
	}
	if reason := e.fresh.accept(r.Stream, r.Time); reason != "" {
		c.mu.Unlock()
		c.malformed("result", reason, subject, fmt.Errorf("result %s/%d of %s from %s sent %s is not newer than the one accepted (%s/%d sent %s)",
			r.Boot, r.Seq, name, id, r.Time.Format(time.RFC3339Nano), e.fresh.boot, e.fresh.seq, e.fresh.time.Format(time.RFC3339Nano)))
		return
	}
	if truncated {
		c.health.truncated.Inc()
	}
	if e.kind != r.Kind {
		// The same name changed from check to probe: its series change shape.
		c.release(e)
		*e = entry{name: name, kind: r.Kind, fresh: e.fresh}
	}
	hadResult := !e.res.Time.IsZero()
	prev := e.res.Status
	e.res, e.truncated = r, truncated
	c.admitEntry(n, e)
	var evs []protocol.Event
	if hadResult && prev != r.Status && !historical {
		evs = append(evs, protocol.Event{
			Type: protocol.EventCheckState, Time: now, Identity: id, Check: name,
			Status: r.Status, Previous: prev,
			Message: fmt.Sprintf("%s on %s changed from %s to %s: %s", name, id,
				protocol.StateName(prev), protocol.StateName(r.Status), r.Output),
			Data: map[string]string{"kind": r.Kind, "output": r.Output},
		})
	}
	c.mu.Unlock()
	c.emit(evs)
}

// admitEntry takes budget for e's series and builds their label sets. What
// does not fit is counted, once per result that carries it. Lock must be
// held.
func (c *Collector) admitEntry(n *node, e *entry) {
	// relabel rebuilds the label sets of every entry a node has, so only a
	// new entry lacks them.
	if e.base == nil {
		c.buildEntryLabels(n, e)
	}
	r := &e.res
	if !e.admitted {
		cost := checkSeries
		if e.kind == "probe" {
			cost = probeSeries
		}
		if !c.admit(cost) {
			c.drop("max_series", resultSeries(r))
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
				c.drop("perfdata_per_check", 1)
			case !c.admit(1):
				c.drop("max_series", 1)
			default:
				if e.perf == nil {
					e.perf = map[string][]*dto.LabelPair{}
				}
				e.perf[p.Label] = withLabels(e.base, c.pair("label", p.Label))
				e.cost++
			}
		}
		return
	}
	for _, s := range r.Steps {
		c.admitStep(e, s.Name, "total")
		for ph := range s.Phases {
			c.admitStep(e, s.Name, ph)
		}
	}
}

func (c *Collector) admitStep(e *entry, step, phase string) {
	k := step + "\x00" + phase
	if _, ok := e.steps[k]; ok {
		return
	}
	switch {
	case len(e.steps) >= maxStepSeries:
		c.drop("steps_per_probe", 1)
	case !c.admit(1):
		c.drop("max_series", 1)
	default:
		if e.steps == nil {
			e.steps = map[string][]*dto.LabelPair{}
		}
		e.steps[k] = withLabels(e.base, c.pair("step", step), c.pair("phase", phase))
		e.cost++
	}
}

// sweep marks nodes that stopped heartbeating as down and tells OnEvent.
func (c *Collector) sweep() {
	now := c.opts.Now()
	var evs []protocol.Event
	c.mu.Lock()
	for _, n := range c.state.nodes {
		if !n.up || c.alive(n, now) {
			continue
		}
		n.up = false
		evs = append(evs, protocol.Event{
			Type: protocol.EventNodeDown, Time: now, Identity: n.id,
			Message: fmt.Sprintf("%s is down: no heartbeat for %s (expected every %s)",
				n.id, now.Sub(n.lastSeen).Round(time.Second), n.interval),
		})
	}
	c.mu.Unlock()
	sort.Slice(evs, func(i, j int) bool { return evs[i].Identity < evs[j].Identity })
	c.emit(evs)
}
