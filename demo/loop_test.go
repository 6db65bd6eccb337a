package demo

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pulseops/pulse/collector/api"
	"github.com/pulseops/pulse/collector/remediation"
	"github.com/pulseops/pulse/internal/bus"
	"github.com/pulseops/pulse/internal/hostlock"
	"github.com/pulseops/pulse/internal/protocol"
	"github.com/pulseops/pulse/internal/testkit"
	"github.com/pulseops/pulse/nodeagent"
	"github.com/pulseops/pulse/nodeagent/actions"
	"github.com/pulseops/pulse/nodeagent/checks"
)

// need fails under CI and skips elsewhere when a binary is missing.
func need(t *testing.T, bins ...string) {
	t.Helper()
	for _, b := range bins {
		if _, err := exec.LookPath(b); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is not installed; make test installs it (scripts/test-deps.sh)", b)
			}
			t.Skipf("%s is not installed", b)
		}
	}
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// startLoop runs the demo with real Prometheus and Alertmanager.
func startLoop(t *testing.T) *Demo {
	t.Helper()
	prometheus, alertmanager := testkit.RealPart(t, "prometheus"), testkit.RealPart(t, "alertmanager")
	d, err := Start(context.Background(), Options{
		Nodes: 11, Zones: []string{"eu-west-1a", "eu-west-1b"}, NATSPort: -1,
		CollectorAddr: "127.0.0.1:0", ShopAddr: "127.0.0.1:0",
		Prometheus: prometheus, Alertmanager: alertmanager, PrometheusAddr: testkit.FreeAddr(t), AlertmanagerAddr: testkit.FreeAddr(t),
		Intervals:   Intervals{Register: 2 * time.Second, Load: 2 * time.Second, Nginx: time.Second, Probe: 2 * time.Second},
		ChangeDelay: -1,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Stop)
	return d
}

func remediations(t *testing.T, d *Demo) []remediation.Record {
	t.Helper()
	client := &api.Client{Base: "http://" + d.Collector.Addr(), Token: d.ActionToken}
	var out struct {
		Remediations []remediation.Record `json:"remediations"`
	}
	if err := client.Do("GET", "/api/v1/remediations", nil, &out); err != nil {
		t.Fatal(err)
	}
	return out.Remediations
}

// activeAlerts lists the firing alerts Alertmanager holds for identity.
func activeAlerts(t *testing.T, d *Demo, name, identity string) int {
	t.Helper()
	resp, err := http.Get(d.Alertmanager.URL + "/api/v2/alerts?active=true&silenced=false&inhibited=false")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var alerts []struct {
		Labels map[string]string `json:"labels"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&alerts); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, a := range alerts {
		if a.Labels["alertname"] == name && a.Labels["identity"] == identity {
			n++
		}
	}
	return n
}

// TestLoopRepairsExactlyTheBrokenNode is the whole loop with real parts:
// nginx stops on one simulated node, check_nginx goes CRITICAL, Prometheus
// fires PulseCheckCritical, Alertmanager calls the webhook, the engine
// restarts nginx on that node only, verifies, and the alert resolves.
func TestLoopRepairsExactlyTheBrokenNode(t *testing.T) {
	d := startLoop(t)
	const victim = "ip-10-0-1-12"
	// Wait until Prometheus has the fleet, so the stop is what it sees next.
	eventually(t, 60*time.Second, "11 nodes in the collector", func() bool { return len(d.Collector.Collector().Nodes()) == 11 })
	node, _ := d.Node(victim)
	stopped := time.Now()
	node.services.SetRunning("nginx", false)

	var rec remediation.Record
	eventually(t, 90*time.Second, "a verified remediation of "+victim, func() bool {
		for _, r := range remediations(t, d) {
			if r.Rule == "restart-nginx" && r.State == "succeeded" && r.Verified {
				rec = r
				return true
			}
		}
		return false
	})
	if strings.Join(rec.Targets, ",") != victim {
		t.Fatalf("remediation targeted %v, want only %s", rec.Targets, victim)
	}
	if !node.services.Running("nginx") {
		t.Fatalf("nginx on %s is still stopped after a verified remediation", victim)
	}
	for _, r := range remediations(t, d) {
		for _, tg := range r.Targets {
			if tg != victim {
				t.Fatalf("remediation %s touched %s, which was never broken", r.ID, tg)
			}
		}
	}
	// The collector audited what it did.
	if b, err := os.ReadFile(filepath.Join(d.opts.Dir, "collector-audit.log")); err != nil || !strings.Contains(string(b), rec.ID) {
		t.Fatalf("collector audit log lacks remediation %s: %v\n%s", rec.ID, err, b)
	}
	eventually(t, 90*time.Second, "PulseCheckCritical for "+victim+" to resolve", func() bool {
		return activeAlerts(t, d, "PulseCheckCritical", victim) == 0
	})
	resolved := time.Now()
	// Figures for BENCHMARKS.md, never asserted.
	t.Logf("loop: stop→alert start %s, alert→remediation start %s, remediation→verified %s, stop→verified %s, stop→alert resolved %s",
		rec.Alert.StartsAt.Sub(stopped).Round(time.Millisecond), rec.Started.Sub(rec.Alert.StartsAt).Round(time.Millisecond),
		rec.Finished.Sub(rec.Started).Round(time.Millisecond), rec.Finished.Sub(stopped).Round(time.Millisecond),
		resolved.Sub(stopped).Round(time.Millisecond))
}

// TestLoopRestartsRealSysvNginx runs the loop once more against the local
// host's real nginx, managed through service(8): an agent with the sysv
// provider and a real check_procs check joins the demo's bus.
func TestLoopRestartsRealSysvNginx(t *testing.T) {
	need(t, "service", "nginx", "/usr/lib/nagios/plugins/check_procs")
	testkit.NeedRoot(t, "to drive service(8)")
	hostlock.Lock(t, "nginx")
	d := startLoop(t)
	if out, err := exec.Command("service", "nginx", "start").CombinedOutput(); err != nil {
		t.Fatalf("service nginx start: %v\n%s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("service", "nginx", "stop").Run() })

	runner := checks.NewRunner(checks.RunnerOptions{Commands: map[string][]string{
		"check_nginx": {"/usr/lib/nagios/plugins/check_procs", "-c", "1:", "-C", "nginx"},
	}})
	const id = "localhost-nginx"
	// The host joins the demo's fleet with credentials issued for it, and
	// believes the demo's issuers as the simulated nodes do.
	creds, err := d.Identity.IssueNode(id)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := bus.Connect(bus.Config{URLs: []string{d.NATSURL()}, Name: "local nginx host", Credentials: bus.Credentials{CredsFile: creds}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, err := nodeagent.New(nodeagent.Options{
		Identity: id, Conn: nc, RegisterInterval: 2 * time.Second,
		Verify: d.Identity.Verifier.Verify, Authorize: d.Identity.Policy.Authorize,
		Facts: mapFacts{"ec2_placement_availability_zone": "eu-west-1a", "role": "web", "cluster": "alfa"},
		Agents: []actions.Agent{
			actions.NewServiceAgent(actions.NewSysvProvider(actions.NewExecRunner(actions.ExecRunnerOptions{}, nil)), nil),
			actions.NewNRPEAgent(runner, nil),
		},
		Jobs: []nodeagent.Job{nodeagent.CheckJob(runner, nodeagent.CheckConfig{Name: "check_nginx", Interval: time.Second})},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Stop)
	eventually(t, 60*time.Second, id+" check_nginx OK in the collector", func() bool {
		n, ok := d.Collector.Collector().Node(id)
		return ok && checkStatus(n, "check_nginx") == protocol.StateOK
	})
	if out, err := exec.Command("service", "nginx", "stop").CombinedOutput(); err != nil {
		t.Fatalf("service nginx stop: %v\n%s", err, out)
	}
	eventually(t, 90*time.Second, "a verified remediation of the real nginx", func() bool {
		for _, r := range remediations(t, d) {
			if r.State == "succeeded" && r.Verified && len(r.Targets) == 1 && r.Targets[0] == id {
				return true
			}
		}
		return false
	})
	if err := exec.Command("pgrep", "-x", "nginx").Run(); err != nil {
		t.Fatal("no nginx process after the remediation reported success")
	}
}

func checkStatus(n api.NodeView, check string) int {
	for _, c := range n.Checks {
		if c.Name == check {
			return c.Status
		}
	}
	return -1
}

// TestLoopRepairsAWholeZone breaks nginx on every web node of one zone at
// once. restart-nginx lets 34% of the zone's six nodes (two) be under
// remediation at a time, so the third waits, deferred, and is repaired as
// soon as one of the first two ends: all three within seconds, with no
// help from Alertmanager's resend (5 minutes in the demo).
func TestLoopRepairsAWholeZone(t *testing.T) {
	d := startLoop(t)
	eventually(t, 60*time.Second, "11 nodes in the collector", func() bool { return len(d.Collector.Collector().Nodes()) == 11 })
	var web []string
	for _, n := range Fleet(11, []string{"eu-west-1a", "eu-west-1b"}) {
		if n.Zone == "eu-west-1a" && n.Role == "web" {
			web = append(web, n.Identity)
		}
	}
	if len(web) != 3 {
		t.Fatalf("web nodes of eu-west-1a: %v, want three", web)
	}
	eventually(t, 60*time.Second, "check_nginx OK on the zone's web nodes", func() bool {
		for _, id := range web {
			n, ok := d.Collector.Collector().Node(id)
			if !ok || checkStatus(n, "check_nginx") != protocol.StateOK {
				return false
			}
		}
		return true
	})
	stopped := time.Now()
	for _, id := range web {
		n, _ := d.Node(id)
		n.services.SetRunning("nginx", false)
	}
	fixed := map[string]remediation.Record{}
	eventually(t, 90*time.Second, "a verified remediation of each web node of eu-west-1a", func() bool {
		for _, r := range remediations(t, d) {
			if r.Rule == "restart-nginx" && r.State == "succeeded" && r.Verified && len(r.Targets) == 1 {
				if _, ok := fixed[r.Targets[0]]; !ok {
					fixed[r.Targets[0]] = r
				}
			}
		}
		return len(fixed) == 3
	})
	var deferred []remediation.Record
	for _, r := range remediations(t, d) {
		for _, tg := range r.Targets {
			if !slices.Contains(web, tg) {
				t.Fatalf("remediation %s touched %s, which was never broken", r.ID, tg)
			}
		}
		if r.Reason == remediation.ReasonTooManyTargets || !r.Started.IsZero() && r.Started.Sub(r.Created) > 500*time.Millisecond {
			deferred = append(deferred, r)
		}
	}
	for _, id := range web {
		if n, _ := d.Node(id); !n.services.Running("nginx") {
			t.Fatalf("nginx on %s is still stopped", id)
		}
	}
	// The guard held: never more than two at once. The last one started
	// only once another had ended.
	recs := slices.SortedFunc(maps.Values(fixed), func(a, b remediation.Record) int { return a.Started.Compare(b.Started) })
	if last := recs[2]; last.Started.Before(recs[0].Finished) && last.Started.Before(recs[1].Finished) {
		t.Fatalf("three remediations ran at once in a zone that allows two: %+v", recs)
	}
	for _, r := range recs {
		t.Logf("zone: %s stop→verified %s (decided %s, started %s after deciding)", r.Targets[0], r.Finished.Sub(stopped).Round(time.Millisecond),
			r.Created.Sub(stopped).Round(time.Millisecond), r.Started.Sub(r.Created).Round(time.Millisecond))
	}
	if len(deferred) == 0 {
		t.Errorf("no remediation waited for the group guard; the zone test did not test deferral")
	}
	t.Logf("zone: stop→last verified %s", recs[2].Finished.Sub(stopped).Round(time.Millisecond))
}
