package collector

import (
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/pulseops/pulse/internal/protocol"
)

// healthMetrics are the collector's own counters about what it ingested and
// what it refused.
type healthMetrics struct {
	messages  *prometheus.CounterVec
	malformed *prometheus.CounterVec
	dropped   *prometheus.CounterVec
	overflow  *prometheus.CounterVec
	truncated prometheus.Counter
	lag       prometheus.Histogram
}

func newHealthMetrics(reg prometheus.Registerer) *healthMetrics {
	h := &healthMetrics{
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pulse_collector_messages_total",
			Help: "Messages received from the bus, by kind (registration, result, unknown).",
		}, []string{"kind"}),
		malformed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pulse_collector_malformed_messages_total",
			Help: "Messages dropped because they could not be used, by kind and reason (decode, identity_mismatch, name_mismatch, kind, subject).",
		}, []string{"kind", "reason"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pulse_collector_dropped_series_total",
			Help: "Series refused by the cardinality guard, counted once per message that carried them, by reason.",
		}, []string{"reason"}),
		overflow: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pulse_collector_label_overflow_total",
			Help: "Times a node's fact label value was replaced by __overflow__ because the label had too many distinct values.",
		}, []string{"label"}),
		truncated: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pulse_collector_truncated_outputs_total",
			Help: "Results whose output or long output was longer than the limit and was truncated.",
		}),
		lag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "pulse_collector_ingest_lag_seconds",
			Help:    "Time from a result being produced on its node to its ingestion, for results not replayed from history.",
			Buckets: []float64{0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300},
		}),
	}
	reg.MustRegister(h.messages, h.malformed, h.dropped, h.overflow, h.truncated, h.lag)
	// Start the known series at zero so that rate() and alerts see them from
	// the first scrape rather than from the first problem.
	for _, k := range []string{"registration", "result"} {
		h.messages.WithLabelValues(k)
		for _, r := range []string{"decode", "identity_mismatch"} {
			h.malformed.WithLabelValues(k, r)
		}
	}
	h.dropped.WithLabelValues("max_series")
	return h
}

// fleetCollector emits the fleet's series from the collector's state on each
// scrape. It keeps ready-made label sets on the state so a scrape only copies
// values, which keeps it close to a plain registry in cost.
type fleetCollector struct {
	c *Collector

	nodeUp, nodeLastSeen, nodeInfo                        *prometheus.Desc
	checkStatus, checkDuration, checkLastRun, checkStale  *prometheus.Desc
	checkPerf, checkRuns                                  *prometheus.Desc
	probeSuccess, probeDuration, probeLastRun, probeStale *prometheus.Desc
	probeStep, probeRuns, probeFailures, collectorNodes   *prometheus.Desc

	// idx is the sorted list of series, valid while idxShape matches the
	// state's shape.
	idxMu    sync.Mutex
	idx      []slot
	idxShape uint64
	idxValid bool
}

func newFleetCollector(c *Collector) *fleetCollector {
	node := []string{"identity"}
	for _, r := range c.rules {
		node = append(node, r.label)
	}
	with := func(extra ...string) []string { return append(append([]string{}, node...), extra...) }
	d := func(name, help string, labels []string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	return &fleetCollector{
		c:              c,
		nodeUp:         d("pulse_node_up", "1 if the node heartbeated within the allowed number of missed heartbeats, else 0.", node),
		nodeLastSeen:   d("pulse_node_last_seen_timestamp_seconds", "Unix time of the node's last heartbeat.", node),
		nodeInfo:       d("pulse_node_info", "Always 1; carries the node's allow-listed fact labels for group_left joins.", node),
		checkStatus:    d("pulse_check_status", "Nagios state of the check's last run: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.", with("check")),
		checkDuration:  d("pulse_check_duration_seconds", "How long the check's last run took.", with("check")),
		checkLastRun:   d("pulse_check_last_run_timestamp_seconds", "Unix time of the check's last run.", with("check")),
		checkStale:     d("pulse_check_stale", "1 if the check's last result is older than the allowed number of its intervals, else 0.", with("check")),
		checkPerf:      d("pulse_check_perfdata", "Perfdata value of the check's last run in base units (seconds, bytes, ratios for percentages).", with("check", "label")),
		checkRuns:      d("pulse_check_runs_total", "Runs of the check by resulting state since the agent started.", with("check", "status")),
		probeSuccess:   d("pulse_probe_success", "1 if the probe's last run succeeded, else 0.", with("probe")),
		probeDuration:  d("pulse_probe_duration_seconds", "How long the probe's last run took.", with("probe")),
		probeLastRun:   d("pulse_probe_last_run_timestamp_seconds", "Unix time of the probe's last run.", with("probe")),
		probeStale:     d("pulse_probe_stale", "1 if the probe's last result is older than the allowed number of its intervals, else 0.", with("probe")),
		probeStep:      d("pulse_probe_step_duration_seconds", "Time a step of the probe's last run spent in each phase; phase total is the whole step.", with("probe", "step", "phase")),
		probeRuns:      d("pulse_probe_runs_total", "Runs of the probe since the agent started.", with("probe")),
		probeFailures:  d("pulse_probe_failures_total", "Failed runs of the probe since the agent started.", with("probe")),
		collectorNodes: d("pulse_collector_nodes", "Nodes the collector knows, up or down.", nil),
	}
}

func (f *fleetCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		f.nodeUp, f.nodeLastSeen, f.nodeInfo,
		f.checkStatus, f.checkDuration, f.checkLastRun, f.checkStale, f.checkPerf, f.checkRuns,
		f.probeSuccess, f.probeDuration, f.probeLastRun, f.probeStale, f.probeStep, f.probeRuns, f.probeFailures,
		f.collectorNodes,
	} {
		ch <- d
	}
}

// sample is one series of one scrape. Samples live in one slice per scrape so
// a scrape allocates once for all of them.
type sample struct {
	desc    *prometheus.Desc
	labels  []*dto.LabelPair
	value   float64
	counter bool
	g       dto.Gauge
	c       dto.Counter
}

func (s *sample) Desc() *prometheus.Desc { return s.desc }

func (s *sample) Write(m *dto.Metric) error {
	m.Label = s.labels
	if s.counter {
		s.c.Value = &s.value
		m.Counter = &s.c
	} else {
		s.g.Value = &s.value
		m.Gauge = &s.g
	}
	return nil
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func unix(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

// slotKind says which value a slot reads from its node or entry.
type slotKind uint8

const (
	sNodeUp slotKind = iota
	sNodeLastSeen
	sNodeInfo
	sCheckStatus
	sCheckDuration
	sCheckLastRun
	sCheckStale
	sCheckRuns
	sCheckPerf
	sProbeSuccess
	sProbeDuration
	sProbeLastRun
	sProbeStale
	sProbeRuns
	sProbeFailures
	sProbeStep
)

// slot is one series that may exist: where its labels are and where its
// value comes from.
type slot struct {
	kind   slotKind
	labels []*dto.LabelPair
	n      *node
	e      *entry
	state  int    // sCheckRuns: the Nagios state
	key    string // sCheckPerf: perfdata label; sProbeStep: step name
	phase  string // sProbeStep
}

// lessLabels orders two label sets of one family as client_golang's
// registry does: by label values, in label name order.
func lessLabels(a, b []*dto.LabelPair) bool {
	for i := range a {
		if i >= len(b) {
			return false
		}
		if va, vb := a[i].GetValue(), b[i].GetValue(); va != vb {
			return va < vb
		}
	}
	return len(a) < len(b)
}

// buildIndex lists every admitted series, each family in the order the
// registry sorts it. Handing the registry sorted input turns its per-scrape
// sort into a linear pass; the index is rebuilt only when series come, go or
// change labels. c.mu must be held for reading.
func (f *fleetCollector) buildIndex() []slot {
	st := f.c.state
	var nodes []*node
	var checks, probes []*entry
	var checkNode, probeNode = map[*entry]*node{}, map[*entry]*node{}
	for _, n := range st.nodes {
		if n.admitted {
			nodes = append(nodes, n)
		}
		for _, e := range n.entries {
			if !e.admitted {
				continue
			}
			if e.kind == "probe" {
				probes = append(probes, e)
				probeNode[e] = n
			} else {
				checks = append(checks, e)
				checkNode[e] = n
			}
		}
	}
	sort.Slice(nodes, func(i, j int) bool { return lessLabels(nodes[i].labels, nodes[j].labels) })
	sort.Slice(checks, func(i, j int) bool { return lessLabels(checks[i].base, checks[j].base) })
	sort.Slice(probes, func(i, j int) bool { return lessLabels(probes[i].base, probes[j].base) })

	out := make([]slot, 0, st.series)
	for _, k := range []slotKind{sNodeUp, sNodeLastSeen, sNodeInfo} {
		for _, n := range nodes {
			out = append(out, slot{kind: k, labels: n.labels, n: n})
		}
	}
	for _, k := range []slotKind{sCheckStatus, sCheckDuration, sCheckLastRun, sCheckStale} {
		for _, e := range checks {
			out = append(out, slot{kind: k, labels: e.base, e: e, n: checkNode[e]})
		}
	}
	var more []slot
	for _, e := range checks {
		for s := range e.runs {
			more = append(more, slot{kind: sCheckRuns, labels: e.runs[s], e: e, state: s})
		}
	}
	sort.Slice(more, func(i, j int) bool { return lessLabels(more[i].labels, more[j].labels) })
	out = append(out, more...)
	more = more[:0]
	for _, e := range checks {
		for k, l := range e.perf {
			more = append(more, slot{kind: sCheckPerf, labels: l, e: e, key: k})
		}
	}
	sort.Slice(more, func(i, j int) bool { return lessLabels(more[i].labels, more[j].labels) })
	out = append(out, more...)
	for _, k := range []slotKind{sProbeSuccess, sProbeDuration, sProbeLastRun, sProbeStale, sProbeRuns, sProbeFailures} {
		for _, e := range probes {
			out = append(out, slot{kind: k, labels: e.base, e: e, n: probeNode[e]})
		}
	}
	more = more[:0]
	for _, e := range probes {
		for k, l := range e.steps {
			step, phase, _ := strings.Cut(k, "\x00")
			more = append(more, slot{kind: sProbeStep, labels: l, e: e, key: step, phase: phase})
		}
	}
	sort.Slice(more, func(i, j int) bool { return lessLabels(more[i].labels, more[j].labels) })
	return append(out, more...)
}

// value reads a slot's current value; false means the series is absent from
// the last result (a run state not seen yet, a perfdata label or step the
// last run did not report).
func (f *fleetCollector) value(s *slot, now time.Time) (*prometheus.Desc, float64, bool, bool) {
	c := f.c
	switch s.kind {
	case sNodeUp:
		return f.nodeUp, b2f(c.alive(s.n, now)), false, true
	case sNodeLastSeen:
		return f.nodeLastSeen, unix(s.n.lastSeen), false, true
	case sNodeInfo:
		return f.nodeInfo, 1, false, true
	}
	r := &s.e.res
	switch s.kind {
	case sCheckStatus:
		return f.checkStatus, float64(r.Status), false, true
	case sCheckDuration:
		return f.checkDuration, r.Duration, false, true
	case sCheckLastRun:
		return f.checkLastRun, unix(r.Time), false, true
	case sCheckStale:
		return f.checkStale, b2f(c.stale(s.e, now)), false, true
	case sCheckRuns:
		v, ok := r.Runs[protocol.StateName(s.state)]
		return f.checkRuns, float64(v), true, ok
	case sCheckPerf:
		for _, p := range r.Perfdata {
			if p.Label == s.key {
				return f.checkPerf, baseValue(p), false, true
			}
		}
		return nil, 0, false, false
	case sProbeSuccess:
		return f.probeSuccess, b2f(r.Status == protocol.StateOK), false, true
	case sProbeDuration:
		return f.probeDuration, r.Duration, false, true
	case sProbeLastRun:
		return f.probeLastRun, unix(r.Time), false, true
	case sProbeStale:
		return f.probeStale, b2f(c.stale(s.e, now)), false, true
	case sProbeRuns:
		return f.probeRuns, float64(r.ProbeRuns), true, true
	case sProbeFailures:
		return f.probeFailures, float64(r.ProbeFailures), true, true
	case sProbeStep:
		for _, st := range r.Steps {
			if st.Name != s.key {
				continue
			}
			if s.phase == "total" {
				return f.probeStep, st.Duration, false, true
			}
			v, ok := st.Phases[s.phase]
			return f.probeStep, v, false, ok
		}
	}
	return nil, 0, false, false
}

func (f *fleetCollector) Collect(ch chan<- prometheus.Metric) {
	c := f.c
	now := c.opts.Now()
	c.mu.RLock()
	f.idxMu.Lock()
	if !f.idxValid || f.idxShape != c.state.shape {
		f.idx, f.idxShape, f.idxValid = f.buildIndex(), c.state.shape, true
	}
	out := make([]sample, 0, len(f.idx)+1)
	for i := range f.idx {
		s := &f.idx[i]
		d, v, counter, ok := f.value(s, now)
		if ok {
			out = append(out, sample{desc: d, labels: s.labels, value: v, counter: counter})
		}
	}
	f.idxMu.Unlock()
	out = append(out, sample{desc: f.collectorNodes, value: float64(len(c.state.nodes))})
	c.mu.RUnlock()
	for i := range out {
		ch <- &out[i]
	}
}
