package hub

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/pulseops/pulse/collector/collectortest"
)

var (
	t0           = collectortest.T0
	newDirect    = collectortest.Direct
	registration = collectortest.Registration
	checkResult  = collectortest.CheckResult
	feedReg      = collectortest.FeedReg
	feedResult   = collectortest.FeedResult
)

// scrape fetches /metrics through h.
func scrape(t testing.TB, h http.Handler) string {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", rec.Code, rec.Body)
	}
	return rec.Body.String()
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

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
