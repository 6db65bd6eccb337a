package remediation

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"

	"github.com/pulseops/pulse/internal/testkit"
)

func do(t *testing.T, h http.Handler, method, path, body string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, strings.NewReader(body)))
	return rec.Code, strings.TrimSpace(rec.Body.String())
}

func TestAlertsHandler(t *testing.T) {
	h := newHarness(t, nginxRule("{}"), nil)
	firing, err := os.ReadFile("testdata/webhook-firing.json")
	if err != nil {
		t.Fatal(err)
	}
	code, body := do(t, h.e.AlertsHandler(), "POST", "/api/v1/alerts", string(firing))
	h.e.Wait()
	if code != http.StatusOK {
		t.Fatalf("%d %s", code, body)
	}
	var resp struct{ Decisions []Decision }
	if err := json.Unmarshal([]byte(body), &resp); err != nil {
		t.Fatal(err)
	}
	wantReasons(t, resp.Decisions, "acted")
	if d := resp.Decisions[0]; d.Fingerprint != "c6cbac437b1429b8" || d.Rule != "restart-nginx" {
		t.Errorf("decision: %+v", d)
	}
	if a := h.exec.actions(); len(a) != 1 || a[0].Filter.Identity[0] != "ip-10-0-1-12" {
		t.Errorf("actions: %+v", a)
	}

	for _, tc := range []struct {
		name, method, body string
		code               int
		want               string
	}{
		{"resolved", "POST", mustRead(t, "testdata/webhook-resolved.json"), 200, `"reason":"resolved"`},
		{"empty", "POST", "", 400, `{"error":"webhook body is empty: expected an Alertmanager webhook JSON payload (version 4)"}`},
		{"bad version", "POST", `{"version":"3"}`, 400, `{"error":"webhook version \"3\" is not supported: only Alertmanager webhook version \"4\" is"}`},
		{"too large", "POST", `{"version":"4","alerts":[` + strings.Repeat(" ", 2<<20) + `]}`, 413, `{"error":"webhook body too large: more than 1048576 bytes; lower max_alerts in the Alertmanager webhook_config or raise the collector's limit"}`},
		{"get", "GET", "", 405, `{"error":"use POST with an Alertmanager webhook payload"}`},
		{"not JSON", "POST", `version=4`, 400, `{"error":"webhook body is not valid JSON: invalid character 'v' looking for beginning of value"}`},
		{"alerts not a list", "POST", `{"version":"4","alerts":{"labels":{"alertname":"x"}}}`, 400, `{"error":"webhook body is not valid JSON: json: cannot unmarshal object into Go struct field Webhook.alerts of type []remediation.Alert"}`},
		{"alert without labels", "POST", `{"version":"4","alerts":[{"status":"firing","labels":{}}]}`, 400, `{"error":"webhook alert 0 has no labels: every Alertmanager alert carries at least alertname"}`},
		{"unknown status", "POST", `{"version":"4","alerts":[{"status":"burning","labels":{"alertname":"x"}}]}`, 400, `{"error":"webhook alert 0 (x) has status \"burning\": want \"firing\" or \"resolved\""}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := do(t, h.e.AlertsHandler(), tc.method, "/api/v1/alerts", tc.body)
			if code != tc.code || !strings.Contains(body, tc.want) {
				t.Fatalf("got %d %s\nwant %d %s", code, body, tc.code, tc.want)
			}
		})
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestRemediationsHandler(t *testing.T) {
	h := newHarness(t, nginxRule("{approval: true, cooldown: 1s}"), nil)
	ds := h.handle(t, nginxAlert("n1", "a"), nginxAlert("n2", "a"))
	id1, id2 := ds[0].RecordID, ds[1].RecordID
	mux := h.e.RemediationsHandler()

	code, body := do(t, mux, "GET", "/api/v1/remediations", "")
	var list struct{ Remediations []Record }
	if err := json.Unmarshal([]byte(body), &list); code != 200 || err != nil || len(list.Remediations) != 2 || list.Remediations[0].State != StatePending {
		t.Fatalf("list: %d %s", code, body)
	}
	code, body = do(t, mux, "GET", "/api/v1/remediations/"+id1, "")
	if code != 200 || !strings.Contains(body, `"id":"`+id1+`"`) || !strings.Contains(body, `"state":"pending"`) {
		t.Fatalf("get: %d %s", code, body)
	}

	code, body = do(t, mux, "POST", "/api/v1/remediations/"+id1+"/approve", `{"by":"alice"}`)
	h.e.Wait()
	if code != 200 || !strings.Contains(body, `"approved_by":"alice"`) {
		t.Fatalf("approve: %d %s", code, body)
	}
	if rec, _ := h.e.Get(id1); rec.State != StateSucceeded {
		t.Errorf("approved record: %+v", rec)
	}
	code, body = do(t, mux, "POST", "/api/v1/remediations/"+id2+"/reject", "")
	if code != 200 || !strings.Contains(body, `"state":"rejected"`) || !strings.Contains(body, `"rejected_by":"api"`) {
		t.Fatalf("reject: %d %s", code, body)
	}
	// A resend of n1's alert while its remediation ran was deferred; and a
	// pending record whose rule is not loaded (written by hand here: a
	// running engine's rules do not change) cannot be approved.
	deferred := h.handle(t, nginxAlert("n1", "a"))[0].RecordID
	h.e.mu.Lock()
	h.e.store.add(&Record{ID: "gone-1", Rule: "gone", State: StatePending, Alert: AlertRef{Fingerprint: "gone"}})
	h.e.mu.Unlock()

	for _, tc := range []struct {
		name, method, path, body string
		code                     int
		want                     string
	}{
		{"get unknown", "GET", "/api/v1/remediations/nope", "", 404, `{"error":"remediation nope not found; list them at /api/v1/remediations"}`},
		{"approve unknown", "POST", "/api/v1/remediations/nope/approve", "", 404, `{"error":"remediation not found: \"nope\""}`},
		{"approve twice", "POST", "/api/v1/remediations/" + id1 + "/approve", "", 409, `{"error":"remediation is not pending approval: ` + id1 + ` is succeeded"}`},
		{"bad body", "POST", "/api/v1/remediations/" + id1 + "/reject", "{", 400, `{"error":"body must be empty or JSON such as {\"by\": \"alice\"}: unexpected EOF"}`},
		{"approve with GET", "GET", "/api/v1/remediations/" + id1 + "/approve", "", 405, "Method Not Allowed"},
		{"reset unknown rule", "POST", "/api/v1/remediations/circuits/nope/reset", "", 404, `{"error":"no remediation rule nope"}`},
		{"approve a deferred one", "POST", "/api/v1/remediations/" + deferred + "/approve", "", 409, `{"error":"remediation is not pending approval: ` + deferred + ` is deferred"}`},
		{"approve an unknown rule's", "POST", "/api/v1/remediations/gone-1/approve", "", 409, `{"error":"remediation is not pending approval: approve remediation gone-1: its rule \"gone\" is not among the loaded rules; reject it"}`},
		{"by not a string", "POST", "/api/v1/remediations/" + id1 + "/reject", `{"by":5}`, 400, `{"error":"body must be empty or JSON such as {\"by\": \"alice\"}: json: cannot unmarshal number into Go struct field .by of type string"}`},
		{"reset", "POST", "/api/v1/remediations/circuits/restart-nginx/reset", "", 200, `{"circuit_open":false,"rule":"restart-nginx"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := do(t, mux, tc.method, tc.path, tc.body)
			if code != tc.code || body != tc.want {
				t.Fatalf("got %d %s\nwant %d %s", code, body, tc.code, tc.want)
			}
		})
	}
}

// TestMetricsPassPromtool runs the real promtool over everything the engine
// exports after a remediation of each kind.
func TestMetricsPassPromtool(t *testing.T) {
	promtool := testkit.RealPart(t, "promtool")
	h := newHarness(t, nginxRule("{cooldown: 1s, circuit_breaker: 1}"), nil)
	h.handle(t, nginxAlert("n1", "a"))
	h.exec.exitcode = 2
	h.handle(t, nginxAlert("n2", "a"))
	h.handle(t, nginxAlert("n3", "a")) // refused: circuit open

	mfs, err := h.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var text bytes.Buffer
	names := map[string]bool{}
	for _, mf := range mfs {
		names[mf.GetName()] = true
		if _, err := expfmt.MetricFamilyToText(&text, mf); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []string{"pulse_remediations_total", "pulse_remediation_skipped_total", "pulse_remediation_duration_seconds", "pulse_remediation_time_to_fix_seconds", "pulse_remediation_circuit_open"} {
		if !names[n] {
			t.Errorf("metric %s not exported", n)
		}
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = &text
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) != 0 {
		t.Fatalf("promtool check metrics: %v\n%s\n--- input ---\n%s", err, out, text.String())
	}
}
