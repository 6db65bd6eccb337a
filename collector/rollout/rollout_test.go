package rollout_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pulseops/pulse/collector/api"
	"github.com/pulseops/pulse/collector/rollout"
	"github.com/pulseops/pulse/internal/testkit"
)

// A good version goes out canary first, then in batches, each step judged
// by the nodes' checks and probes re-run after the change; the record says
// every step and node, and is what the records stream holds.
func TestRolloutSucceeds(t *testing.T) {
	f := newFleet(t, fleetOptions{nodes: 5, probes: 1})
	var lines []string
	r, store := f.runner("", &lines)
	req := f.request("1.0.1")
	req.Batch = "2"
	rec, err := r.Run(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if rec.State != api.RolloutSucceeded || rec.Reason != "" {
		t.Fatalf("state %s: %s\n%s", rec.State, rec.Reason, strings.Join(lines, "\n"))
	}
	if err := f.allAt("1.0.1"); err != nil {
		t.Fatal(err)
	}
	var shape []string
	for _, s := range rec.Steps {
		shape = append(shape, fmt.Sprintf("%s:%d:%s", s.Name, len(s.Nodes), s.State))
		for _, e := range s.Evidence {
			if len(e.Checks) != 1 || e.Checks[0].State != "OK" || len(e.Probes) != 1 || e.Probes[0].State != "OK" || e.Probes[0].Time.Before(s.Started) {
				t.Fatalf("step %s evidence of %s: %+v", s.Name, e.Identity, e)
			}
		}
	}
	if got := strings.Join(shape, " "); got != "canary:1:passed batch 1:2:passed batch 2:2:passed" {
		t.Fatalf("steps %s", got)
	}
	if s := nodeStates(rec); s[api.NodeChanged] != 5 {
		t.Fatalf("node states %v", s)
	}
	for _, n := range rec.Nodes {
		if n.Before != "1.0.0" || n.After != "1.0.1" {
			t.Fatalf("node %+v", n)
		}
	}
	testkit.WaitFor(t, 10*time.Second, "the final record in the records stream", func() bool {
		got, ok := store.Get(rec.ID)
		return ok && got.State == api.RolloutSucceeded && len(got.Steps) == 3
	})
	if !strings.HasPrefix(lines[0], "Rollout "+rec.ID+" of shop 1.0.1 to 5 nodes: canary 1, batch 1 2, batch 2 2") {
		t.Fatalf("first line %q", lines[0])
	}

	// The nodes were let go: the next rollout takes them.
	if rec, err := r.Run(context.Background(), f.request("1.0.0")); err != nil || rec.State != api.RolloutSucceeded {
		t.Fatalf("second rollout: %v %s %s", err, rec.State, rec.Reason)
	}
}

// A bad version fails its canary: the canary's probe fails after the
// change, the rollout halts, puts the canary back at its version, verifies
// it, and says which gate failed on which node. The other nodes are never
// touched.
func TestBadCanaryIsRolledBack(t *testing.T) {
	f := newFleet(t, fleetOptions{nodes: 4, probes: 1})
	var lines []string
	r, _ := f.runner("", &lines)
	rec, err := r.Run(context.Background(), f.request("1.1.0"))
	if err != nil {
		t.Fatal(err)
	}
	out := strings.Join(lines, "\n")
	if rec.State != api.RolloutRolledBack {
		t.Fatalf("state %s: %s\n%s", rec.State, rec.Reason, out)
	}
	want := "probes failed on web-000: probe login0 is CRITICAL: PROBE CRITICAL - login failed at submit: status 500, want 200 (shop 1.1.0)"
	if rec.Reason != want {
		t.Fatalf("reason %q\nwant   %q", rec.Reason, want)
	}
	if err := f.allAt("1.0.0"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if s := nodeStates(rec); s[api.NodeRolledBack] != 1 || s[api.NodeSkipped] != 3 {
		t.Fatalf("node states %v", s)
	}
	if rec.Steps[0].State != api.StepFailed || rec.Steps[1].State != api.StepPending {
		t.Fatalf("steps %+v", rec.Steps)
	}
	for _, l := range []string{"  web-000                        shop 1.1.0 → 1.0.0  rolled back", "step canary failed", "rolling back 1 node to the version it had"} {
		if !strings.Contains(out, l) {
			t.Fatalf("progress lacks %q:\n%s", l, out)
		}
	}
}

// A rollout that asks for a version the repository does not have stops at
// its canary with the package manager's words; nothing changed, so
// nothing is rolled back and the rollout is halted.
func TestUnknownVersionHalts(t *testing.T) {
	f := newFleet(t, fleetOptions{nodes: 3, probes: 1})
	r, _ := f.runner("", nil)
	rec, err := r.Run(context.Background(), f.request("9.9.9"))
	if err != nil {
		t.Fatal(err)
	}
	want := "install failed on web-000: package install shop failed: version 9.9.9 of package shop not found in the simulated repository; available: 1.0.0, 1.0.1, 1.1.0; nothing to roll back"
	if rec.State != api.RolloutHalted || rec.Reason != want {
		t.Fatalf("%s: %q\nwant %q", rec.State, rec.Reason, want)
	}
	if n := rec.Nodes[0]; n.State != api.NodeFailed || n.After != "1.0.0" {
		t.Fatalf("canary node %+v", n)
	}
}

// A rollback that cannot put a node back (its old version left the
// repository) ends rollback_failed, and the record says where that node
// is and why.
func TestRollbackThatFails(t *testing.T) {
	f := newFleet(t, fleetOptions{nodes: 2, probes: 1, installed: "0.9.0"})
	r, _ := f.runner("", nil)
	rec, err := r.Run(context.Background(), f.request("1.1.0"))
	if err != nil {
		t.Fatal(err)
	}
	if rec.State != api.RolloutRollbackFailed || !strings.HasSuffix(rec.Reason, "; the rollback failed on web-000") {
		t.Fatalf("%s: %s", rec.State, rec.Reason)
	}
	n := rec.Nodes[0]
	if n.State != api.NodeRollbackFailed || n.After != "1.1.0" || n.Before != "0.9.0" ||
		!strings.Contains(n.Message, "after the rollback it reports shop 1.1.0, not 0.9.0: package install shop failed: version 0.9.0 of package shop not found") {
		t.Fatalf("node %+v", n)
	}
	if rec.Nodes[1].State != api.NodeSkipped || rec.Nodes[1].After != "0.9.0" {
		t.Fatalf("second node %+v", rec.Nodes[1])
	}
}

// Two rollouts never hold the same nodes: the second is refused, names the
// first and who started it, and changes nothing.
func TestOverlappingRolloutRefused(t *testing.T) {
	f := newFleet(t, fleetOptions{nodes: 3})
	r, _ := f.runner("", nil)
	locks, err := rollout.OpenLocks(context.Background(), f.js, "pulse", nil)
	if err != nil {
		t.Fatal(err)
	}
	release, err := locks.Acquire(context.Background(), f.ids[1:2], rollout.Hold{Rollout: "0badc0ffee00", By: "user=bob", Package: "shop", Version: "1.0.1", Since: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.Run(context.Background(), f.request("1.0.1"))
	var ce *rollout.ConflictError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "web-001 is held by rollout 0badc0ffee00 (shop 1.0.1, started by user=bob at") ||
		!strings.HasSuffix(err.Error(), "nothing was changed; wait for it to end, or leave those nodes out") {
		t.Fatalf("overlapping rollout: %v", err)
	}
	if err := f.allAt("1.0.0"); err != nil {
		t.Fatal(err)
	}
	// What it took before finding the conflict, it gave back.
	release()
	if rec, err := r.Run(context.Background(), f.request("1.0.1")); err != nil || rec.State != api.RolloutSucceeded {
		t.Fatalf("after the other rollout ended: %v %s", err, rec.State)
	}
}

// Bad input is refused before anything changes, with what to do.
func TestRolloutRefusesBadInput(t *testing.T) {
	f := newFleet(t, fleetOptions{nodes: 2})
	r, _ := f.runner("", nil)
	for _, tc := range []struct {
		mod  func(*api.RolloutRequest)
		want string
	}{
		{func(q *api.RolloutRequest) { q.Version = "" }, "a rollout needs the version to roll out (--version)"},
		{func(q *api.RolloutRequest) { q.Nodes = nil }, "refusing to roll out to the whole fleet"},
		{func(q *api.RolloutRequest) { q.Batch = "0" }, `batch: "0" is not a positive number or percentage`},
		{func(q *api.RolloutRequest) {
			q.Gates = []api.GateSpec{{Name: "g", Query: "sum(rate(x[1m])", Success: "result < 1"}}
		}, "gate g: query does not parse: 1:16: parse error: unclosed left parenthesis"},
		{func(q *api.RolloutRequest) {
			q.Gates = []api.GateSpec{{Name: "g", Query: "vector(1)", Success: "result < 1"}}
		}, "PromQL gates need a Prometheus"},
		{func(q *api.RolloutRequest) { q.Nodes = []string{"web-000", "ghost"} }, "ghost did not answer with shop's version"},
	} {
		req := f.request("1.0.1")
		tc.mod(&req)
		_, err := r.Run(context.Background(), req)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("want %q, got %v", tc.want, err)
		}
	}
	if err := f.allAt("1.0.0"); err != nil {
		t.Fatal(err)
	}
}

// PromQL gates run against a real Prometheus: one that holds passes the
// step; one that does not fails it after its failure limit; a query the
// server refuses at evaluation, and an unreachable Prometheus, fail it at
// once with the reason. Never does a gate pass on evidence it could not
// read.
func TestPromQLGates(t *testing.T) {
	prom := startPrometheus(t)
	f := newFleet(t, fleetOptions{nodes: 2})
	run := func(prom string, gates ...api.GateSpec) api.Rollout {
		t.Helper()
		r, _ := f.runner(prom, nil)
		req := f.request("1.0.1")
		req.Gates = gates
		rec, err := r.Run(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		return rec
	}
	ms := func(n int) api.Duration { return api.Duration(time.Duration(n) * time.Millisecond) }

	rec := run(prom, api.GateSpec{Name: "up", Query: `sum(up{job="prometheus"})`, Success: "result >= 1", Count: 2, Interval: ms(100)})
	if rec.State != api.RolloutSucceeded {
		t.Fatalf("a gate that holds: %s %s", rec.State, rec.Reason)
	}
	g := rec.Steps[0].Gates[0]
	if g.State != api.StepPassed || len(g.Measurements) != 2 || g.Measurements[0].Samples[0].Value != 1 || g.Query != `sum(up{job="prometheus"})` {
		t.Fatalf("gate run %+v", g)
	}

	// The nodes named in the query are the nodes changed so far.
	rec = run(prom, api.GateSpec{Name: "nodes", Query: `count(label_replace(vector(1), "identity", "web-000", "", "") and on(identity) label_replace(vector(1), "identity", "x", "", "")) or label_replace(vector(0), "n", "{{nodes}}", "", "")`,
		Success: "result == 0"})
	if g := rec.Steps[0].Gates[0]; g.Measurements[0].Samples[0].Labels != `{n="web-000"}` {
		t.Fatalf("{{nodes}} in the canary: %+v", g.Measurements)
	}

	// Back to 1.0.0, so the rollouts below change something to undo.
	if rec = run(""); rec.State != api.RolloutSucceeded || f.allAt("1.0.1") != nil {
		t.Fatalf("%s %s", rec.State, rec.Reason)
	}
	back, _ := f.runner("", nil)
	if rec, err := back.Run(context.Background(), f.request("1.0.0")); err != nil || rec.State != api.RolloutSucceeded {
		t.Fatalf("back to 1.0.0: %v %s", err, rec.State)
	}

	rec = run(prom, api.GateSpec{Name: "ratio", Query: `vector(0.5)`, Success: "result >= 0.9", Count: 3, FailureLimit: 1, Interval: ms(50)})
	if want := "ratio failed: 2 of 2 measurements failed result >= 0.9 (failure limit 1); last: 0.5 FAILED"; rec.State != api.RolloutRolledBack || rec.Reason != want {
		t.Fatalf("a gate that does not hold: %s %q, want %q", rec.State, rec.Reason, want)
	}
	if err := f.allAt("1.0.0"); err != nil {
		t.Fatal(err)
	}

	rec = run(prom, api.GateSpec{Name: "broken", Query: `label_replace(vector(1), "a", "$1", "b", "(")`, Success: "result > 0", Count: 3})
	if g := rec.Steps[0].Gates[0]; rec.State != api.RolloutRolledBack || len(g.Measurements) != 1 ||
		!strings.HasPrefix(g.Reason, "could not be measured: Prometheus refused the query (") || !strings.Contains(g.Reason, "invalid regular expression") {
		t.Fatalf("a query Prometheus refuses: %s %+v", rec.State, g)
	}

	gone := fmt.Sprintf("http://127.0.0.1:%d", testkit.FreePort(t))
	rec = run(gone, api.GateSpec{Name: "login", Query: `vector(1)`, Success: "result > 0"})
	if g := rec.Steps[0].Gates[0]; rec.State != api.RolloutRolledBack || !strings.Contains(g.Reason, "could not be measured: Prometheus at "+gone+" cannot be reached") {
		t.Fatalf("an unreachable Prometheus: %s %+v", rec.State, g)
	}
	if err := f.allAt("1.0.0"); err != nil {
		t.Fatal(err)
	}
}

// A package the repository does not know stops the canary the same way,
// with the package manager's words.
func TestUnknownPackageHalts(t *testing.T) {
	f := newFleet(t, fleetOptions{nodes: 2})
	r, _ := f.runner("", nil)
	req := f.request("1.0")
	req.Package = "nosuch"
	rec, err := r.Run(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if rec.State != api.RolloutHalted || !strings.Contains(rec.Reason, "install failed on web-000: package install nosuch failed: package nosuch not found in the simulated repository") {
		t.Fatalf("%s: %s", rec.State, rec.Reason)
	}
	if n := rec.Nodes[0]; n.Before != "absent" || n.After != "absent" || n.State != api.NodeFailed {
		t.Fatalf("canary %+v", n)
	}
}

// A rollout whose caller stops it (Ctrl-C, a collector shutting down)
// halts between steps and rolls back what it changed, as a failed step
// does: no node is left half-changed.
func TestInterruptedRolloutRollsBack(t *testing.T) {
	f := newFleet(t, fleetOptions{nodes: 3, probes: 1})
	ctx, cancel := context.WithCancel(context.Background())
	var lines []string
	r, _ := f.runner("", &lines)
	req := f.request("1.0.1")
	req.Batch, req.BatchSleep = "1", api.Duration(time.Hour)
	done := make(chan api.Rollout, 1)
	go func() {
		rec, err := r.Run(ctx, req)
		if err != nil {
			t.Error(err)
		}
		done <- rec
	}()
	testkit.WaitFor(t, 20*time.Second, "the canary changed", func() bool { return f.versions()["web-000"] == "1.0.1" })
	cancel()
	rec := <-done
	if rec.State != api.RolloutRolledBack || !strings.HasPrefix(rec.Reason, "interrupted ") {
		t.Fatalf("%s: %s", rec.State, rec.Reason)
	}
	if err := f.allAt("1.0.0"); err != nil {
		t.Fatal(err)
	}
}
