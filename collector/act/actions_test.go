package act

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/pulseops/pulse/collector/api"
	"github.com/pulseops/pulse/internal/rpc"
)

// blocker is a fleet whose actions run until they are cancelled.
type blocker struct{ started chan struct{} }

func (b blocker) Do(ctx context.Context, _ rpc.Call) (*rpc.Result, error) {
	b.started <- struct{}{}
	<-ctx.Done()
	return nil, ctx.Err()
}

func post(t *testing.T, h http.Handler, body string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/api/v1/actions", strings.NewReader(body)))
	return rec
}

// An action runs between Start and Stop only: Stop cancels a running
// asynchronous action and returns once it has ended, and the API refuses
// actions before Start and after Stop with a 503 that says why.
func TestActionsLiveBetweenStartAndStop(t *testing.T) {
	b := blocker{started: make(chan struct{}, 1)}
	a := New(Options{Client: b})
	mux := http.NewServeMux()
	a.Register(mux, func(h http.Handler) http.Handler { return h })
	const body = `{"agent":"service","action":"restart","data":{"service":"cron"},"nodes":["n1"],"async":true}`

	if rec := post(t, mux, body); rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "not running actions now") {
		t.Fatalf("before Start: %d %s", rec.Code, rec.Body)
	}
	a.Start(context.Background())
	rec := post(t, mux, body)
	if rec.Code != http.StatusAccepted {
		t.Fatalf("async action: %d %s", rec.Code, rec.Body)
	}
	var started map[string]string
	if err := json.Unmarshal(rec.Body.Bytes(), &started); err != nil {
		t.Fatal(err)
	}
	<-b.started
	stopped := make(chan struct{})
	go func() {
		a.Stop()
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("Stop did not return: the running action was not cancelled")
	}
	got, ok := a.records.get(started["id"])
	if !ok || got.State != "failed" || got.Error != "context canceled" {
		t.Fatalf("the action after Stop: %+v", got)
	}
	if rec := post(t, mux, body); rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("after Stop: %d %s", rec.Code, rec.Body)
	}
	a.Stop() // a second Stop is harmless
	var list []api.ActionRecord
	rr := httptest.NewRecorder()
	mux.ServeHTTP(rr, httptest.NewRequest("GET", "/api/v1/actions", nil))
	if err := json.Unmarshal(rr.Body.Bytes(), &list); err != nil || len(list) != 1 {
		t.Fatalf("GET /api/v1/actions: %v %s", err, rr.Body)
	}
}
