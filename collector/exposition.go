package collector

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

// The fleet's series are written to /metrics in the text exposition format
// (version 0.0.4) straight from the state, not through client_golang's
// registry: for 10,000 nodes × 10 checks the registry's per-series checks,
// sort and encoding took seconds per scrape, while this pass copies
// pre-rendered label text and formats one float per series. The registry's
// own metrics (health, Go, process, and what other packages register) are
// still gathered and encoded by client_golang and merged in by family name,
// so the output is what promhttp gave in text format, byte for byte.
//
// Only the text format is served: Prometheus scrapes it by default, but a
// client asking for OpenMetrics or protobuf gets text too.

// textEscaper escapes a label value as the text format requires.
var textEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)

// helpEscaper escapes a HELP text.
var helpEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`)

// labelRenderer renders label sets as exposition text, rendering (and
// checking) each shared label pair once.
type labelRenderer struct {
	pairs map[*dto.LabelPair]renderedPair
	b     []byte
}

type renderedPair struct {
	text  string // a="x"
	valid bool   // the value is UTF-8
}

func newLabelRenderer() *labelRenderer {
	return &labelRenderer{pairs: map[*dto.LabelPair]renderedPair{}}
}

// render returns `{a="x",b="y"}` for labels (sorted by name already), or ""
// for none. It reports false if a value is not valid UTF-8, which the text
// format cannot carry.
func (r *labelRenderer) render(labels []*dto.LabelPair) (string, bool) {
	if len(labels) == 0 {
		return "", true
	}
	ok := true
	r.b = append(r.b[:0], '{')
	for i, p := range labels {
		if i > 0 {
			r.b = append(r.b, ',')
		}
		t, seen := r.pairs[p]
		if !seen {
			t = renderedPair{p.GetName() + `="` + textEscaper.Replace(p.GetValue()) + `"`, utf8.ValidString(p.GetValue())}
			r.pairs[p] = t
		}
		ok = ok && t.valid
		r.b = append(r.b, t.text...)
	}
	r.b = append(r.b, '}')
	return string(r.b), ok
}

// appendFloat formats v as client_golang's text encoder does.
func appendFloat(b []byte, v float64) []byte {
	switch v {
	case 1:
		return append(b, '1')
	case 0:
		return append(b, '0')
	case -1:
		return append(b, "-1"...)
	}
	// AppendFloat gives NaN, +Inf and -Inf as the format wants them.
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}

// writeFleetFamily writes one fleet family: HELP and TYPE, then every series
// present in this scrape. A family with none is left out whole, as the
// registry leaves out empty families.
func writeFleetFamily(w *bufio.Writer, fam famIndex, values []float64, present []bool, num []byte) []byte {
	header := false
	for j := range fam.slots {
		if !present[j] {
			continue
		}
		if !header {
			header = true
			typ := "gauge"
			if fam.spec.counter {
				typ = "counter"
			}
			w.WriteString("# HELP " + fam.spec.name + " " + helpEscaper.Replace(fam.spec.help) + "\n# TYPE " + fam.spec.name + " " + typ + "\n")
		}
		w.WriteString(fam.spec.name)
		w.WriteString(fam.slots[j].text)
		num = append(appendFloat(append(num[:0], ' '), values[j]), '\n')
		w.Write(num)
	}
	return num
}

// DefaultMaxConcurrentScrapes is how many /metrics requests the collector
// serves at once unless told otherwise: an HA pair of Prometheus servers
// and two more, where each scrape of a large fleet holds tens of MB.
const DefaultMaxConcurrentScrapes = 4

// limitScrapes serves at most n requests at once and answers the rest 503
// at once, as promhttp's MaxRequestsInFlight does, so a storm of scrapes
// cannot pile up memory and CPU.
func limitScrapes(n int, h http.Handler) http.Handler {
	slots := make(chan struct{}, n)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case slots <- struct{}{}:
			defer func() { <-slots }()
			h.ServeHTTP(w, r)
		default:
			http.Error(w, fmt.Sprintf("%d scrapes are already being served (max_concurrent_scrapes); try again", n), http.StatusServiceUnavailable)
		}
	})
}

// metricsHandler serves /metrics.
type metricsHandler struct {
	c     *Collector
	gzips sync.Pool // *gzip.Writer
}

func (h *metricsHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c := h.c
	// The registry's families first: they are few, and gathering them
	// outside the state lock keeps the lock short.
	mfs, err := c.reg.Gather()
	if err != nil {
		// As promhttp.ContinueOnError: serve what could be gathered.
		c.log.Error("serving /metrics: gathering the registry's metrics; serving the rest", "err", err)
	}
	idx, values, present := c.fleet.snapshot()

	format := expfmt.NegotiateAccept(r.Header, expfmt.FmtText)
	w.Header().Set("Content-Type", string(format))
	var out io.Writer = w
	if gzipAccepted(r.Header) {
		w.Header().Set("Content-Encoding", "gzip")
		w.Header().Add("Vary", "Accept-Encoding")
		// BestSpeed: at fleet scale default compression costs more CPU than
		// the whole encoding, for a few percent smaller bodies.
		gz, _ := h.gzips.Get().(*gzip.Writer)
		if gz == nil {
			gz, _ = gzip.NewWriterLevel(w, gzip.BestSpeed)
		} else {
			gz.Reset(w)
		}
		defer func() {
			if err := gz.Close(); err != nil {
				c.log.Debug("serving /metrics: finishing the gzip stream", "err", err)
			}
			h.gzips.Put(gz)
		}()
		out = gz
	}
	bw := bufio.NewWriterSize(out, 64<<10)
	enc := expfmt.NewEncoder(bw, format)
	var num []byte
	i, off := 0, 0
	for _, fam := range idx {
		for ; i < len(mfs) && mfs[i].GetName() < fam.spec.name; i++ {
			if err := enc.Encode(mfs[i]); err != nil {
				c.log.Error("serving /metrics: encoding a family", "family", mfs[i].GetName(), "err", err)
			}
		}
		n := len(fam.slots)
		num = writeFleetFamily(bw, fam, values[off:off+n], present[off:off+n], num)
		off += n
	}
	for ; i < len(mfs); i++ {
		if err := enc.Encode(mfs[i]); err != nil {
			c.log.Error("serving /metrics: encoding a family", "family", mfs[i].GetName(), "err", err)
		}
	}
	if err := bw.Flush(); err != nil {
		// The scraper went away; nothing to tell it.
		c.log.Debug("serving /metrics: writing the response", "err", err)
	}
}

// gzipAccepted reports whether the request accepts a gzip body: gzip named
// in Accept-Encoding with no q or a q above 0.
func gzipAccepted(h http.Header) bool {
	for _, v := range h.Values("Accept-Encoding") {
		for _, part := range strings.Split(v, ",") {
			params := strings.Split(part, ";")
			if !strings.EqualFold(strings.TrimSpace(params[0]), "gzip") {
				continue
			}
			for _, p := range params[1:] {
				if k, v, _ := strings.Cut(p, "="); strings.TrimSpace(k) == "q" {
					q, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
					return err == nil && q > 0
				}
			}
			return true
		}
	}
	return false
}

// Registry is the collector's Prometheus registry: register metrics of your
// own on it (the remediation engine and event hub do) and they appear on
// /metrics. Its Gather also returns the fleet's series, which /metrics writes
// without going through it.
type Registry struct {
	*prometheus.Registry
	fleet *fleetCollector
}

// Gather returns every family /metrics serves, the fleet's included.
func (r *Registry) Gather() ([]*dto.MetricFamily, error) {
	return prometheus.Gatherers{r.Registry, r.fleet.series}.Gather()
}
