package alerts_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pulseops/pulse/collector/alerts"
	"github.com/pulseops/pulse/collector/api"
	"github.com/pulseops/pulse/collector/remediation"
	"github.com/pulseops/pulse/demo"
	"github.com/pulseops/pulse/internal/filter"
	"github.com/pulseops/pulse/internal/testkit"
)

// fleet knows two up web nodes.
type fleet struct{}

func (fleet) Resolve(filter.Spec) []string { return []string{"web-1", "web-2"} }
func (fleet) Node(id string) (api.NodeView, bool) {
	if id != "web-1" && id != "web-2" {
		return api.NodeView{}, false
	}
	return api.NodeView{Identity: id, Up: true}, true
}

// noExecutor fails every action: the rules here only dry-run.
type noExecutor struct{}

func (noExecutor) Run(context.Context, remediation.Action) ([]remediation.NodeResult, error) {
	return nil, fmt.Errorf("nothing runs in this test")
}

const rules = `rules:
  - name: restart-nginx-dry-run
    match: {alertname: PulseCheckCritical, check: check_nginx}
    action: {agent: service, action: restart, data: {service: nginx}}
    target: {identity_label: identity}
    guards: {dry_run: true}
`

// TestAlertsFromAlertmanager: real Alertmanager holds the alerts (posted
// to its API as Prometheus would) and sends them to a real remediation
// engine's webhook; the view lists Alertmanager's alerts, silenced ones as
// suppressed, each joined to the remediation its webhook led to by
// Alertmanager's own fingerprint. Without Alertmanager the view falls back
// to what the webhook received and says why.
func TestAlertsFromAlertmanager(t *testing.T) {
	amBin := testkit.RealPart(t, "alertmanager")
	rs, err := remediation.ParseRules("rules.yaml", []byte(rules))
	if err != nil {
		t.Fatal(err)
	}
	eng, err := remediation.New(remediation.Options{Rules: rs, Executor: noExecutor{}, Fleet: fleet{}})
	if err != nil {
		t.Fatal(err)
	}
	eng.Start(t.Context())
	t.Cleanup(eng.Stop)
	mux := http.NewServeMux()
	mux.Handle("POST /api/v1/alerts", eng.AlertsHandler())
	webhook := httptest.NewServer(mux)
	t.Cleanup(webhook.Close)

	dir := t.TempDir()
	log, err := os.Create(filepath.Join(dir, "stack.log"))
	if err != nil {
		t.Fatal(err)
	}
	_, am, err := demo.StartStack(t.Context(), demo.StackOptions{
		Dir: dir, Alertmanager: amBin, AlertmanagerAddr: testkit.FreeAddr(t), Log: log,
		Collector: strings.TrimPrefix(webhook.URL, "http://"),
	})
	if err != nil {
		t.Fatal(err)
	}
	var stopAM sync.Once
	t.Cleanup(func() { stopAM.Do(am.Stop) })

	post := func(path string, body any) {
		t.Helper()
		b, _ := json.Marshal(body)
		resp, err := http.Post(am.URL+path, "application/json", bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("POST %s: %s", path, resp.Status)
		}
	}
	now := time.Now().UTC()
	alert := func(name, identity, severity string) map[string]any {
		return map[string]any{
			"labels":      map[string]string{"alertname": name, "identity": identity, "check": "check_nginx", "severity": severity},
			"annotations": map[string]string{"summary": name + " on " + identity},
			"startsAt":    now.Add(-time.Minute), "endsAt": now.Add(time.Hour),
		}
	}
	// The silence first, so Alertmanager never notifies the silenced one.
	post("/api/v2/silences", map[string]any{
		"matchers": []map[string]any{{"name": "alertname", "value": "PulseCheckWarning", "isRegex": false, "isEqual": true}},
		"startsAt": now.Add(-time.Minute), "endsAt": now.Add(time.Hour), "createdBy": "test", "comment": "maintenance",
	})
	post("/api/v2/alerts", []any{
		alert("PulseCheckCritical", "web-1", "critical"),
		alert("PulseCheckWarning", "web-2", "warning"),
		alert("PulseCheckCritical", "ghost", "critical"),
	})

	o := alerts.Options{Alertmanager: am.URL, Engine: eng}
	var v api.AlertsView
	// The engine is asked first: a view taken before the webhook delivered
	// an alert lacks that alert's remediation, however soon after it came.
	testkit.WaitFor(t, 30*time.Second, "Alertmanager lists three alerts and sent the two unsilenced to the webhook", func() bool {
		if len(eng.Firing()) != 2 {
			return false
		}
		v = alerts.View(t.Context(), o)
		return len(v.Alerts) == 3
	})
	if v.Source != "alertmanager "+am.URL || v.Error != "" {
		t.Fatalf("source %q error %q", v.Source, v.Error)
	}
	var got []string
	for _, a := range v.Alerts {
		rem := "none"
		if a.Remediation != nil {
			rem = string(a.Remediation.State) + "/" + string(a.Remediation.Reason)
		}
		got = append(got, fmt.Sprintf("%s %s %s %v %s", a.Name, a.Severity, a.State, a.Nodes, rem))
		if a.Fingerprint == "" || a.Summary != a.Name+" on "+a.Nodes[0] {
			t.Errorf("alert %+v", a)
		}
	}
	want := []string{
		"PulseCheckCritical critical active [ghost] skipped/unknown_node",
		"PulseCheckCritical critical active [web-1] dry_run/dry_run",
		"PulseCheckWarning warning suppressed [web-2] none",
	}
	if !slices.Equal(got, want) {
		t.Errorf("alerts\n got %q\nwant %q", got, want)
	}

	// Alertmanager gone: the webhook's alerts, and why.
	stopAM.Do(am.Stop)
	v = alerts.View(t.Context(), o)
	if v.Source != "webhook" || !strings.HasPrefix(v.Error, "cannot ask Alertmanager at "+am.URL) || !strings.HasSuffix(v.Error, "; showing what its webhook sent the collector") || len(v.Alerts) != 2 {
		t.Errorf("without Alertmanager: source %q error %q, %d alerts", v.Source, v.Error, len(v.Alerts))
	}
}

// TestAlertmanagerAnswersBadly: an answer that is not Alertmanager's API
// (an HTTP error, HTML, alerts without fingerprints) is an error that says
// so, never an empty list of alerts. These answers come from a stand-in
// server: a real Alertmanager does not send them.
func TestAlertmanagerAnswersBadly(t *testing.T) {
	for _, tt := range []struct {
		code int
		body string
		want string
	}{
		{500, "boom", "answered 500 Internal Server Error: boom"},
		{200, "<html>", "answered what is not its API v2 alert list: invalid character '<' looking for beginning of value"},
		{200, `[{"labels":{}}]`, "answered an alert without a fingerprint or alertname: is this Alertmanager's API v2?"},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(tt.code)
			fmt.Fprint(w, tt.body)
		}))
		v := alerts.View(context.Background(), alerts.Options{Alertmanager: srv.URL})
		srv.Close()
		if !strings.HasSuffix(v.Error, tt.want) || len(v.Alerts) != 0 || v.Alerts == nil {
			t.Errorf("%d %q: error %q, alerts %v", tt.code, tt.body, v.Error, v.Alerts)
		}
	}
	if v := alerts.View(context.Background(), alerts.Options{Alertmanager: "ftp://am"}); v.Error != `alertmanager URL "ftp://am" is not an http:// or https:// URL` {
		t.Errorf("bad URL: %q", v.Error)
	}
}
