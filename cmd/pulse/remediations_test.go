//go:build !agentonly

package main

import (
	"strings"
	"testing"
	"time"

	"github.com/pulseops/pulse/collector/api"
)

// TestRenderRemediations: every decision is a line, with its reason and,
// under it, why it waits or was skipped; a dry run names its nodes.
func TestRenderRemediations(t *testing.T) {
	at := func(s int) time.Time { return time.Date(2026, 3, 1, 9, 12, s, 0, time.UTC) }
	alert := api.AlertRef{Name: "PulseCheckCritical"}
	recs := []api.Remediation{
		{ID: "r-1", Rule: "restart-nginx", Alert: alert, Targets: []string{"ip-10-0-1-10"}, State: api.StateSucceeded, VerifyCheck: "check_nginx", Verified: true,
			Created: at(1), Decided: at(1), Started: at(1), Finished: at(4)},
		{ID: "r-2", Rule: "restart-nginx", Alert: alert, Targets: []string{"ip-10-0-1-12"}, State: api.StateDeferred, VerifyCheck: "check_nginx", Created: at(1), Decided: at(2),
			Reason: api.ReasonTooManyTargets, Detail: "2 of 6 nodes in az=eu-west-1a already under remediation; 1 more would exceed max_group_percent 34 (2 nodes)"},
		{ID: "r-3", Rule: "restart-nginx", Alert: alert, Targets: []string{"ip-10-0-1-10"}, State: api.StateDeferred, Created: at(5), Decided: at(5), Retry: at(61),
			Reason: api.ReasonCooldown, Detail: "rule restart-nginx acted on ip-10-0-1-10 4s ago (cooldown 1m0s)"},
		{ID: "r-4", Rule: "restart-nginx", Alert: alert, State: api.StateSkipped, Created: at(6), Decided: at(9),
			Reason: api.ReasonUnknownNode, Detail: "refused: no node ghost in the collector's fleet; pulse acts only on nodes it knows"},
		{ID: "r-5", Rule: "login-dry-run", Alert: api.AlertRef{Name: "PulseProbeFailing"}, Targets: []string{"ip-10-0-1-10", "ip-10-0-1-12"}, State: api.StateDryRun, Created: at(7), Decided: at(7),
			Reason: api.ReasonDryRun, Detail: "dry run: would run service.restart on az=eu-west-1a,role=web (ip-10-0-1-10,ip-10-0-1-12)"},
	}
	var b strings.Builder
	renderRemediations(&b, recs, time.UTC)
	want := `ID   RULE           ALERT               TARGETS                    STATE      REASON            VERIFIED  DECIDED   TOOK
r-1  restart-nginx  PulseCheckCritical  ip-10-0-1-10               succeeded  -                 yes       09:12:01  3s
r-2  restart-nginx  PulseCheckCritical  ip-10-0-1-12               deferred   too_many_targets  -         09:12:02
    2 of 6 nodes in az=eu-west-1a already under remediation; 1 more would exceed max_group_percent 34 (2 nodes); decided again when it ends
r-3  restart-nginx  PulseCheckCritical  ip-10-0-1-10               deferred   cooldown          -         09:12:05
    rule restart-nginx acted on ip-10-0-1-10 4s ago (cooldown 1m0s); decided again at 09:13:01 at the latest
r-4  restart-nginx  PulseCheckCritical  -                          skipped    unknown_node      -         09:12:09
    refused: no node ghost in the collector's fleet; pulse acts only on nodes it knows
r-5  login-dry-run  PulseProbeFailing   ip-10-0-1-10,ip-10-0-1-12  dry_run    dry_run           -         09:12:07
    dry run: would run service.restart on az=eu-west-1a,role=web (ip-10-0-1-10,ip-10-0-1-12)

5 records: 2 deferred, 1 succeeded, 1 dry_run, 1 skipped
`
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}
