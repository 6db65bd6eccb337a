package slo_test

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pulseops/pulse/collector/api"
	"github.com/pulseops/pulse/collector/slo"
	"github.com/pulseops/pulse/demo"
	"github.com/pulseops/pulse/internal/testkit"
)

// probeCounters serves the login probe's counters as the collector exports
// them, growing by 10 runs a scrape in each zone, a fifth of them failing in
// eu-west-1a.
type probeCounters struct {
	mu     sync.Mutex
	scrape int
}

func (p *probeCounters) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	p.mu.Lock()
	p.scrape++
	n := p.scrape
	p.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	fmt.Fprintln(w, "# TYPE pulse_probe_runs_total counter")
	fmt.Fprintf(w, "pulse_probe_runs_total{probe=\"login\",az=\"eu-west-1a\",identity=\"a1\"} %d\n", 10*n)
	fmt.Fprintf(w, "pulse_probe_runs_total{probe=\"login\",az=\"eu-west-1b\",identity=\"b1\"} %d\n", 10*n)
	fmt.Fprintln(w, "# TYPE pulse_probe_failures_total counter")
	fmt.Fprintf(w, "pulse_probe_failures_total{probe=\"login\",az=\"eu-west-1a\",identity=\"a1\"} %d\n", 2*n)
	fmt.Fprintf(w, "pulse_probe_failures_total{probe=\"login\",az=\"eu-west-1b\",identity=\"b1\"} 0\n")
}

// TestSLOsFromPrometheus runs real Prometheus with the demo's SLO rules
// over counters that fail 20% of logins in one zone: the view reads the
// success ratio, the budget left and the burn rate per zone.
func TestSLOsFromPrometheus(t *testing.T) {
	promBin := testkit.RealPart(t, "prometheus")
	target := httptest.NewServer(&probeCounters{})
	t.Cleanup(target.Close)
	dir := t.TempDir()
	log, err := os.Create(filepath.Join(dir, "stack.log"))
	if err != nil {
		t.Fatal(err)
	}
	prom, _, err := demo.StartStack(t.Context(), demo.StackOptions{
		Dir: dir, Prometheus: promBin, PrometheusAddr: testkit.FreeAddr(t), Log: log,
		Collector: strings.TrimPrefix(target.URL, "http://"), Scrape: time.Second, Evaluation: time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(prom.Stop)

	var v api.SLOsView
	testkit.WaitFor(t, 60*time.Second, "both zones' SLO with every figure", func() bool {
		v = slo.View(t.Context(), slo.Options{Prometheus: prom.URL})
		if len(v.SLOs) != 2 {
			return false
		}
		for _, s := range v.SLOs {
			if s.BurnRate == nil || s.SuccessRatio == nil || s.ErrorBudgetRemaining == nil {
				return false
			}
		}
		return true
	})
	if v.Error != "" || v.Source != prom.URL {
		t.Fatalf("error %q source %q", v.Error, v.Source)
	}
	near := func(got *float64, want float64) bool { return got != nil && math.Abs(*got-want) < 1e-6 }
	a, b := v.SLOs[0], v.SLOs[1]
	if a.SLO != "login" || a.Labels["az"] != "eu-west-1a" || a.Objective != 0.995 || a.BurnRateWindow != "1h" ||
		!near(a.SuccessRatio, 0.8) || !near(a.ErrorBudgetRemaining, 1-0.2/0.005) || !near(a.BurnRate, 0.2/0.005) {
		t.Errorf("eu-west-1a: %s", show(a))
	}
	if b.Labels["az"] != "eu-west-1b" || !near(b.SuccessRatio, 1) || !near(b.ErrorBudgetRemaining, 1) || !near(b.BurnRate, 0) {
		t.Errorf("eu-west-1b: %s", show(b))
	}
}

func show(s api.SLOView) string {
	f := func(x *float64) string {
		if x == nil {
			return "null"
		}
		return fmt.Sprint(*x)
	}
	return fmt.Sprintf("%s %v objective %v success %s budget %s burn %s", s.SLO, s.Labels, s.Objective, f(s.SuccessRatio), f(s.ErrorBudgetRemaining), f(s.BurnRate))
}

// TestSLOsWithoutPrometheus: no URL, or one that does not answer, is an
// error saying what to do, never SLOs made up.
func TestSLOsWithoutPrometheus(t *testing.T) {
	v := slo.View(context.Background(), slo.Options{})
	if v.Error != "the collector is not told where Prometheus is: set prometheus_url in its config to see the SLOs" || len(v.SLOs) != 0 || v.SLOs == nil {
		t.Errorf("no URL: %+v", v)
	}
	addr := testkit.FreeAddr(t)
	v = slo.View(context.Background(), slo.Options{Prometheus: "http://" + addr})
	if !strings.HasPrefix(v.Error, "cannot ask Prometheus at http://"+addr+" for pulse_slo:objective:ratio: ") {
		t.Errorf("nobody listening: %q", v.Error)
	}
}
