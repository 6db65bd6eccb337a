package remediation

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pulseops/pulse/internal/testkit"
)

var update = flag.Bool("update", false, "rewrite testdata from the real Alertmanager")

// TestAlertmanagerWebhookPayloads runs the real Alertmanager, posts a firing
// and then a resolved alert to its API, and checks that what its webhook
// sends parses. With -update it saves the payloads as the testdata the
// parser tests read.
func TestAlertmanagerWebhookPayloads(t *testing.T) {
	bin := testkit.RealPart(t, "alertmanager")

	received := make(chan []byte, 16)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		received <- b
	}))
	defer hook.Close()

	dir := t.TempDir()
	cfg := fmt.Sprintf(`route:
  receiver: pulse
  group_by: [alertname, identity]
  group_wait: 100ms
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: pulse
    webhook_configs:
      - url: %s/api/v1/alerts
        send_resolved: true
`, hook.URL)
	cfgPath := filepath.Join(dir, "alertmanager.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	port := testkit.FreePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cmd := exec.Command(bin,
		"--config.file="+cfgPath,
		"--storage.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--cluster.listen-address=",
		"--log.level=warn",
		"--web.external-url=http://alertmanager.example:9093",
	)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start alertmanager: %v", err)
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("alertmanager output:\n%s", logs.String())
		}
	}()
	base := "http://" + addr
	testkit.WaitFor(t, 20*time.Second, "alertmanager ready", func() bool {
		resp, err := http.Get(base + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})

	startsAt := time.Now().Add(-time.Minute).UTC().Truncate(time.Second)
	alert := func(endsAt time.Time) []map[string]any {
		a := map[string]any{
			"labels": map[string]string{
				"alertname": "PulseCheckCritical", "identity": "ip-10-0-1-12", "check": "check_nginx",
				"service": "nginx", "az": "eu-west-1a", "role": "web", "cluster": "shop", "severity": "critical",
			},
			"annotations": map[string]string{
				"summary": "check_nginx is CRITICAL on ip-10-0-1-12",
			},
			"startsAt":     startsAt,
			"generatorURL": "http://prometheus.example:9090/graph?g0.expr=pulse_check_status",
		}
		if !endsAt.IsZero() {
			a["endsAt"] = endsAt
		}
		return []map[string]any{a}
	}
	post := func(v any) {
		b, _ := json.Marshal(v)
		resp, err := http.Post(base+"/api/v2/alerts", "application/json", bytes.NewReader(b))
		if err != nil {
			t.Fatalf("post alerts: %v", err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("post alerts: %s: %s", resp.Status, body)
		}
	}
	next := func(want string) []byte {
		t.Helper()
		deadline := time.After(30 * time.Second)
		for {
			select {
			case b := <-received:
				w, err := ParseWebhook(bytes.NewReader(b), 1<<20)
				if err != nil {
					t.Fatalf("real Alertmanager payload does not parse: %v\n%s", err, b)
				}
				if w.Status == want {
					return b
				}
			case <-deadline:
				t.Fatalf("no %s webhook from alertmanager within 30s", want)
			}
		}
	}

	post(alert(time.Time{}))
	firing := next(StatusFiring)
	post(alert(time.Now().Add(-time.Second).UTC()))
	resolved := next(StatusResolved)

	for name, b := range map[string][]byte{"webhook-firing.json": firing, "webhook-resolved.json": resolved} {
		var pretty bytes.Buffer
		if err := json.Indent(&pretty, b, "", "  "); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join("testdata", name)
		if *update {
			if err := os.WriteFile(path, append(pretty.Bytes(), '\n'), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		// The live payload must have the same shape as the committed one:
		// the same keys, so that a newer Alertmanager that changes the format
		// is noticed here and the testdata is refreshed with -update.
		committed, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("read %s: %v (run go test -run TestAlertmanagerWebhookPayloads -update)", path, err)
		}
		if got, want := shape(t, pretty.Bytes()), shape(t, committed); got != want {
			t.Errorf("%s: payload shape changed:\n got %s\nwant %s\nrefresh with -update", name, got, want)
		}
	}
}

// shape lists the JSON keys of a payload (and of its first alert).
func shape(t *testing.T, b []byte) string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	var alerts []map[string]json.RawMessage
	_ = json.Unmarshal(m["alerts"], &alerts)
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	for _, a := range alerts[:min(1, len(alerts))] {
		for k := range a {
			keys = append(keys, "alerts."+k)
		}
	}
	slices.Sort(keys)
	return strings.Join(keys, ",")
}
