package api

import "time"

// AlertsView is GET /api/v1/alerts: what is firing, and where the
// collector learned it.
type AlertsView struct {
	// Source is "alertmanager <URL>" when the collector asked Alertmanager's
	// API, or "webhook" when it lists what Alertmanager's webhook sent it.
	Source string `json:"source"`
	// Error says why Alertmanager could not be asked, when the list comes
	// from the webhook instead although Alertmanager is configured.
	Error  string      `json:"error,omitempty"`
	Alerts []AlertView `json:"alerts"`
}

// AlertView is one firing alert, with the nodes it is about and the
// remediation it triggered.
type AlertView struct {
	Fingerprint string `json:"fingerprint"`
	Name        string `json:"name"`
	// State is Alertmanager's: active, or suppressed (silenced or
	// inhibited); active for what the webhook sent.
	State       string            `json:"state"`
	Severity    string            `json:"severity,omitempty"`
	Summary     string            `json:"summary,omitempty"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations,omitempty"`
	StartsAt    time.Time         `json:"starts_at"`
	// Nodes are the nodes the alert is about: its identity label, else the
	// nodes its remediation resolved.
	Nodes       []string          `json:"nodes,omitempty"`
	Remediation *AlertRemediation `json:"remediation,omitempty"`
}

// AlertRemediation is the newest remediation record of an alert.
type AlertRemediation struct {
	ID      string           `json:"id"`
	Rule    string           `json:"rule"`
	State   RemediationState `json:"state"`
	Reason  Reason           `json:"reason,omitempty"`
	Detail  string           `json:"detail,omitempty"`
	Targets []string         `json:"targets,omitempty"`
}

// SLOsView is GET /api/v1/slos: each SLO as Prometheus' recording rules
// (pulse rules slo) compute it.
type SLOsView struct {
	// Source is the Prometheus asked, "" when none is configured.
	Source string    `json:"source"`
	Error  string    `json:"error,omitempty"`
	SLOs   []SLOView `json:"slos"`
}

// SLOView is one SLO over one set of its kept labels (a zone, say).
// Ratios are 0–1; a value Prometheus has no data for is null.
type SLOView struct {
	SLO    string            `json:"slo"`
	Labels map[string]string `json:"labels,omitempty"`
	// Objective is the target success ratio, such as 0.995.
	Objective float64 `json:"objective"`
	// SuccessRatio is over the SLO's period (30d by default).
	SuccessRatio *float64 `json:"success_ratio"`
	// ErrorBudgetRemaining is the share of the period's error budget
	// left; below 0 it is overspent.
	ErrorBudgetRemaining *float64 `json:"error_budget_remaining"`
	// BurnRate is the error ratio over BurnRateWindow divided by the
	// budget's ratio: above 1 the budget runs out before the period ends.
	BurnRate       *float64 `json:"burn_rate"`
	BurnRateWindow string   `json:"burn_rate_window"`
}

// HistoryView is GET /api/v1/history: the fleet over the last hour as the
// collector sampled it, for small graphs.
type HistoryView struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// Step is the sampling period in seconds.
	Step   float64        `json:"step"`
	Checks []ChecksPoint  `json:"checks"`
	Probes []ProbeHistory `json:"probes"`
}

// ChecksPoint counts the fleet's checks by state at one time.
type ChecksPoint struct {
	Time     time.Time `json:"time"`
	OK       int       `json:"ok"`
	Warning  int       `json:"warning"`
	Critical int       `json:"critical"`
	Unknown  int       `json:"unknown"`
}

// ProbeHistory is one probe's runs and failures across the fleet, per
// sample.
type ProbeHistory struct {
	Probe  string       `json:"probe"`
	Points []ProbePoint `json:"points"`
}

// ProbePoint counts the runs and failures of a probe since the sample
// before.
type ProbePoint struct {
	Time     time.Time `json:"time"`
	Runs     uint64    `json:"runs"`
	Failures uint64    `json:"failures"`
}
