package collector

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"

	"github.com/pulseops/pulse/internal/protocol"
)

const (
	benchNodes  = 10000
	benchChecks = 10
)

// benchPayloads encodes one result per node and check, as agents send them.
func benchPayloads(b *testing.B) (subjects []string, payloads [][]byte) {
	b.Helper()
	s := protocol.Subjects{Collective: "test"}
	for n := range benchNodes {
		id := fmt.Sprintf("node-%05d", n)
		for k := range benchChecks {
			name := fmt.Sprintf("check_%02d", k)
			r := checkResult(id, name, k%4, t0)
			r.Runs = map[string]uint64{"OK": 1000}
			r.Perfdata = []protocol.Perf{{Label: "value", Value: float64(n), UOM: "ms"}}
			subjects = append(subjects, s.Results(id, name))
			payloads = append(payloads, wire(b, r))
		}
	}
	return subjects, payloads
}

// benchFleet is a collector holding 10,000 registered nodes with 10 checks
// each.
func benchFleet(b *testing.B) *Collector {
	b.Helper()
	c, _, _ := newDirect(b, func(o *Options) { o.MaxSeries = 1 << 30 })
	zones := []string{"eu-west-1a", "eu-west-1b", "eu-west-1c"}
	for n := range benchNodes {
		id := fmt.Sprintf("node-%05d", n)
		feedReg(b, c, registration(id, map[string]any{
			"ec2_placement_availability_zone": zones[n%3], "role": fmt.Sprintf("role-%d", n%7), "cluster": "bench",
		}), t0)
	}
	subjects, payloads := benchPayloads(b)
	for i := range subjects {
		c.handle(subjects[i], payloads[i], t0)
	}
	return c
}

// BenchmarkIngest decodes and applies results of 10,000 nodes × 10 checks,
// one result per iteration, cycling through the fleet.
func BenchmarkIngest(b *testing.B) {
	c, _, _ := newDirect(b, nil)
	subjects, payloads := benchPayloads(b)
	stored := t0
	// One pass first, so the loop measures the steady state: every node and
	// check known, results replacing results.
	for i := range subjects {
		c.handle(subjects[i], payloads[i], stored)
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	i := 0
	for b.Loop() {
		c.handle(subjects[i], payloads[i], stored)
		i++
		if i == len(subjects) {
			i = 0
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "results/s")
}

func benchScrape(b *testing.B, h http.Handler, series int, header ...string) {
	b.Helper()
	req := httptest.NewRequest("GET", "/metrics", nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	var size int
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatalf("scrape: %d", rec.Code)
		}
		size = rec.Body.Len()
	}
	b.ReportMetric(float64(size), "bytes/scrape")
	b.ReportMetric(float64(series), "series")
}

// BenchmarkMetrics scrapes the collector's /metrics: the fleet's series and
// the registry's own (Go, process, collector health).
func BenchmarkMetrics(b *testing.B) {
	c := benchFleet(b)
	mfs, _ := c.Registry().Gather()
	benchScrape(b, c.Handler(), countSeries(mfs))
}

// BenchmarkMetricsGzip is BenchmarkMetrics as Prometheus asks: gzip.
func BenchmarkMetricsGzip(b *testing.B) {
	c := benchFleet(b)
	mfs, _ := c.Registry().Gather()
	benchScrape(b, c.Handler(), countSeries(mfs), "Accept-Encoding", "gzip")
}

// BenchmarkMetricsBareRegistry scrapes the same series held in plain
// client_golang GaugeVecs and CounterVecs: the baseline BenchmarkMetrics is
// measured against.
func BenchmarkMetricsBareRegistry(b *testing.B) {
	c := benchFleet(b)
	src := c.fleet.series
	mfs, err := src.Gather()
	if err != nil {
		b.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	for _, mf := range mfs {
		var names []string
		if len(mf.Metric) > 0 {
			for _, lp := range mf.Metric[0].Label {
				names = append(names, lp.GetName())
			}
		}
		set := bareVec(reg, mf, names)
		for _, m := range mf.Metric {
			values := make([]string, len(m.Label))
			for i, lp := range m.Label {
				values[i] = lp.GetValue()
			}
			set(values, m)
		}
	}
	n := countSeries(mfs)
	// Let the collector and the copy go, so only the bare registry is live.
	c, src, mfs = nil, nil, nil
	_, _, _ = c, src, mfs
	benchScrape(b, promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), n)
}

func bareVec(reg *prometheus.Registry, mf *dto.MetricFamily, names []string) func([]string, *dto.Metric) {
	if mf.GetType() == dto.MetricType_COUNTER {
		v := prometheus.NewCounterVec(prometheus.CounterOpts{Name: mf.GetName(), Help: mf.GetHelp()}, names)
		reg.MustRegister(v)
		return func(vals []string, m *dto.Metric) { v.WithLabelValues(vals...).Add(m.GetCounter().GetValue()) }
	}
	v := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: mf.GetName(), Help: mf.GetHelp()}, names)
	reg.MustRegister(v)
	return func(vals []string, m *dto.Metric) { v.WithLabelValues(vals...).Set(m.GetGauge().GetValue()) }
}

func countSeries(mfs []*dto.MetricFamily) int {
	n := 0
	for _, mf := range mfs {
		n += len(mf.Metric)
	}
	return n
}

// BenchmarkMetricsIndex is the extra work of the first scrape after series
// come or go: listing and sorting every series (630,000 here).
func BenchmarkMetricsIndex(b *testing.B) {
	c := benchFleet(b)
	c.mu.RLock()
	defer c.mu.RUnlock()
	b.ReportAllocs()
	for b.Loop() {
		if len(c.fleet.buildIndex()) == 0 {
			b.Fatal("empty index")
		}
	}
}
