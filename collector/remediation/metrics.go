package remediation

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the engine's Prometheus series, registered on the Registerer
// the caller passes so that several engines (tests) never collide.
type metrics struct {
	total     *prometheus.CounterVec
	skipped   *prometheus.CounterVec
	deferred  *prometheus.CounterVec
	dropped   *prometheus.CounterVec
	parked    prometheus.Gauge
	duration  *prometheus.HistogramVec
	timeToFix *prometheus.HistogramVec
	circuit   *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer, rs *RuleSet) (*metrics, error) {
	m := &metrics{
		total: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pulse_remediations_total",
			Help: "Remediations by rule and final result (succeeded, failed, ineffective, dry_run, rejected).",
		}, []string{"rule", "result"}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pulse_remediation_skipped_total",
			Help: "Alerts the remediation engine did not act on, by rule and reason.",
		}, []string{"rule", "reason"}),
		deferred: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pulse_remediation_deferred_total",
			Help: "Alerts whose decision a guard deferred until it lifts, by rule and reason.",
		}, []string{"rule", "reason"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pulse_remediation_deferred_dropped_total",
			Help: "Deferred decisions dropped unmade: cause cap (too many waiting, oldest first) or max_age (waited too long).",
		}, []string{"rule", "cause"}),
		parked: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "pulse_remediation_deferred",
			Help: "Decisions waiting now for a guard to lift.",
		}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "pulse_remediation_duration_seconds",
			Help:    "Time from starting a remediation to its verified or failed end.",
			Buckets: prometheus.ExponentialBuckets(0.25, 2, 12),
		}, []string{"rule"}),
		timeToFix: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "pulse_remediation_time_to_fix_seconds",
			Help:    "Time from an alert starting to its remediation being verified.",
			Buckets: prometheus.ExponentialBuckets(5, 2, 12),
		}, []string{"rule"}),
		circuit: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "pulse_remediation_circuit_open",
			Help: "1 while a rule's circuit breaker is open and the rule is stopped.",
		}, []string{"rule"}),
	}
	for _, c := range []prometheus.Collector{m.total, m.skipped, m.deferred, m.dropped, m.parked, m.duration, m.timeToFix, m.circuit} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register remediation metrics: %w; is a second engine using the same registry?", err)
		}
	}
	// Export every outcome of every rule from the start, at zero: rate()
	// and alerts see a series that has not moved rather than none, and
	// dashboards show 0 instead of "No data" before the first remediation.
	// Alerts before a rule matches carry no rule.
	for _, reason := range []Reason{ReasonResolved, ReasonNoRule} {
		m.skipped.WithLabelValues("", string(reason))
	}
	for _, r := range rs.Rules {
		m.circuit.WithLabelValues(r.Name).Set(0)
		for _, s := range finalStates {
			m.total.WithLabelValues(r.Name, string(s))
		}
		for _, reason := range ruleReasons {
			m.skipped.WithLabelValues(r.Name, string(reason))
		}
		for _, reason := range deferReasons {
			m.deferred.WithLabelValues(r.Name, string(reason))
		}
		for _, cause := range []string{"cap", "max_age"} {
			m.dropped.WithLabelValues(r.Name, cause)
		}
		m.duration.WithLabelValues(r.Name)
		m.timeToFix.WithLabelValues(r.Name)
	}
	return m, nil
}

// finalStates are the results pulse_remediations_total counts.
var finalStates = []State{StateSucceeded, StateFailed, StateIneffective, StateDryRun, StateRejected}

// ruleReasons are the reasons an alert that matched a rule is skipped for.
var ruleReasons = []Reason{
	ReasonCircuitOpen, ReasonNoTarget, ReasonInvalidValue, ReasonUnknownNode, ReasonNodeDown,
	ReasonRecovered, ReasonTooManyTargets, ReasonPendingApproval, ReasonExpired,
}

// deferReasons are the guards that defer a decision rather than drop it.
var deferReasons = []Reason{ReasonDuplicate, ReasonTooManyTargets, ReasonCooldown, ReasonBudget}
