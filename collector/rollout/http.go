package rollout

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"

	"github.com/pulseops/pulse/collector/api"
	"github.com/pulseops/pulse/internal/lifecycle"
)

// API serves the collector's rollout endpoints: POST /api/v1/rollouts runs
// a rollout (the one `pulse rollout` runs) as the collector, GET lists
// every rollout's record and GET /api/v1/rollouts/{id} shows one. Rollouts
// run between Start and Stop; Stop halts the running ones, which roll back
// as a failed step would, and waits for them.
type API struct {
	store        *Store
	log          *slog.Logger
	maxBodyBytes int64

	mu sync.Mutex
	// runner runs the rollouts asked for; without it unavailable says
	// why there are none.
	runner      *Runner
	unavailable string
	work        lifecycle.Work // the running rollouts
}

// NewAPI serves runner's rollouts (none until one is set, when nil) and
// store's records.
func NewAPI(runner *Runner, store *Store, maxBodyBytes int64, log *slog.Logger) *API {
	if maxBodyBytes <= 0 {
		maxBodyBytes = 1 << 20
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &API{runner: runner, store: store, maxBodyBytes: maxBodyBytes, log: log.With("component", "rollouts-api")}
}

func (a *API) setRunner(r *Runner) {
	a.mu.Lock()
	a.runner = r
	a.mu.Unlock()
}

func (a *API) setUnavailable(why string) {
	a.mu.Lock()
	a.unavailable = why
	a.mu.Unlock()
}

// Register mounts the endpoints on mux, each wrapped by guard.
func (a *API) Register(mux *http.ServeMux, guard func(http.Handler) http.Handler) {
	mux.Handle("POST /api/v1/rollouts", guard(http.HandlerFunc(a.serveStart)))
	mux.Handle("GET /api/v1/rollouts", guard(http.HandlerFunc(a.serveList)))
	mux.Handle("GET /api/v1/rollouts/{id}", guard(http.HandlerFunc(a.serveOne)))
}

// Start lets rollouts run under ctx.
func (a *API) Start(ctx context.Context) { a.work.Start(ctx) }

// Stop refuses new rollouts, halts the running ones and waits for them
// (and their rollbacks) to end.
func (a *API) Stop() { a.work.Stop() }

// begin reserves a place for one rollout under Start's context, or says
// why none can run.
func (a *API) begin() (context.Context, *Runner, string) {
	a.mu.Lock()
	runner, unavailable := a.runner, a.unavailable
	a.mu.Unlock()
	const notNow = "the collector is not running rollouts now (starting or shutting down): try again"
	if runner == nil {
		return nil, nil, cmp.Or(unavailable, notNow)
	}
	ctx, ok := a.work.Begin()
	if !ok {
		return nil, nil, notNow
	}
	return ctx, runner, ""
}

func (a *API) serveStart(w http.ResponseWriter, r *http.Request) {
	var req api.RolloutRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, a.maxBodyBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			api.WriteError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes", mbe.Limit))
			return
		}
		api.WriteError(w, http.StatusBadRequest, "bad rollout request: "+err.Error())
		return
	}
	ctx, runner, why := a.begin()
	if runner == nil {
		api.WriteError(w, http.StatusServiceUnavailable, why)
		return
	}
	if _, err := runner.check(req); err != nil {
		a.work.Done()
		api.WriteError(w, http.StatusBadRequest, err.Error())
		return
	}
	// The rollout outlives the request when asynchronous: it runs under
	// Start's context, and its first record says its id.
	started := make(chan string, 1)
	type outcome struct {
		rec api.Rollout
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		defer a.work.Done()
		rec, err := runner.run(ctx, req, func(id string) { started <- id })
		if err != nil {
			a.log.Warn("rollout refused", "package", req.Package, "version", req.Version, "err", err)
		}
		done <- outcome{rec, err}
	}()
	if req.Async {
		select {
		case id := <-started:
			w.Header().Set("Location", "/api/v1/rollouts/"+id)
			api.WriteJSON(w, http.StatusAccepted, map[string]string{"id": id, "state": string(api.RolloutRunning)})
		case o := <-done:
			writeRefusal(w, o.err)
		}
		return
	}
	o := <-done
	if o.err != nil {
		writeRefusal(w, o.err)
		return
	}
	api.WriteJSON(w, http.StatusOK, o.rec)
}

// writeRefusal answers a rollout that could not start: 400 for what was
// asked, 409 for nodes another rollout holds, 422 for nodes that cannot
// be rolled out now.
func writeRefusal(w http.ResponseWriter, err error) {
	var ue *UsageError
	var ce *ConflictError
	var re *RefusedError
	switch {
	case errors.As(err, &ue):
		api.WriteError(w, http.StatusBadRequest, err.Error())
	case errors.As(err, &ce):
		api.WriteError(w, http.StatusConflict, err.Error())
	case errors.As(err, &re):
		api.WriteError(w, http.StatusUnprocessableEntity, err.Error())
	default:
		api.WriteError(w, http.StatusBadGateway, err.Error())
	}
}

func (a *API) serveList(w http.ResponseWriter, _ *http.Request) {
	api.WriteJSON(w, http.StatusOK, a.store.List())
}

func (a *API) serveOne(w http.ResponseWriter, r *http.Request) {
	rec, ok := a.store.Get(r.PathValue("id"))
	if !ok {
		api.WriteError(w, http.StatusNotFound, "no rollout "+r.PathValue("id")+" (pulse rollouts lists them)")
		return
	}
	api.WriteJSON(w, http.StatusOK, rec)
}
