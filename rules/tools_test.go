package rules

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pulseops/pulse/internal/testkit"
)

func run(t *testing.T, dir, bin string, args ...string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(bin), strings.Join(args, " "), err, out)
	}
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestPromtoolCheckRules checks the committed rule files and the demo's
// short-interval variant with Prometheus' own loader.
func TestPromtoolCheckRules(t *testing.T) {
	promtool := testkit.RealPart(t, "promtool")
	files, err := filepath.Glob("*.rules.yml")
	if err != nil || len(files) < 2 {
		t.Fatalf("want pulse.rules.yml and at least one slo-*.rules.yml, found %v (%v)", files, err)
	}
	demo, err := FleetRules(DemoFleetOptions())
	if err != nil {
		t.Fatal(err)
	}
	custom := DefaultFleetOptions()
	custom.Interval = 30 * time.Second
	custom.CollectorJob = "pulse-eu"
	withInterval, err := FleetRules(custom)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "demo.rules.yml"), demo)
	writeFile(t, filepath.Join(dir, "custom.rules.yml"), withInterval)
	files = append(files, filepath.Join(dir, "demo.rules.yml"), filepath.Join(dir, "custom.rules.yml"))
	run(t, ".", promtool, append([]string{"check", "rules"}, files...)...)
}

// TestPromtoolTestRules runs the alert unit tests under tests/.
func TestPromtoolTestRules(t *testing.T) {
	promtool := testkit.RealPart(t, "promtool")
	files, err := filepath.Glob("tests/*.test.yml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no promtool tests under tests/: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			// The day-long SLO tests take seconds each; run them side by side.
			t.Parallel()
			run(t, ".", promtool, "test", "rules", f)
		})
	}
}

// TestPromtoolCheckConfig checks the example prometheus.yml (which also
// loads the committed rule files) and a rendered demo config.
func TestPromtoolCheckConfig(t *testing.T) {
	promtool := testkit.RealPart(t, "promtool")
	run(t, ".", promtool, "check", "config", "prometheus.yml")

	dir := t.TempDir()
	fleet, err := FleetRules(DemoFleetOptions())
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "pulse.rules.yml"), fleet)
	slo, err := os.ReadFile("slo-login.rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "slo-login.rules.yml"), slo)
	cfg, err := DemoPrometheusConfig(PromConfigOptions{
		Targets:         []string{"127.0.0.1:9780"},
		RuleFiles:       []string{"pulse.rules.yml", filepath.Join(dir, "slo-*.rules.yml")},
		AlertmanagerURL: "http://127.0.0.1:9093/",
	})
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "prometheus.yml"), cfg)
	run(t, dir, promtool, "check", "config", "prometheus.yml")
}

// TestAmtoolCheckConfig checks the example alertmanager.yml and a rendered
// demo config.
func TestAmtoolCheckConfig(t *testing.T) {
	amtool := testkit.RealPart(t, "amtool")
	run(t, ".", amtool, "check-config", "alertmanager.yml")

	dir := t.TempDir()
	token := filepath.Join(dir, "token")
	writeFile(t, token, []byte("s3cret\n"))
	cfg, err := DemoAlertmanagerConfig(AMConfigOptions{
		WebhookURL:      "http://127.0.0.1:9780/api/v1/alerts",
		CredentialsFile: token,
	})
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "alertmanager.yml"), cfg)
	run(t, dir, amtool, "check-config", "alertmanager.yml")
}
