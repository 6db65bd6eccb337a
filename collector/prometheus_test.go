package collector

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pulseops/pulse/internal/broker/brokertest"
	"github.com/pulseops/pulse/internal/protocol"
	"github.com/pulseops/pulse/internal/testkit"
)

func TestPromtoolCheckMetrics(t *testing.T) {
	promtool := testkit.RealPart(t, "promtool")
	c, _, _ := newDirect(t, nil)
	goldenFleet(t, c)
	// Problems the collector counts must pass the linter too.
	feedResult(t, c, protocol.Result{Identity: "web-1", Time: t0, ResultBody: protocol.ResultBody{Kind: "check", Name: "check_x", Output: strings.Repeat("x", 5000)}}, t0)
	c.handle(c.subj.Results("web-1", "check_y"), []byte("{"), t0)

	srv := httptest.NewServer(c.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(body, []byte("pulse_check_status{")) || !bytes.Contains(body, []byte("go_goroutines")) {
		t.Fatalf("scrape lacks the expected families:\n%s", body)
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(body)
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) != 0 {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
}

// TestPrometheusScrapesCollector runs a real Prometheus against the
// collector fed over a real broker, and asks Prometheus what it stored.
func TestPrometheusScrapesCollector(t *testing.T) {
	prom := testkit.RealPart(t, "prometheus")
	b := brokertest.Start(t)
	nc := connect(t, b)
	c := startCollector(t, nc, nil)
	srv := httptest.NewServer(c.Handler())
	defer srv.Close()

	dir := t.TempDir()
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: pulse
    static_configs:
      - targets: [%q]
`, strings.TrimPrefix(srv.URL, "http://"))
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	port := testkit.FreePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	var logs bytes.Buffer
	cmd := exec.CommandContext(ctx, prom,
		"--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port),
		"--log.level=warn")
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		wg.Wait()
		if t.Failed() {
			t.Logf("prometheus log:\n%s", logs.String())
		}
	})

	// Eleven nodes as in the demo: six in eu-west-1a, five in eu-west-1b,
	// each with check_load and a login probe whose runs keep counting.
	s := protocol.Subjects{Collective: "test"}
	publish := func(runs uint64) error {
		now := time.Now()
		for i := range 11 {
			id := fmt.Sprintf("node-%02d", i)
			az := "eu-west-1a"
			if i >= 6 {
				az = "eu-west-1b"
			}
			reg := registration(id, map[string]any{"ec2_placement_availability_zone": az, "role": "web"})
			reg.Time = now
			if err := nc.Publish(s.Registry(id), wire(t, reg)); err != nil {
				return err
			}
			if err := nc.Publish(s.Results(id, "check_load"), wire(t, checkResult(id, "check_load", 0, now))); err != nil {
				return err
			}
			probe := protocol.Result{
				Identity: id, Time: now,
				ResultBody: protocol.ResultBody{
					Kind:      "probe",
					Name:      "login",
					Interval:  1,
					Started:   now.Add(-time.Hour),
					ProbeRuns: runs,
					Duration:  0.2,
					Steps:     []protocol.StepResult{{Name: "login", Duration: 0.2, Phases: map[string]float64{"ttfb": 0.1}}},
				},
			}
			if err := nc.Publish(s.Results(id, "login"), wire(t, probe)); err != nil {
				return err
			}
		}
		return nc.Flush()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		for runs := uint64(1); ; runs++ {
			if err := publish(runs); err != nil {
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()

	api := fmt.Sprintf("http://127.0.0.1:%d/api/v1/query", port)
	query := func(q string) ([]map[string]any, error) {
		resp, err := http.Get(api + "?query=" + url.QueryEscape(q))
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		var r struct {
			Status string `json:"status"`
			Error  string `json:"error"`
			Data   struct {
				Result []map[string]any `json:"result"`
			} `json:"data"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
			return nil, fmt.Errorf("query %s: %w", q, err)
		}
		if r.Status != "success" {
			return nil, fmt.Errorf("query %s: %s", q, r.Error)
		}
		return r.Data.Result, nil
	}
	eventually(t, 60*time.Second, func() error {
		res, err := query(`pulse_check_status{check="check_load",az=~"eu-west-1[ab]"}`)
		if err != nil {
			return err
		}
		if len(res) != 11 {
			return fmt.Errorf("Prometheus has %d check_load status series with an az label, want 11", len(res))
		}
		zones := map[string]int{}
		for _, r := range res {
			m := r["metric"].(map[string]any)
			zones[fmt.Sprint(m["az"])]++
		}
		if zones["eu-west-1a"] != 6 || zones["eu-west-1b"] != 5 {
			return fmt.Errorf("series by az = %v, want 6 in eu-west-1a and 5 in eu-west-1b", zones)
		}
		res, err = query(`rate(pulse_probe_runs_total{probe="login"}[1m]) > 0`)
		if err != nil {
			return err
		}
		if len(res) != 11 {
			return fmt.Errorf("Prometheus sees a rising login probe run count on %d nodes, want 11", len(res))
		}
		return nil
	})
}
