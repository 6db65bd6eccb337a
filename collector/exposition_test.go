package collector

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/pulseops/pulse/internal/protocol"
)

// registryText encodes c.Registry().Gather() as client_golang would serve it
// in text format: what /metrics must equal, byte for byte.
func registryText(t testing.TB, c *Collector) string {
	t.Helper()
	mfs, err := c.Registry().Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	var b bytes.Buffer
	enc := expfmt.NewEncoder(&b, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			t.Fatalf("encode %s: %v", mf.GetName(), err)
		}
	}
	return b.String()
}

// oddFleet adds label values the text format must escape, a node whose
// results came before its heartbeat, and a perfdata label absent from the
// last run.
func oddFleet(t testing.TB, c *Collector) {
	t.Helper()
	feedReg(t, c, registration("odd", map[string]any{
		"role": "we\"b\\n\nx", "cluster": "ünïcode", "ec2_placement_availability_zone": 1.5,
	}), t0)
	r := checkResult("odd", "check_odd", 3, t0)
	r.Perfdata = []protocol.Perf{{Label: "a b", Value: 1e300}, {Label: "gone", Value: -1}}
	feedResult(t, c, r, t0)
	r.Perfdata = r.Perfdata[:1]
	feedResult(t, c, r, t0.Add(time.Second))
	feedResult(t, c, checkResult("early", "check_load", 0, t0), t0)
}

func TestMetricsEqualsRegistryEncoding(t *testing.T) {
	c, _, _ := newDirect(t, nil)
	goldenFleet(t, c)
	oddFleet(t, c)
	got := pulseLines(scrape(t, c.Handler()))
	want := pulseLines(registryText(t, c))
	if got != want {
		t.Fatalf("/metrics differs from the registry's encoding of the same state:\n%s", diffLines(want, got))
	}
	for _, s := range []string{`role="we\"b\\n\nx"`, `label="a b"`, `identity="early"`, " 1e+300"} {
		if !strings.Contains(got, s) {
			t.Errorf("/metrics lacks %s:\n%s", s, got)
		}
	}
	if strings.Contains(got, `label="gone"`) {
		t.Errorf("/metrics still has a perfdata label the last run did not report:\n%s", got)
	}
}

// TestMetricsFollowsState checks the cached index is rebuilt when series
// come and labels change, and that values are read fresh on every scrape.
func TestMetricsFollowsState(t *testing.T) {
	c, clk, _ := newDirect(t, nil)
	goldenFleet(t, c)
	first := scrape(t, c.Handler())
	feedReg(t, c, registration("web-1", map[string]any{"role": "api"}), t0)
	feedResult(t, c, checkResult("new-1", "check_new", 1, t0), t0)
	clk.Add(time.Hour) // every node down, every check stale
	got := pulseLines(scrape(t, c.Handler()))
	if want := pulseLines(registryText(t, c)); got != want {
		t.Fatalf("/metrics after changes differs from the registry's encoding:\n%s", diffLines(want, got))
	}
	if got == pulseLines(first) {
		t.Fatal("/metrics did not change after the state did")
	}
	for _, s := range []string{`pulse_node_up{az="",cluster="",identity="web-1",role="api"} 0`, `check="check_new"`} {
		if !strings.Contains(got, s) {
			t.Errorf("/metrics lacks %s", s)
		}
	}
}

func TestMetricsGzip(t *testing.T) {
	c, _, _ := newDirect(t, nil)
	goldenFleet(t, c)
	plain := pulseLines(scrape(t, c.Handler()))
	for _, tc := range []struct {
		accept string
		gzip   bool
	}{
		{"", false},
		{"gzip", true},
		{"deflate, gzip;q=0.5", true},
		{"GZIP", true},
		{"gzip;q=0", false},
		{"gzip; q=0.0", false},
		{"br", false},
	} {
		t.Run(tc.accept, func(t *testing.T) {
			req := httptest.NewRequest("GET", "/metrics", nil)
			if tc.accept != "" {
				req.Header.Set("Accept-Encoding", tc.accept)
			}
			rec := httptest.NewRecorder()
			c.Handler().ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				t.Fatalf("GET /metrics: %d", rec.Code)
			}
			if ct, want := rec.Header().Get("Content-Type"), "text/plain; version=0.0.4; charset=utf-8; escaping=underscores"; ct != want {
				t.Errorf("Content-Type %q, want %q", ct, want)
			}
			body := rec.Body.Bytes()
			if got := rec.Header().Get("Content-Encoding") == "gzip"; got != tc.gzip {
				t.Fatalf("gzip %v, want %v", got, tc.gzip)
			}
			if tc.gzip {
				zr, err := gzip.NewReader(bytes.NewReader(body))
				if err != nil {
					t.Fatal(err)
				}
				if body, err = io.ReadAll(zr); err != nil {
					t.Fatal(err)
				}
			}
			if got := pulseLines(string(body)); got != plain {
				t.Fatalf("body differs from the plain scrape:\n%s", diffLines(plain, got))
			}
		})
	}
}

func TestAppendFloatMatchesExpfmt(t *testing.T) {
	for _, v := range []float64{0, 1, -1, 0.5, 1e21, 1.748779198e+09, -3.25e-7, math.NaN(), math.Inf(1), math.Inf(-1), math.MaxFloat64, math.SmallestNonzeroFloat64} {
		name := "x"
		mf := &dto.MetricFamily{Name: &name, Type: dto.MetricType_GAUGE.Enum(), Metric: []*dto.Metric{{Gauge: &dto.Gauge{Value: &v}}}}
		var b bytes.Buffer
		if _, err := expfmt.MetricFamilyToText(&b, mf); err != nil {
			t.Fatal(err)
		}
		want := strings.TrimPrefix(strings.TrimSuffix(b.String(), "\n"), "# TYPE x gauge\nx ")
		if got := string(appendFloat(nil, v)); got != want {
			t.Errorf("appendFloat(%v) = %q, want %q as expfmt writes it", v, got, want)
		}
	}
}

// TestRegistryRefusesFleetNames checks the fleet's families stay reserved on
// the registry although the fleet is not gathered through it.
func TestRegistryRefusesFleetNames(t *testing.T) {
	c, _, _ := newDirect(t, nil)
	err := c.Registry().Register(prometheus.NewGauge(prometheus.GaugeOpts{Name: "pulse_node_up", Help: "another"}))
	var are prometheus.AlreadyRegisteredError
	if err == nil || errors.As(err, &are) {
		t.Fatalf("registering pulse_node_up again: got %v, want a conflict error", err)
	}
}

// FuzzMetricsExposition feeds arbitrary messages and checks that /metrics
// stays equal to the registry's encoding of the same state and parses as the
// text format.
func FuzzMetricsExposition(f *testing.F) {
	f.Add(false, "web-1", "", []byte(`{"identity":"web-1","facts":{"role":"a\"b\\c\nd","cluster":"\xff\xfe"},"interval":30}`))
	f.Add(true, "web-1", "check_x", []byte(`{"identity":"web-1","kind":"check","name":"check_x","status":2,"runs":{"OK":1,"WARNING":2},"perfdata":[{"label":"a\"b","value":1e300,"uom":"%"},{"label":"\n","value":-0}]}`))
	f.Add(true, "web-1", "login", []byte(`{"identity":"web-1","kind":"probe","name":"login","steps":[{"name":"s\"","phases":{"total":1,"dns":0.1}},{"name":"t","duration":2}]}`))
	f.Fuzz(func(t *testing.T, result bool, id, name string, data []byte) {
		c, _, _ := newDirect(t, func(o *Options) { o.MaxSeries = 100; o.MaxLabelValues = 3 })
		feedReg(t, c, registration("base", map[string]any{"role": "r"}), t0)
		subject := c.subj.Registry(id)
		if result {
			subject = c.subj.Results(id, name)
		}
		c.handle(subject, data, t0)
		text := scrape(t, c.Handler())
		if got, want := pulseLines(text), pulseLines(registryText(t, c)); got != want {
			t.Fatalf("after %q on %q /metrics differs from the registry's encoding:\n%s", data, subject, diffLines(want, got))
		}
		p := expfmt.NewTextParser(model.UTF8Validation)
		if _, err := p.TextToMetricFamilies(strings.NewReader(text)); err != nil {
			t.Fatalf("after %q on %q /metrics does not parse: %v\n%s", data, subject, err, text)
		}
	})
}

// TestScrapeLimit: past max_concurrent_scrapes a scrape is refused with 503
// at once, and every scrape is counted by its status code.
func TestScrapeLimit(t *testing.T) {
	c, _, _ := newDirect(t, func(o *Options) { o.MaxConcurrentScrapes = 1 })
	h := c.Handler()
	// Hold the only slot with a first scrape that waits until released.
	inside, release := make(chan struct{}), make(chan struct{})
	var calls atomic.Int32
	blocked := limitScrapes(1, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			close(inside)
			<-release
		}
	}))
	done := make(chan struct{})
	go func() {
		blocked.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/metrics", nil))
		close(done)
	}()
	<-inside
	rec := httptest.NewRecorder()
	blocked.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "max_concurrent_scrapes") {
		t.Fatalf("second scrape while one runs: %d %s", rec.Code, rec.Body)
	}
	close(release)
	<-done
	rec = httptest.NewRecorder()
	blocked.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("scrape after the slot freed: %d", rec.Code)
	}

	// The collector's own /metrics counts its scrapes, and says which
	// pulse it is.
	scrape(t, h)
	text := scrape(t, h)
	for _, want := range []string{
		`promhttp_metric_handler_requests_total{code="200"} 1`,
		`promhttp_metric_handler_requests_total{code="503"} 0`,
		`promhttp_metric_handler_requests_in_flight 1`,
		`pulse_build_info{goarch=`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
