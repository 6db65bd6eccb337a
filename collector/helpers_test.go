package collector

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/pulseops/pulse/internal/protocol"
)

// t0 is the fixed "now" of tests that inject a clock.
var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// clock is a settable clock for Options.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: t0} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// events records what OnEvent receives.
type events struct {
	mu  sync.Mutex
	evs []protocol.Event
}

func (e *events) add(ev protocol.Event) {
	e.mu.Lock()
	e.evs = append(e.evs, ev)
	e.mu.Unlock()
}

// take returns "type identity [check previous->status]" lines and forgets them.
func (e *events) take() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, ev := range e.evs {
		s := ev.Type + " " + ev.Identity
		if ev.Type == protocol.EventCheckState {
			s += fmt.Sprintf(" %s %d->%d", ev.Check, ev.Previous, ev.Status)
		}
		out = append(out, s)
	}
	e.evs = nil
	return out
}

// unconnected is a NATS connection object that is never dialled: enough for
// tests that feed the collector directly through handle.
func unconnected() *nats.Conn { return &nats.Conn{} }

// newDirect builds a collector fed through handle, with a settable clock.
func newDirect(t testing.TB, mod func(*Options)) (*Collector, *clock, *events) {
	t.Helper()
	clk, evs := newClock(), &events{}
	opts := Options{Conn: unconnected(), Collective: "test", Now: clk.Now, OnEvent: evs.add, Logger: discardLogger()}
	if mod != nil {
		mod(&opts)
	}
	c, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c, clk, evs
}

// testSeq places every message the tests seal after the one before.
var testSeq atomic.Uint64

// wire seals a registration or result as an agent does, unsigned; one
// without a place in its node's stream gets the next one of boot "test".
func wire(t testing.TB, v any) []byte {
	t.Helper()
	var b []byte
	var err error
	switch m := v.(type) {
	case protocol.Registration:
		if m.Seq == 0 {
			m.Stream = protocol.Stream{Boot: "test", Seq: testSeq.Add(1)}
		}
		b, err = protocol.EncodeRegistration(&m, nil)
	case protocol.Result:
		if m.Seq == 0 {
			m.Stream = protocol.Stream{Boot: "test", Seq: testSeq.Add(1)}
		}
		b, err = protocol.EncodeResult(&m, nil)
	default:
		t.Fatalf("wire does not seal %T", v)
	}
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func registration(id string, facts map[string]any) protocol.Registration {
	return protocol.Registration{
		Identity: id, Time: t0,
		RegistrationBody: protocol.RegistrationBody{Collective: "test", Facts: facts, Agents: []string{"rpcutil"},
			Version: "1.0.0", Started: t0.Add(-time.Hour), Interval: 30},
	}
}

func checkResult(id, name string, status int, at time.Time) protocol.Result {
	return protocol.Result{
		Identity: id, Time: at,
		ResultBody: protocol.ResultBody{Kind: "check", Name: name, Status: status,
			Output: protocol.StateName(status) + " - " + name, Duration: 0.012, Interval: 60,
			Started: t0.Add(-time.Hour), Runs: map[string]uint64{"OK": 10, protocol.StateName(status): 11}},
	}
}

// feedReg and feedResult push a message through the collector's ingest as if
// the broker had stored it at stored. A heartbeat is sent when it is stored
// (its signed time is stored); a result carries the time of its run.
func feedReg(t testing.TB, c *Collector, r protocol.Registration, stored time.Time) {
	t.Helper()
	r.Time = stored
	c.handle(c.subj.Registry(r.Identity), wire(t, r), stored)
}

func feedResult(t testing.TB, c *Collector, r protocol.Result, stored time.Time) {
	t.Helper()
	c.handle(c.subj.Results(r.Identity, r.Name), wire(t, r), stored)
}

// scrape fetches /metrics through the collector's handler.
func scrape(t testing.TB, h http.Handler) string {
	t.Helper()
	text, err := scrapeText(h)
	if err != nil {
		t.Fatal(err)
	}
	return text
}

func scrapeText(h http.Handler) (string, error) {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != http.StatusOK {
		return "", fmt.Errorf("GET /metrics: %d %s", rec.Code, rec.Body)
	}
	return rec.Body.String(), nil
}

// pulseLines keeps the pulse_ families of an exposition, HELP and TYPE
// included, dropping the Go and process metrics whose values vary.
func pulseLines(text string) string {
	var b strings.Builder
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	for sc.Scan() {
		l := sc.Text()
		name := strings.TrimPrefix(strings.TrimPrefix(l, "# HELP "), "# TYPE ")
		// pulse_build_info names the Go that built the test: not golden.
		if strings.HasPrefix(name, "pulse_") && !strings.HasPrefix(name, "pulse_build_info") {
			b.WriteString(l)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// series returns the exposition lines that start with prefix.
func series(text, prefix string) []string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return out
}

// eventually polls f until it returns nil or the deadline passes.
func eventually(t testing.TB, within time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still failing after %s: %v", within, err)
		}
		time.Sleep(20 * time.Millisecond) // poll interval, not a wait for state
	}
}

func getJSON(t testing.TB, h http.Handler, path string, v any) int {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	if v != nil {
		body, _ := io.ReadAll(rec.Body)
		if err := json.Unmarshal(body, v); err != nil {
			t.Fatalf("GET %s: %d, body %q: %v", path, rec.Code, body, err)
		}
	}
	return rec.Code
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
