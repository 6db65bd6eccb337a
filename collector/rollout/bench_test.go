package rollout_test

import (
	"context"
	"testing"
	"time"

	"github.com/pulseops/pulse/collector/api"
	"github.com/pulseops/pulse/internal/rpc"
)

// BenchmarkRolloutOverhead measures what a rollout itself costs per step
// on 100 real agents over an embedded broker: the install fan-out, the
// nodes re-running a check and a probe (which take no time here), the
// judging, the records published and acknowledged, and the node locks
// taken and given back. The simulated package manager takes no time and
// no step waits (no --batch-sleep, no gates), so what is left is pulse's
// own overhead. The baseline in the same run is the bare install fan-out
// to the same 100 nodes, which any way of changing them pays.
func BenchmarkRolloutOverhead(b *testing.B) {
	f := newFleet(b, fleetOptions{nodes: 100, probes: 1})
	r, _ := f.runner("", nil)
	versions := []string{"1.0.1", "1.0.0"}
	run := func(b *testing.B, canary, batch string) {
		steps := 0
		b.ResetTimer()
		start := time.Now()
		for i := 0; i < b.N; i++ {
			req := f.request(versions[i%2])
			req.Canary, req.Batch, req.EvidenceWait = canary, batch, api.Duration(10*time.Second)
			rec, err := r.Run(context.Background(), req)
			if err != nil || rec.State != api.RolloutSucceeded {
				b.Fatalf("%v %s %s", err, rec.State, rec.Reason)
			}
			steps += len(rec.Steps)
		}
		b.ReportMetric(float64(time.Since(start).Milliseconds())/float64(steps), "ms/step")
		b.ReportMetric(float64(steps)/float64(b.N), "steps/op")
	}
	b.Run("one-step-of-100", func(b *testing.B) { run(b, "0", "100%") })
	b.Run("canary-then-25pct", func(b *testing.B) { run(b, "1", "25%") })
	b.Run("baseline-install-fanout", func(b *testing.B) {
		start := time.Now()
		for i := 0; i < b.N; i++ {
			res, err := f.client.Do(context.Background(), rpc.Call{Agent: "package", Action: "install",
				Data: map[string]string{"package": "shop", "version": versions[i%2]}, Nodes: f.ids, Timeout: 20 * time.Second})
			if err != nil || !res.OK() {
				b.Fatalf("%v", err)
			}
		}
		b.ReportMetric(float64(time.Since(start).Milliseconds())/float64(b.N), "ms/step")
	})
}
