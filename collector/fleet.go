package collector

import (
	"fmt"
	"sort"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/pulseops/pulse/internal/protocol"
)

// defaultInterval stands in for a missing heartbeat or result interval.
const defaultInterval = 30 * time.Second

// fleetModel is what the collector knows of the fleet: its nodes, their
// checks and probes with the last result of each, the label sets their
// series carry and the series budget. Messages that were read, verified
// and found well-formed are applied to it (ingest.go does the reading);
// each apply returns an outcome that says what happened — events for
// humans, items dropped by reason, a refusal — and the Collector turns that
// into metrics and log lines. The model itself never logs, counts or
// blocks, so it is tested with plain values (fleet_test.go).
//
// Its owner's lock guards it: the Collector's mu, held for writing while
// applying and for reading while serving.
type fleetModel struct {
	cfg   fleetConfig
	nodes map[string]*node
	guard *labelGuard
	// series is how many series are admitted, against cfg.maxSeries.
	series int
	// shape counts changes to which series exist or their labels, so a
	// scrape knows when its sorted index is out of date.
	shape uint64
	// interned shares label pairs between series; see pair.
	interned map[string]*dto.LabelPair
	// started is when ingest began: messages stored before are history,
	// which rebuilds state without raising events.
	started time.Time
}

// fleetConfig is what the model takes from the collector's Options.
type fleetConfig struct {
	rules           []labelRule
	maxLabelValues  int
	maxSeries       int
	heartbeatMisses int
	staleIntervals  int
	maxOutputBytes  int
}

func newFleetModel(cfg fleetConfig) *fleetModel {
	return &fleetModel{
		cfg:      cfg,
		nodes:    map[string]*node{},
		interned: map[string]*dto.LabelPair{},
		guard:    newLabelGuard(len(cfg.rules), cfg.maxLabelValues),
	}
}

type node struct {
	id string
	// fresh is the newest heartbeat accepted from the node (freshness.go):
	// where a replayed or older one is told apart.
	fresh      freshness
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
	name string
	kind string
	// fresh is the newest result of this check accepted from its node.
	fresh     freshness
	res       protocol.Result
	truncated bool

	admitted bool
	cost     int
	base     []*dto.LabelPair
	runs     [4][]*dto.LabelPair
	perf     map[string][]*dto.LabelPair
	// perfShape is each perfdata label's unit family and threshold bounds
	// in the last result (perfShapeOf), which decide its series.
	perfShape map[string]uint8
	steps     map[string][]*dto.LabelPair // step + "\x00" + phase
}

// outcome is what applying one message did.
type outcome struct {
	// refused is why nothing was applied ("" when it was): the message
	// was not newer than the last one accepted from its stream. err says
	// so in a sentence for the log.
	refused string
	err     error
	// events are the news for humans: node_up, check_state.
	events []protocol.Event
	// dropped counts what is not exposed, by reason: series beyond the
	// budget (max_series), perfdata or steps beyond their bounds, duplicate
	// labels, unknown run states, a node's checks beyond maxEntriesPerNode.
	dropped map[string]int
	// overflowed are the fact labels whose new value went to
	// overflowValue under the cardinality guard.
	overflowed []overflow
	// truncated is set when an output was cut to maxOutputBytes.
	truncated bool
}

// overflow is one fact label value the cardinality guard refused.
type overflow struct {
	label, fact, value, identity string
}

func (o *outcome) drop(reason string, n int) {
	if n <= 0 {
		return
	}
	if o.dropped == nil {
		o.dropped = map[string]int{}
	}
	o.dropped[reason] += n
}

func (m *fleetModel) newNode(id string) *node {
	n := &node{
		id:       id,
		interval: defaultInterval,
		raw:      make([]string, len(m.cfg.rules)),
		values:   make([]string, len(m.cfg.rules)),
		entries:  map[string]*entry{},
	}
	m.buildNodeLabels(n)
	return n
}

// node returns the node id, made when it is new.
func (m *fleetModel) node(id string) *node {
	n := m.nodes[id]
	if n == nil {
		n = m.newNode(id)
		m.nodes[id] = n
	}
	return n
}

// historical reports whether a message the broker stored at stored is
// history (stored before ingest began), which raises no events.
func (m *fleetModel) historical(stored time.Time) bool { return stored.Before(m.started) }

// alive reports whether n has heartbeated within heartbeatMisses intervals.
func (m *fleetModel) alive(n *node, now time.Time) bool {
	return n.registered && now.Sub(n.lastSeen) <= time.Duration(m.cfg.heartbeatMisses)*n.interval
}

// stale reports whether e's result is older than staleIntervals × its
// interval.
func (m *fleetModel) stale(e *entry, now time.Time) bool {
	iv := time.Duration(e.res.Interval * float64(time.Second))
	if iv <= 0 {
		iv = defaultInterval
	}
	return now.Sub(e.res.Time) > time.Duration(m.cfg.staleIntervals)*iv
}

func earlier(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// applyRegistration applies a heartbeat of r.Identity that the broker
// stored at stored.
func (m *fleetModel) applyRegistration(r protocol.Registration, stored, now time.Time) outcome {
	var o outcome
	id := r.Identity
	n := m.node(id)
	if reason := n.fresh.accept(r.Stream, r.Time); reason != "" {
		o.refused = reason
		o.err = fmt.Errorf("heartbeat %s/%d from %s sent %s is not newer than the one accepted (%s/%d sent %s)",
			r.Boot, r.Seq, id, r.Time.Format(time.RFC3339Nano), n.fresh.boot, n.fresh.seq, n.fresh.time.Format(time.RFC3339Nano))
		return o
	}
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
	m.relabel(n, &o)
	if !n.admitted {
		if m.admit(nodeSeries) {
			n.admitted = true
		} else {
			o.drop("max_series", nodeSeries)
		}
	}
	wasUp := n.up
	n.up = m.alive(n, now)
	if n.up && !wasUp && !m.historical(stored) {
		o.events = append(o.events, protocol.Event{
			Type: protocol.EventNodeUp, Time: now, Identity: id,
			Message: fmt.Sprintf("%s is up: heartbeat every %s", id, n.interval),
		})
	}
	return o
}

// applyResult applies a result of r.Identity that clean has bounded, into
// o, the outcome of cleaning it.
func (m *fleetModel) applyResult(r protocol.Result, stored, now time.Time, o *outcome) {
	id, name := r.Identity, r.Name
	n := m.node(id)
	e := n.entries[name]
	if e == nil {
		if len(n.entries) >= maxEntriesPerNode {
			o.drop("checks_per_node", resultSeries(&r))
			o.truncated = false // nothing of it is kept
			return
		}
		e = &entry{name: name, kind: r.Kind}
		n.entries[name] = e
	}
	if reason := e.fresh.accept(r.Stream, r.Time); reason != "" {
		o.refused, o.truncated = reason, false
		o.err = fmt.Errorf("result %s/%d of %s from %s sent %s is not newer than the one accepted (%s/%d sent %s)",
			r.Boot, r.Seq, name, id, r.Time.Format(time.RFC3339Nano), e.fresh.boot, e.fresh.seq, e.fresh.time.Format(time.RFC3339Nano))
		return
	}
	if e.kind != r.Kind {
		// The same name changed from check to probe: its series change shape.
		m.release(e)
		*e = entry{name: name, kind: r.Kind, fresh: e.fresh}
	}
	hadResult := !e.res.Time.IsZero()
	prev := e.res.Status
	e.res, e.truncated = r, o.truncated
	m.admitEntry(n, e, o)
	if hadResult && prev != r.Status && !m.historical(stored) {
		o.events = append(o.events, protocol.Event{
			Type: protocol.EventCheckState, Time: now, Identity: id, Check: name,
			Status: r.Status, Previous: prev,
			Message: fmt.Sprintf("%s on %s changed from %s to %s: %s", name, id,
				protocol.StateName(prev), protocol.StateName(r.Status), r.Output),
			// ran is when the run started, on the node's clock: what tells
			// a failure after a change from one before it (delivery).
			Data: map[string]string{"kind": r.Kind, "output": r.Output, "ran": r.Time.UTC().Format(time.RFC3339Nano)},
		})
	}
}

// sweep marks nodes that stopped heartbeating as down and returns their
// node_down events, in identity order.
func (m *fleetModel) sweep(now time.Time) []protocol.Event {
	var evs []protocol.Event
	for _, n := range m.nodes {
		if !n.up || m.alive(n, now) {
			continue
		}
		n.up = false
		evs = append(evs, protocol.Event{
			Type: protocol.EventNodeDown, Time: now, Identity: n.id,
			Message: fmt.Sprintf("%s is down: no heartbeat for %s (expected every %s)",
				n.id, now.Sub(n.lastSeen).Round(time.Second), n.interval),
		})
	}
	sort.Slice(evs, func(i, j int) bool { return evs[i].Identity < evs[j].Identity })
	return evs
}
