package collector

import (
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

func unix(t interface{ UnixNano() int64 }) float64 { return float64(t.UnixNano()) / 1e9 }

func (f *fleetCollector) Collect(ch chan<- prometheus.Metric) {
	c := f.c
	now := c.opts.Now()
	c.mu.RLock()
	out := make([]sample, 0, c.state.series+1)
	add := func(d *prometheus.Desc, labels []*dto.LabelPair, v float64, counter bool) {
		out = append(out, sample{desc: d, labels: labels, value: v, counter: counter})
	}
	for _, n := range c.state.nodes {
		if n.admitted {
			add(f.nodeUp, n.labels, b2f(c.alive(n, now)), false)
			add(f.nodeLastSeen, n.labels, unix(n.lastSeen), false)
			add(f.nodeInfo, n.labels, 1, false)
		}
		for _, e := range n.entries {
			if !e.admitted {
				continue
			}
			r := &e.res
			stale := b2f(c.stale(e, now))
			if e.kind == "probe" {
				add(f.probeSuccess, e.base, b2f(r.Status == protocol.StateOK), false)
				add(f.probeDuration, e.base, r.Duration, false)
				add(f.probeLastRun, e.base, unix(r.Time), false)
				add(f.probeStale, e.base, stale, false)
				add(f.probeRuns, e.base, float64(r.ProbeRuns), true)
				add(f.probeFailures, e.base, float64(r.ProbeFailures), true)
				for _, s := range r.Steps {
					if l, ok := e.steps[s.Name+"\x00total"]; ok {
						add(f.probeStep, l, s.Duration, false)
					}
					for ph, v := range s.Phases {
						if l, ok := e.steps[s.Name+"\x00"+ph]; ok {
							add(f.probeStep, l, v, false)
						}
					}
				}
				continue
			}
			add(f.checkStatus, e.base, float64(r.Status), false)
			add(f.checkDuration, e.base, r.Duration, false)
			add(f.checkLastRun, e.base, unix(r.Time), false)
			add(f.checkStale, e.base, stale, false)
			for s := range e.runs {
				if v, ok := r.Runs[protocol.StateName(s)]; ok {
					add(f.checkRuns, e.runs[s], float64(v), true)
				}
			}
			for _, p := range r.Perfdata {
				if l, ok := e.perf[p.Label]; ok {
					add(f.checkPerf, l, baseValue(p), false)
				}
			}
		}
	}
	add(f.collectorNodes, nil, float64(len(c.state.nodes)), false)
	c.mu.RUnlock()
	for i := range out {
		ch <- &out[i]
	}
}
