package remediation

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/pulseops/pulse/internal/filter"
	"github.com/pulseops/pulse/internal/protocol"
)

// instantExecutor answers every action at once with OK (exit code 0 for
// verifications), so a benchmark measures only pulse's own work.
type instantExecutor struct{}

var okCheck = json.RawMessage(`{"exitcode":0,"output":"OK"}`)

func (instantExecutor) Run(_ context.Context, a Action) ([]NodeResult, error) {
	out := make([]NodeResult, len(a.Filter.Identity))
	for i, id := range a.Filter.Identity {
		out[i] = NodeResult{Identity: id, Status: protocol.OK, Message: "OK", Data: okCheck}
	}
	return out, nil
}

// BenchmarkHandle100Targets: one webhook naming 100 nodes in → parsed →
// decided → 100 actions dispatched and verified → results recorded.
// "baseline" makes the same 200 executor calls directly, so the difference
// is the engine's own cost per webhook.
func BenchmarkHandle100Targets(b *testing.B) {
	var alerts []Alert
	for i := range 100 {
		a := nginxAlert(fmt.Sprintf("ip-10-0-%d-%d", i/50, i%50), "eu-west-1a")
		alerts = append(alerts, a)
	}
	body, err := json.Marshal(Webhook{Version: "4", Status: StatusFiring, Receiver: "pulse", Alerts: alerts})
	if err != nil {
		b.Fatal(err)
	}

	b.Run("engine", func(b *testing.B) {
		rs, err := ParseRules("bench.yaml", []byte(nginxRule("{cooldown: 1s, max_per_hour: 1000000, max_targets: 1}")))
		if err != nil {
			b.Fatal(err)
		}
		clk := newClock()
		e, err := New(Options{Rules: rs, Executor: instantExecutor{}, Now: clk.Now})
		if err != nil {
			b.Fatal(err)
		}
		e.Start(b.Context())
		defer e.Stop()
		b.ReportAllocs()
		for b.Loop() {
			w, err := ParseWebhook(bytes.NewReader(body), 1<<20)
			if err != nil {
				b.Fatal(err)
			}
			ds := e.Handle(b.Context(), w)
			e.Wait()
			if ds[99].Outcome != Acted {
				b.Fatalf("decision: %+v", ds[99])
			}
			// Past every cooldown and the hour's budget window, so each
			// iteration does the full work.
			clk.Advance(61 * time.Minute)
		}
	})

	b.Run("baseline", func(b *testing.B) {
		var ex instantExecutor
		b.ReportAllocs()
		for b.Loop() {
			for _, a := range alerts {
				f := filter.Spec{Identity: []string{a.Labels["identity"]}}
				_, _ = ex.Run(b.Context(), Action{Agent: "service", Action: "restart", Data: map[string]any{"service": "nginx"}, Filter: f})
				_, _ = ex.Run(b.Context(), Action{Agent: "nrpe", Action: "runcommand", Data: map[string]any{"command": "check_nginx"}, Filter: f})
			}
		}
	})
}
