// Package act is the collector's acting side: the action API (POST
// /api/v1/actions runs any agent action on the nodes a filter selects, as
// the CLI would) and the Executor through which the remediation engine
// runs its actions. Both go through the orchestration client, so they
// reach exactly the nodes the CLI would reach, signed as the collector.
//
// It never acts on the whole fleet without being told so, never starts
// an action it cannot wait for: every action ends, or is cancelled, before
// Stop returns.
package act

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/pulseops/pulse/collector/api"
	"github.com/pulseops/pulse/internal/filter"
	"github.com/pulseops/pulse/internal/lifecycle"
	"github.com/pulseops/pulse/internal/protocol"
	"github.com/pulseops/pulse/internal/rpc"
)

// Doer runs one call on the fleet; *rpc.Client is one.
type Doer interface {
	Do(ctx context.Context, call rpc.Call) (*rpc.Result, error)
}

// Options configure the action API. Zero values take the defaults named.
type Options struct {
	// Client runs the actions.
	Client Doer
	// Audit receives one JSON line per finished action.
	Audit io.Writer
	// OnEvent receives an event when an action starts and when it ends.
	OnEvent func(protocol.Event)
	// MaxBodyBytes bounds request bodies (1 MiB).
	MaxBodyBytes int64
	// MaxRecords is how many actions GET /api/v1/actions remembers (200).
	MaxRecords int
	Logger     *slog.Logger
}

// API serves the action endpoints. Actions run between Start and Stop;
// before and after, the endpoint answers 503.
type API struct {
	opts    Options
	log     *slog.Logger
	records *store

	// work holds the running actions: an action only starts between
	// Start and Stop, so Stop can cancel and wait for them all.
	work lifecycle.Work
}

// New builds the action API; it starts nothing.
func New(opts Options) *API {
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = 1 << 20
	}
	if opts.MaxRecords <= 0 {
		opts.MaxRecords = 200
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &API{opts: opts, log: opts.Logger.With("component", "actions"), records: newStore(opts.MaxRecords)}
}

// Register mounts POST and GET /api/v1/actions and GET
// /api/v1/actions/{id} on mux, each wrapped by guard (the token check).
func (a *API) Register(mux *http.ServeMux, guard func(http.Handler) http.Handler) {
	mux.Handle("POST /api/v1/actions", guard(http.HandlerFunc(a.serveAction)))
	mux.Handle("GET /api/v1/actions", guard(http.HandlerFunc(a.serveActions)))
	mux.Handle("GET /api/v1/actions/{id}", guard(http.HandlerFunc(a.serveActionByID)))
}

// Start lets actions run, under ctx: they end when it does.
func (a *API) Start(ctx context.Context) { a.work.Start(ctx) }

// Stop refuses new actions, cancels the running ones and waits for them to
// end (each ends promptly once cancelled). It is safe to call more than
// once.
func (a *API) Stop() { a.work.Stop() }

// call validates an action request and turns it into an rpc.Call.
func call(req *api.ActionRequest) (rpc.Call, error) {
	if req.Agent == "" || req.Action == "" {
		return rpc.Call{}, errors.New(`"agent" and "action" are required`)
	}
	if !protocol.ValidToken(req.Agent) || !protocol.ValidToken(req.Action) {
		return rpc.Call{}, fmt.Errorf("agent %q or action %q is not a valid name", req.Agent, req.Action)
	}
	if _, err := filter.Compile(req.Filter); err != nil {
		return rpc.Call{}, err
	}
	if req.Filter.Empty() && len(req.Nodes) == 0 && req.Agent != "rpcutil" {
		return rpc.Call{}, errors.New("refusing to act on the whole fleet: give a filter or nodes (use filter {\"agent\":[\"" + req.Agent + "\"]} to mean every node)")
	}
	return rpc.Call{
		Agent: req.Agent, Action: req.Action, Data: req.Data, Filter: req.Filter, Nodes: req.Nodes,
		Limit: req.Limit, Batch: req.Batch, BatchSleep: time.Duration(req.BatchSleep), Timeout: time.Duration(req.Timeout),
	}, nil
}

func (a *API) serveAction(w http.ResponseWriter, r *http.Request) {
	var req api.ActionRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, a.opts.MaxBodyBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			api.WriteError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes", mbe.Limit))
			return
		}
		api.WriteError(w, http.StatusBadRequest, "bad action request: "+err.Error())
		return
	}
	c, err := call(&req)
	if err != nil {
		api.WriteError(w, http.StatusBadRequest, err.Error())
		return
	}
	// The action outlives the HTTP request when it is asynchronous, so it
	// runs under Start's context, not the request's.
	ctx, ok := a.work.Begin()
	if !ok {
		api.WriteError(w, http.StatusServiceUnavailable, "the collector is not running actions now (starting or shutting down): try again")
		return
	}
	rec := &api.ActionRecord{ID: newActionID(), Request: req, State: "running", Started: time.Now().UTC()}
	c.Origin = &protocol.Origin{Via: protocol.ViaAPI, ID: rec.ID, CommittedAt: req.CommittedAt}
	a.records.add(rec)
	a.event(protocol.Event{Type: protocol.EventAction, Message: fmt.Sprintf("action %s %s#%s started", rec.ID, req.Agent, req.Action), Data: rec.ID})
	done := make(chan struct{})
	go func() {
		defer a.work.Done()
		defer close(done)
		res, err := a.opts.Client.Do(ctx, c)
		a.records.update(rec.ID, func(r *api.ActionRecord) {
			r.Finished = time.Now().UTC()
			if err != nil {
				r.State, r.Error = "failed", err.Error()
				return
			}
			r.State, r.Result, r.OK = "done", res, res.OK()
		})
		final, _ := a.records.get(rec.ID)
		a.audit(final)
		msg := fmt.Sprintf("action %s %s#%s %s", rec.ID, req.Agent, req.Action, final.State)
		if res != nil {
			msg += fmt.Sprintf(": %d/%d ok", len(res.Replies)-res.Failed(), len(res.Targets))
		}
		a.event(protocol.Event{Type: protocol.EventAction, Message: msg, Data: rec.ID})
	}()
	if req.Async {
		w.Header().Set("Location", "/api/v1/actions/"+rec.ID)
		api.WriteJSON(w, http.StatusAccepted, map[string]string{"id": rec.ID, "state": "running"})
		return
	}
	<-done
	final, _ := a.records.get(rec.ID)
	api.WriteJSON(w, http.StatusOK, final)
}

func (a *API) serveActions(w http.ResponseWriter, _ *http.Request) {
	api.WriteJSON(w, http.StatusOK, a.records.list())
}

func (a *API) serveActionByID(w http.ResponseWriter, r *http.Request) {
	rec, ok := a.records.get(r.PathValue("id"))
	if !ok {
		api.WriteError(w, http.StatusNotFound, "no action "+r.PathValue("id"))
		return
	}
	api.WriteJSON(w, http.StatusOK, rec)
}

func (a *API) event(e protocol.Event) {
	if a.opts.OnEvent == nil {
		return
	}
	e.Time = time.Now().UTC()
	a.opts.OnEvent(e)
}

func (a *API) audit(rec api.ActionRecord) {
	if a.opts.Audit == nil {
		return
	}
	b, err := json.Marshal(map[string]any{"time": time.Now().UTC(), "kind": "action", "id": rec.ID, "agent": rec.Request.Agent,
		"action": rec.Request.Action, "data": rec.Request.Data, "filter": rec.Request.Filter, "state": rec.State, "ok": rec.OK, "error": rec.Error})
	if err == nil {
		_, _ = a.opts.Audit.Write(append(b, '\n'))
	}
}

func newActionID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// store keeps the last actions, newest last.
type store struct {
	mu    sync.Mutex
	max   int
	order []string
	recs  map[string]*api.ActionRecord
}

func newStore(max int) *store {
	return &store{max: max, recs: map[string]*api.ActionRecord{}}
}

func (s *store) add(r *api.ActionRecord) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.recs[r.ID] = r
	s.order = append(s.order, r.ID)
	if len(s.order) > s.max {
		delete(s.recs, s.order[0])
		s.order = s.order[1:]
	}
}

func (s *store) get(id string) (api.ActionRecord, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.recs[id]
	if !ok {
		return api.ActionRecord{}, false
	}
	return *r, true
}

func (s *store) update(id string, f func(*api.ActionRecord)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.recs[id]; ok {
		f(r)
	}
}

func (s *store) list() []api.ActionRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]api.ActionRecord, 0, len(s.order))
	for i := len(s.order) - 1; i >= 0; i-- {
		out = append(out, *s.recs[s.order[i]])
	}
	return out
}
