//go:build !agentonly

package main

import (
	"strings"
	"testing"
	"time"

	"github.com/pulseops/pulse/collector/api"
)

func TestRenderAlerts(t *testing.T) {
	now := time.Date(2026, 3, 1, 9, 15, 0, 0, time.UTC)
	v := api.AlertsView{Source: "alertmanager http://127.0.0.1:9093", Alerts: []api.AlertView{
		{Name: "PulseCheckCritical", Severity: "critical", State: "active", Nodes: []string{"ip-10-0-1-14"}, StartsAt: now.Add(-12 * time.Second),
			Remediation: &api.AlertRemediation{ID: "r-3", Rule: "restart-nginx", State: api.StateDeferred, Reason: api.ReasonTooManyTargets}},
		{Name: "PulseProbeFailing", Severity: "critical", State: "active", Labels: map[string]string{"az": "eu-west-1a"}, StartsAt: now.Add(-3 * time.Minute),
			Remediation: &api.AlertRemediation{ID: "r-4", Rule: "login-dry-run", State: api.StateDryRun, Reason: api.ReasonDryRun}},
		{Name: "PulseNodeDown", Severity: "critical", State: "suppressed", Nodes: []string{"ip-10-0-2-11"}, StartsAt: now.Add(-90 * time.Second)},
	}}
	var out, errw strings.Builder
	renderAlerts(&out, &errw, v, now)
	want := `ALERT               SEVERITY  STATE       NODES            FOR   REMEDIATION
PulseCheckCritical  critical  active      ip-10-0-1-14     12s   r-3 deferred: too_many_targets (restart-nginx)
PulseProbeFailing   critical  active      zone eu-west-1a  3m0s  r-4 dry_run (login-dry-run)
PulseNodeDown       critical  suppressed  ip-10-0-2-11     2m0s  none

3 alerts firing (from alertmanager http://127.0.0.1:9093)
`
	if out.String() != want {
		t.Errorf("got\n%s\nwant\n%s", out.String(), want)
	}
	out.Reset()
	renderAlerts(&out, &errw, api.AlertsView{Source: "webhook", Error: "cannot ask Alertmanager at http://127.0.0.1:9093: connection refused; showing what its webhook sent the collector"}, now)
	if out.String() != "0 alerts firing (from webhook)\n" || !strings.Contains(errw.String(), "pulse alerts: cannot ask Alertmanager") {
		t.Errorf("empty list: %q, stderr %q", out.String(), errw.String())
	}
}
