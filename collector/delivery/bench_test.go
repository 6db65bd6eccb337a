package delivery

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pulseops/pulse/internal/protocol"
)

// BenchmarkDelivery measures what one change event and one failure cost
// the tracker, and what a scrape of the delivery series costs, after
// `history` change events have gone by (a deployment a minute over 100
// nodes in 10 groups): both stay flat however long the history, because
// the series are counters moved per event and the state holds only the
// deployments still inside the failure window.
func BenchmarkDelivery(b *testing.B) {
	for _, history := range []int{1000, 100000} {
		reg := prometheus.NewRegistry()
		tr := New(Options{Registerer: reg, LabelNames: []string{"az", "role"}, FailureWindow: time.Hour,
			Labels: func(id string) []string { return []string{"zone-" + id[len(id)-1:], "web"} }})
		at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		ev := func(i int) protocol.Event {
			node := fmt.Sprintf("node-%02d", i%100)
			return changeEv(node, protocol.ViaRollout, fmt.Sprintf("r%d", i/100), protocol.ChangeOK, at.Add(time.Duration(i)*600*time.Millisecond))
		}
		for i := range history {
			tr.Observe(ev(i))
		}
		b.Run(fmt.Sprintf("observe-change-after-%d", history), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				tr.Observe(ev(history + i))
			}
		})
		b.Run(fmt.Sprintf("observe-failure-after-%d", history), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				tr.Observe(protocol.Event{Type: protocol.EventCheckState, Identity: fmt.Sprintf("node-%02d", i%100), Status: protocol.StateCritical,
					Time: at.Add(time.Duration(history+b.N) * 600 * time.Millisecond)})
			}
		})
		b.Run(fmt.Sprintf("scrape-after-%d", history), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if _, err := reg.Gather(); err != nil {
					b.Fatal(err)
				}
			}
		})
		tr.mu.Lock()
		b.Logf("after %d events: %d deployments and %d nodes remembered", history, len(tr.sets), len(tr.lastOn))
		tr.mu.Unlock()
	}
}
