package rules

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// FleetOptions are the knobs of the fleet alerting rules. Production and the
// demo differ only in how long a condition must hold before it fires.
type FleetOptions struct {
	// CheckFor is how long a check must stay CRITICAL or WARNING.
	CheckFor time.Duration
	// NodeDownFor is how long a node (or the collector itself) must be down.
	NodeDownFor time.Duration
	// ProbeFor is how long a zone's business probe must keep failing more
	// than ProbeFailureRatio of its runs over ProbeWindow before it fires;
	// ProbeKeepFiringFor is how long it keeps firing once it no longer
	// does, so a probe that fails now and then fires once and stays.
	ProbeFor           time.Duration
	ProbeWindow        time.Duration
	ProbeKeepFiringFor time.Duration
	ProbeFailureRatio  float64
	// StaleFor is how long a check result must stay stale.
	StaleFor time.Duration
	// RemediationWindow is the range over which failed or ineffective
	// remediations are counted; it must span a few scrapes.
	RemediationWindow time.Duration
	// CollectorJob is the Prometheus job_name that scrapes the collector,
	// used by PulseCollectorDown. It must match prometheus.yml.
	CollectorJob string
	// Interval is the rule group's evaluation interval; zero uses the global
	// evaluation_interval.
	Interval time.Duration
}

// DefaultFleetOptions are the production durations committed as
// rules/pulse.rules.yml: long enough that a flapping check or one lost
// heartbeat does not page anyone or trigger a remediation.
func DefaultFleetOptions() FleetOptions {
	return FleetOptions{
		CheckFor:           2 * time.Minute,
		NodeDownFor:        time.Minute,
		ProbeFor:           3 * time.Minute,
		ProbeWindow:        5 * time.Minute,
		ProbeKeepFiringFor: 5 * time.Minute,
		ProbeFailureRatio:  0.1,
		StaleFor:           5 * time.Minute,
		RemediationWindow:  15 * time.Minute,
		CollectorJob:       "pulse",
	}
}

// DemoFleetOptions are short durations so the demo loop (fault, alert,
// remediation, recovery) completes in seconds with 1s scrape and
// evaluation intervals.
func DemoFleetOptions() FleetOptions {
	return FleetOptions{
		CheckFor:           2 * time.Second,
		NodeDownFor:        5 * time.Second,
		ProbeFor:           5 * time.Second,
		ProbeWindow:        30 * time.Second,
		ProbeKeepFiringFor: 30 * time.Second,
		ProbeFailureRatio:  0.1,
		StaleFor:           5 * time.Second,
		RemediationWindow:  time.Minute,
		CollectorJob:       "pulse",
	}
}

func (o FleetOptions) validate() error {
	var errs []error
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"CheckFor", o.CheckFor}, {"NodeDownFor", o.NodeDownFor}, {"ProbeFor", o.ProbeFor}, {"ProbeKeepFiringFor", o.ProbeKeepFiringFor},
		{"StaleFor", o.StaleFor}, {"Interval", o.Interval},
	} {
		if d.v < 0 || d.v%time.Millisecond != 0 {
			errs = append(errs, fmt.Errorf("%s is %s: use zero or a positive whole number of milliseconds", d.name, d.v))
		}
	}
	if o.ProbeWindow <= 0 || o.ProbeWindow%time.Millisecond != 0 {
		errs = append(errs, fmt.Errorf("ProbeWindow is %s: use a positive range spanning several probe runs, e.g. 5m", o.ProbeWindow))
	}
	if o.ProbeFailureRatio <= 0 || o.ProbeFailureRatio >= 1 {
		errs = append(errs, fmt.Errorf("ProbeFailureRatio is %g: use a share of runs between 0 and 1, e.g. 0.1", o.ProbeFailureRatio))
	}
	if o.RemediationWindow <= 0 || o.RemediationWindow%time.Millisecond != 0 {
		errs = append(errs, fmt.Errorf("RemediationWindow is %s: use a positive range spanning a few scrapes, e.g. 15m", o.RemediationWindow))
	}
	if o.CollectorJob == "" || strings.ContainsAny(o.CollectorJob, "\"\\\n") {
		errs = append(errs, fmt.Errorf("CollectorJob %q: use the job_name that scrapes the collector, without quotes or backslashes", o.CollectorJob))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("fleet rule options: %w", err)
	}
	return nil
}

// serviceLabel copies the service name out of a check called check_<service>
// into a "service" label, so a remediation rule can template
// `service restart {{ .Labels.service }}` without parsing check names.
// label_replace leaves series whose check does not match untouched.
func serviceLabel(expr string) string {
	return `label_replace(` + expr + `, "service", "$1", "check", "check_(.+)")`
}

// FleetRules renders the fleet alerting rules: nodes, checks, probes, and
// the remediation engine watching itself.
func FleetRules(o FleetOptions) ([]byte, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	job := o.CollectorJob
	w := promDuration(o.ProbeWindow)
	// A stale result describes the past; alerting (and remediating) on it
	// would act on a node that may already be fine, so stale checks only
	// raise PulseCheckStale. A down node silences its own stale checks
	// because PulseNodeDown already says why.
	notStale := ` unless on (identity, check) pulse_check_stale == 1`
	f := ruleFile{Groups: []ruleGroup{{
		Name:     "pulse-fleet",
		Interval: forDuration(o.Interval),
		Rules: []rule{
			{
				Alert: "PulseCollectorDown",
				Expr:  `absent(up{job="` + job + `"} == 1)`,
				For:   forDuration(o.NodeDownFor),
				// absent() of a comparison carries no labels, so the job is
				// named explicitly for routing.
				Labels: map[string]string{"severity": "critical", "job": job},
				Annotations: map[string]string{
					"summary":     "The pulse collector is not being scraped",
					"description": `Prometheus has no successful scrape of job "` + job + `"; no other pulse alert can fire until it is back.`,
				},
			},
			{
				Alert:  "PulseNodeDown",
				Expr:   `pulse_node_up == 0`,
				For:    forDuration(o.NodeDownFor),
				Labels: map[string]string{"severity": "critical"},
				Annotations: map[string]string{
					"summary":     "Node {{ $labels.identity }} is down",
					"description": "Node {{ $labels.identity }} ({{ $labels.role }} in {{ $labels.az }}) has stopped sending heartbeats to the collector.",
				},
			},
			{
				Alert:  "PulseCheckCritical",
				Expr:   serviceLabel(`pulse_check_status == 2` + notStale),
				For:    forDuration(o.CheckFor),
				Labels: map[string]string{"severity": "critical"},
				Annotations: map[string]string{
					"summary":     "Check {{ $labels.check }} is CRITICAL on {{ $labels.identity }}",
					"description": "Check {{ $labels.check }} on {{ $labels.identity }} ({{ $labels.role }} in {{ $labels.az }}) has been CRITICAL for " + promDuration(o.CheckFor) + ".",
				},
			},
			{
				Alert:  "PulseCheckWarning",
				Expr:   serviceLabel(`pulse_check_status == 1` + notStale),
				For:    forDuration(o.CheckFor),
				Labels: map[string]string{"severity": "warning"},
				Annotations: map[string]string{
					"summary":     "Check {{ $labels.check }} is WARNING on {{ $labels.identity }}",
					"description": "Check {{ $labels.check }} on {{ $labels.identity }} ({{ $labels.role }} in {{ $labels.az }}) has been WARNING for " + promDuration(o.CheckFor) + ".",
				},
			},
			{
				Alert:  "PulseCheckStale",
				Expr:   `pulse_check_stale == 1 unless on (identity) pulse_node_up == 0`,
				For:    forDuration(o.StaleFor),
				Labels: map[string]string{"severity": "warning"},
				Annotations: map[string]string{
					"summary":     "Check {{ $labels.check }} on {{ $labels.identity }} has stopped reporting",
					"description": "The last result of {{ $labels.check }} on {{ $labels.identity }} is older than three check intervals although the node is up; its scheduler may be stuck.",
				},
			},
			// A business probe is judged per zone over a window, from the
			// cumulative counters every run carries: one node's probe
			// flips between success and failure under a partial fault, so
			// an alert on each node's last result fires and resolves by
			// turns. The zone's failure ratio over the window is steady,
			// and keep_firing_for holds it through a quiet spell.
			{
				Alert: "PulseProbeFailing",
				Expr: "sum by (probe, az) (increase(pulse_probe_failures_total[" + w + "]))\n" +
					"  / sum by (probe, az) (increase(pulse_probe_runs_total[" + w + "]))\n" +
					"  > " + strconv.FormatFloat(o.ProbeFailureRatio, 'g', -1, 64),
				For:           forDuration(o.ProbeFor),
				KeepFiringFor: forDuration(o.ProbeKeepFiringFor),
				Labels:        map[string]string{"severity": "critical"},
				Annotations: map[string]string{
					"summary": "Probe {{ $labels.probe }} is failing in {{ $labels.az }}",
					"description": "More than " + strconv.FormatFloat(100*o.ProbeFailureRatio, 'g', -1, 64) + "% of the runs of business probe {{ $labels.probe }} from {{ $labels.az }} failed over the last " + w +
						"; the alert fires after " + promDuration(o.ProbeFor) + " of that and stays until it has held below for " + promDuration(o.ProbeKeepFiringFor) + ".",
				},
			},
			{
				Alert: "PulseRemediationFailing",
				Expr: `sum by (rule) (increase(pulse_remediations_total{result=~"failed|ineffective"}[` +
					promDuration(o.RemediationWindow) + `])) > 0`,
				Labels: map[string]string{"severity": "critical"},
				Annotations: map[string]string{
					"summary":     "Remediation {{ $labels.rule }} is failing",
					"description": "Remediation rule {{ $labels.rule }} failed or did not clear its alert in the last " + promDuration(o.RemediationWindow) + "; a person has to look.",
				},
			},
			{
				Alert:  "PulseRemediationCircuitOpen",
				Expr:   `pulse_remediation_circuit_open == 1`,
				Labels: map[string]string{"severity": "critical"},
				Annotations: map[string]string{
					"summary":     "Remediation {{ $labels.rule }} has been stopped by its circuit breaker",
					"description": "Remediation rule {{ $labels.rule }} ran too often without effect and will not run again until its circuit closes; fix the cause by hand.",
				},
			},
		},
	}}}
	return f.render("pulse rules (rules.FleetRules)")
}
