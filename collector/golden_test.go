package collector

import (
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pulseops/pulse/internal/protocol"
)

var update = flag.Bool("update", false, "rewrite testdata golden files from the current output")

// goldenFleet feeds a small fixed fleet: two zones, a node without facts, a
// node that stopped heartbeating, a stale check, perfdata in several units,
// a probe with steps.
func goldenFleet(t testing.TB, c *Collector) {
	t.Helper()
	feedReg(t, c, registration("web-1", map[string]any{
		"ec2_placement_availability_zone": "eu-west-1a", "role": "web", "cluster": "shop",
	}), t0)
	feedReg(t, c, registration("db-1", map[string]any{
		"ec2_placement_availability_zone": "eu-west-1b", "role": "db", "cluster": "shop",
		"os": map[string]any{"name": "debian"},
	}), t0)
	feedReg(t, c, registration("bare", nil), t0.Add(-10*time.Second))
	feedReg(t, c, registration("dead", map[string]any{"role": "web"}), t0.Add(-5*time.Minute))

	load := checkResult("web-1", "check_load", 0, t0.Add(-2*time.Second))
	load.Perfdata = []protocol.Perf{{Label: "load1", Value: 0.42}, {Label: "load5", Value: 0.3}, {Label: "load15", Value: 0.2}}
	feedResult(t, c, load, t0)

	disk := checkResult("db-1", "check_disk", 1, t0.Add(-time.Second))
	disk.Runs = map[string]uint64{"OK": 100, "WARNING": 3, "CRITICAL": 1}
	disk.Perfdata = []protocol.Perf{
		{Label: "/", Value: 2048, UOM: "MB", Warn: "3072", Crit: "3584"},
		{Label: "/var", Value: 91, UOM: "%", Warn: "~:90", Crit: "10:95"},
		{Label: "/tmp", Value: 5, UOM: "%", Warn: "@10:20"}, // inverted: no threshold series
	}
	feedResult(t, c, disk, t0)

	ping := checkResult("db-1", "check_ping", 2, t0.Add(-10*time.Minute)) // stale: 3 × 60 s passed
	ping.Perfdata = []protocol.Perf{{Label: "rta", Value: 12.5, UOM: "ms", Warn: "100", Crit: "500"}, {Label: "pl", Value: 0, UOM: "c", Crit: "1:"}}
	feedResult(t, c, ping, t0)

	feedResult(t, c, protocol.Result{
		Identity: "web-1", Time: t0.Add(-3 * time.Second),
		ResultBody: protocol.ResultBody{
			Kind:          "probe",
			Name:          "login",
			Status:        0,
			Output:        "login OK",
			Duration:      0.35,
			Interval:      30,
			Started:       t0.Add(-time.Hour),
			ProbeRuns:     120,
			ProbeFailures: 2,
			Steps: []protocol.StepResult{
				{Name: "home", Duration: 0.1, Phases: map[string]float64{"dns": 0.001, "connect": 0.002, "ttfb": 0.05}, StatusCode: 200, CertExpiry: 1.8e9},
				{Name: "submit", Duration: 0.25, Phases: map[string]float64{"connect": 0.003, "ttfb": 0.2}, StatusCode: 500},
			},
		},
	}, t0)
}

func TestMetricsGolden(t *testing.T) {
	c, _, _ := newDirect(t, nil)
	goldenFleet(t, c)
	got := pulseLines(scrape(t, c.Handler()))
	path := filepath.Join("testdata", "metrics.golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run go test ./collector -run TestMetricsGolden -update to create it): %v", err)
	}
	if got != string(want) {
		t.Fatalf("/metrics differs from %s (rerun with -update if the change is intended):\n%s", path, diffLines(string(want), got))
	}
}

// diffLines lists lines only in want (-) or only in got (+).
func diffLines(want, got string) string {
	in := func(s string) map[string]bool {
		m := map[string]bool{}
		for _, l := range splitLines(s) {
			m[l] = true
		}
		return m
	}
	w, g := in(want), in(got)
	out := ""
	for _, l := range splitLines(want) {
		if !g[l] {
			out += "- " + l + "\n"
		}
	}
	for _, l := range splitLines(got) {
		if !w[l] {
			out += "+ " + l + "\n"
		}
	}
	if out == "" {
		out = "(same lines, different order)"
	}
	return out
}

func splitLines(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	if start < len(s) {
		out = append(out, s[start:])
	}
	return out
}
