package collector

import (
	"github.com/prometheus/client_golang/prometheus"

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
			Help: "Messages received from the bus, by kind (registration, result, change, unknown).",
		}, []string{"kind"}),
		malformed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pulse_collector_malformed_messages_total",
			Help: "Messages dropped because they could not be used, by kind and reason (oversized, unversioned, version, envelope, kind, decode, unverified, identity_mismatch, name_mismatch, subject; replayed, older, future: not newer than what the collector has from that node, or dated beyond the allowed skew).",
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
	for _, k := range []string{"registration", "result", "change"} {
		h.messages.WithLabelValues(k)
		for _, r := range []string{protocol.ReasonOversized, protocol.ReasonUnversioned, protocol.ReasonVersion, protocol.ReasonEnvelope,
			protocol.ReasonDecode, "identity_mismatch", "unverified", reasonReplayed, reasonOlder, reasonFuture} {
			h.malformed.WithLabelValues(k, r)
		}
	}
	// A change whose kind, result or counts pulse does not know.
	h.malformed.WithLabelValues("change", "invalid")
	h.dropped.WithLabelValues("max_series")
	return h
}
