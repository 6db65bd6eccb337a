package delivery

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/pulseops/pulse/collector/api"
	"github.com/pulseops/pulse/internal/protocol"
)

var t0 = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

func newTracker(t *testing.T) (*Tracker, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	zones := map[string]string{"a1": "eu-west-1a", "a2": "eu-west-1a", "b1": "eu-west-1b"}
	tr := New(Options{Registerer: reg, LabelNames: []string{"az", "role"}, FailureWindow: 30 * time.Minute,
		Labels: func(id string) []string { return []string{zones[id], "web"} }})
	return tr, reg
}

func changeEv(node, via, id, result string, at time.Time) protocol.Event {
	c := protocol.Change{Identity: node, Time: at, ChangeBody: protocol.ChangeBody{Kind: "package", Action: "install", Name: "shop",
		From: "1.0.0", To: "1.1.0", Result: result, Request: "req-" + node + at.Format("150405"),
		Origin: &protocol.Origin{Via: via, ID: id, CommittedAt: t0.Add(-2 * time.Hour)}}}
	return protocol.Event{Type: protocol.EventChange, Time: at, Identity: node, Data: c}
}

func gathered(t *testing.T, reg *prometheus.Registry, names ...string) string {
	t.Helper()
	var b strings.Builder
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, n := range names {
			if mf.GetName() != n {
				continue
			}
			for _, m := range mf.GetMetric() {
				var ls []string
				for _, l := range m.GetLabel() {
					ls = append(ls, l.GetName()+"="+l.GetValue())
				}
				v := m.GetCounter().GetValue()
				if h := m.GetHistogram(); h != nil {
					v = float64(h.GetSampleCount())
					b.WriteString(n + "{" + strings.Join(ls, ",") + "} count " + ftoa(v) + " sum " + ftoa(h.GetSampleSum()) + "\n")
					continue
				}
				b.WriteString(n + "{" + strings.Join(ls, ",") + "} " + ftoa(v) + "\n")
			}
		}
	}
	return b.String()
}

func ftoa(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

func TestDeploymentsAndFailures(t *testing.T) {
	tr, reg := newTracker(t)
	// A rollout reaches three nodes in two zones: one deployment per zone,
	// however many nodes and steps; lead time from the commit.
	for i, n := range []string{"a1", "a2", "b1"} {
		tr.Observe(changeEv(n, protocol.ViaRollout, "r1", protocol.ChangeOK, t0.Add(time.Duration(i)*time.Minute)))
	}
	// Rollbacks, remediation and changes that changed nothing are not
	// deployments.
	tr.Observe(changeEv("a1", protocol.ViaRollback, "r1", protocol.ChangeOK, t0.Add(3*time.Minute)))
	tr.Observe(changeEv("a1", protocol.ViaRemediation, "", protocol.ChangeOK, t0.Add(3*time.Minute)))
	tr.Observe(changeEv("a1", protocol.ViaCLI, "", protocol.ChangeUnchanged, t0.Add(3*time.Minute)))
	want := "pulse_deployments_total{az=eu-west-1a,role=web} 1\npulse_deployments_total{az=eu-west-1b,role=web} 1\n" +
		"pulse_lead_time_seconds{az=eu-west-1a,role=web} count 1 sum 7200\npulse_lead_time_seconds{az=eu-west-1b,role=web} count 1 sum 7320\n"
	if got := gathered(t, reg, "pulse_deployments_total", "pulse_lead_time_seconds"); got != want {
		t.Fatalf("got\n%swant\n%s", got, want)
	}

	// A check going CRITICAL on a node of the deployment within the window
	// fails it in that node's group, once; one outside the window does not.
	crit := func(node string, at time.Time) {
		tr.Observe(protocol.Event{Type: protocol.EventCheckState, Identity: node, Status: protocol.StateCritical, Previous: protocol.StateOK, Time: at})
	}
	// A result of a run from before b1's change, ingested after it (results
	// and changes come on separate streams), is no failure of it.
	tr.Observe(protocol.Event{Type: protocol.EventCheckState, Identity: "b1", Status: protocol.StateCritical, Previous: protocol.StateOK,
		Time: t0.Add(5 * time.Minute), Data: map[string]any{"ran": t0.Add(time.Minute).Format(time.RFC3339Nano)}})
	crit("a2", t0.Add(10*time.Minute))
	crit("a1", t0.Add(11*time.Minute))
	crit("b1", t0.Add(40*time.Minute))
	want = "pulse_change_failures_total{az=eu-west-1a,role=web} 1\npulse_change_failures_total{az=eu-west-1b,role=web} 0\n"
	if got := gathered(t, reg, "pulse_change_failures_total"); got != want {
		t.Fatalf("got\n%swant\n%s", got, want)
	}

	// A second rollout, rolled back: failed in every group it reached, and
	// the time from its failed step to its nodes back is a restore. Its
	// record arrives before its change (separate streams): still a failure.
	rec := api.Rollout{ID: "r2", State: api.RolloutRolledBack, Finished: t0.Add(52 * time.Minute),
		Steps: []api.RolloutStep{{Name: "canary", State: api.StepFailed, Started: t0.Add(50 * time.Minute)}},
		Nodes: []api.RolloutNode{{Identity: "b1", State: api.NodeRolledBack}}}
	tr.Observe(protocol.Event{Type: protocol.EventRollout, Time: t0.Add(52 * time.Minute), Data: rec})
	tr.Observe(changeEv("b1", protocol.ViaRollout, "r2", protocol.ChangeOK, t0.Add(50*time.Minute)))
	// A remediation verified 90 s after its alert started is a restore.
	rem := api.Remediation{ID: "m1", State: api.StateSucceeded, Verified: true, Targets: []string{"a1"},
		Alert: api.AlertRef{StartsAt: t0.Add(60 * time.Minute)}, Created: t0.Add(60 * time.Minute), Finished: t0.Add(61*time.Minute + 30*time.Second)}
	tr.Observe(protocol.Event{Type: protocol.EventRemediation, Time: rem.Finished, Data: rem})
	tr.Observe(protocol.Event{Type: protocol.EventRemediation, Time: rem.Finished, Data: rem}) // the same record again
	want = "pulse_change_failures_total{az=eu-west-1a,role=web} 1\npulse_change_failures_total{az=eu-west-1b,role=web} 1\n" +
		"pulse_deployments_total{az=eu-west-1a,role=web} 1\npulse_deployments_total{az=eu-west-1b,role=web} 2\n" +
		"pulse_restore_duration_seconds{az=eu-west-1a,role=web,source=remediation} count 1 sum 90\n" +
		"pulse_restore_duration_seconds{az=eu-west-1b,role=web,source=rollback} count 1 sum 120\n"
	if got := gathered(t, reg, "pulse_change_failures_total", "pulse_deployments_total", "pulse_restore_duration_seconds"); got != want {
		t.Fatalf("got\n%swant\n%s", got, want)
	}
	if v := testutil.ToFloat64(tr.failures.WithLabelValues("eu-west-1b", "web")); v != 1 {
		t.Fatal(v)
	}

	// Hours later the old deployments are forgotten: state stays bounded.
	tr.Observe(changeEv("a1", protocol.ViaCLI, "", protocol.ChangeFailed, t0.Add(5*time.Hour)))
	tr.mu.Lock()
	sets, nodes := len(tr.sets), len(tr.lastOn)
	tr.mu.Unlock()
	if sets != 1 || nodes != 1 {
		t.Fatalf("%d deployments and %d nodes remembered, want 1 and 1", sets, nodes)
	}
}
