package remediation

import (
	"net/http"
	"os"
	"strings"
	"testing"
)

// The engine runs remediations between Start and Stop only. After Stop,
// the webhook answers 503 (Alertmanager sends it again), and an approval
// that comes in anyway is recorded as not run without counting against
// the rule's circuit breaker.
func TestEngineRunsBetweenStartAndStop(t *testing.T) {
	h := newHarness(t, nginxRule("{cooldown: 1s, approval: true, circuit_breaker: 1}"), nil)
	ds := h.handle(t, nginxAlert("n1", "a"))
	wantReasons(t, ds, "pending_approval")
	h.e.Stop()
	h.e.Stop() // a second Stop is harmless

	firing, err := os.ReadFile("testdata/webhook-firing.json")
	if err != nil {
		t.Fatal(err)
	}
	code, body := do(t, h.e.AlertsHandler(), "POST", "/api/v1/alerts", string(firing))
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "the remediation engine is not running") {
		t.Fatalf("webhook after Stop: %d %s", code, body)
	}
	if err := h.e.Approve(ds[0].RecordID, "alice"); err != nil {
		t.Fatal(err)
	}
	rec, _ := h.e.Get(ds[0].RecordID)
	if rec.State != StateFailed || rec.Error != "not run: the remediation engine was stopping" || len(h.exec.all()) != 0 {
		t.Fatalf("approved after Stop: %+v, %d calls", rec, len(h.exec.all()))
	}
	if h.e.CircuitOpen("restart-nginx") {
		t.Fatal("a remediation never run opened the circuit breaker")
	}
}
