package collector

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/pulseops/pulse/internal/filter"
	"github.com/pulseops/pulse/internal/protocol"
	"github.com/pulseops/pulse/internal/rpc"
)

// ActionRequest is the body of POST /api/v1/actions: any agent action, on
// the nodes a filter (or a node list) selects, as the CLI would run it.
type ActionRequest struct {
	Agent  string         `json:"agent"`
	Action string         `json:"action"`
	Data   map[string]any `json:"data,omitempty"`
	Filter filter.Spec    `json:"filter"`
	Nodes  []string       `json:"nodes,omitempty"`
	// Batch is "N" or "N%" (a JSON number is accepted too).
	Batch      json.RawMessage `json:"batch,omitempty"`
	BatchSleep string          `json:"batch_sleep,omitempty"`
	Limit      string          `json:"limit,omitempty"`
	Timeout    string          `json:"timeout,omitempty"`
	// Async answers 202 with the action's id at once; poll
	// GET /api/v1/actions/{id} for the result.
	Async bool `json:"async,omitempty"`
}

// ActionRecord is an action the collector ran and what came of it.
type ActionRecord struct {
	ID       string        `json:"id"`
	Request  ActionRequest `json:"request"`
	State    string        `json:"state"` // running, done, failed
	Started  time.Time     `json:"started"`
	Finished time.Time     `json:"finished,omitzero"`
	Error    string        `json:"error,omitempty"`
	Result   *rpc.Result   `json:"result,omitempty"`
	OK       bool          `json:"ok"`
}

type actionStore struct {
	mu    sync.Mutex
	max   int
	order []string
	recs  map[string]*ActionRecord
}

func newActionStore(max int) *actionStore {
	return &actionStore{max: max, recs: map[string]*ActionRecord{}}
}

func (s *actionStore) add(r *ActionRecord) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.recs[r.ID] = r
	s.order = append(s.order, r.ID)
	if len(s.order) > s.max {
		delete(s.recs, s.order[0])
		s.order = s.order[1:]
	}
}

func (s *actionStore) get(id string) (ActionRecord, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.recs[id]
	if !ok {
		return ActionRecord{}, false
	}
	return *r, true
}

func (s *actionStore) update(id string, f func(*ActionRecord)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.recs[id]; ok {
		f(r)
	}
}

func (s *actionStore) list() []ActionRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]ActionRecord, 0, len(s.order))
	for i := len(s.order) - 1; i >= 0; i-- {
		out = append(out, *s.recs[s.order[i]])
	}
	return out
}

// call validates an action request and turns it into an rpc.Call.
func (req *ActionRequest) call() (rpc.Call, error) {
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
	c := rpc.Call{Agent: req.Agent, Action: req.Action, Data: req.Data, Filter: req.Filter, Nodes: req.Nodes, Limit: req.Limit}
	if len(req.Batch) > 0 {
		var n int
		var s string
		switch {
		case json.Unmarshal(req.Batch, &n) == nil:
			c.Batch = strconv.Itoa(n)
		case json.Unmarshal(req.Batch, &s) == nil:
			c.Batch = s
		default:
			return c, fmt.Errorf("batch %s must be a number or \"N%%\"", req.Batch)
		}
		if _, err := rpc.ParseCount(c.Batch, 100); err != nil {
			return c, fmt.Errorf("batch: %w", err)
		}
	}
	for _, d := range []struct {
		s   string
		dst *time.Duration
		n   string
	}{{req.BatchSleep, &c.BatchSleep, "batch_sleep"}, {req.Timeout, &c.Timeout, "timeout"}} {
		if d.s == "" {
			continue
		}
		v, err := time.ParseDuration(d.s)
		if err != nil || v < 0 {
			return c, fmt.Errorf("%s %q is not a duration such as 1s", d.n, d.s)
		}
		*d.dst = v
	}
	return c, nil
}

func (s *Server) serveAction(w http.ResponseWriter, r *http.Request) {
	var req ActionRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes", mbe.Limit))
			return
		}
		writeError(w, http.StatusBadRequest, "bad action request: "+err.Error())
		return
	}
	call, err := req.call()
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	rec := &ActionRecord{ID: newActionID(), Request: req, State: "running", Started: time.Now().UTC()}
	s.actions.add(rec)
	s.event(protocol.Event{Type: protocol.EventAction, Message: fmt.Sprintf("action %s %s#%s started", rec.ID, req.Agent, req.Action), Data: rec.ID})
	done := make(chan struct{})
	go func() {
		defer close(done)
		// The action outlives the HTTP request when it is asynchronous.
		res, err := s.client.Do(context.WithoutCancel(r.Context()), call)
		s.actions.update(rec.ID, func(a *ActionRecord) {
			a.Finished = time.Now().UTC()
			if err != nil {
				a.State, a.Error = "failed", err.Error()
				return
			}
			a.State, a.Result, a.OK = "done", res, res.OK()
		})
		final, _ := s.actions.get(rec.ID)
		s.auditAction(final)
		msg := fmt.Sprintf("action %s %s#%s %s", rec.ID, req.Agent, req.Action, final.State)
		if res != nil {
			msg += fmt.Sprintf(": %d/%d ok", len(res.Replies)-res.Failed(), len(res.Targets))
		}
		s.event(protocol.Event{Type: protocol.EventAction, Message: msg, Data: rec.ID})
	}()
	if req.Async {
		w.Header().Set("Location", "/api/v1/actions/"+rec.ID)
		writeJSON(w, http.StatusAccepted, map[string]string{"id": rec.ID, "state": "running"})
		return
	}
	<-done
	final, _ := s.actions.get(rec.ID)
	writeJSON(w, http.StatusOK, final)
}

func (s *Server) serveActions(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.actions.list())
}

func (s *Server) serveActionByID(w http.ResponseWriter, r *http.Request) {
	rec, ok := s.actions.get(r.PathValue("id"))
	if !ok {
		writeError(w, http.StatusNotFound, "no action "+r.PathValue("id"))
		return
	}
	writeJSON(w, http.StatusOK, rec)
}

func (s *Server) event(e protocol.Event) {
	e.Time = time.Now().UTC()
	s.emit(e)
}

func (s *Server) auditAction(rec ActionRecord) {
	if s.opts.Audit == nil {
		return
	}
	b, err := json.Marshal(map[string]any{"time": time.Now().UTC(), "kind": "action", "id": rec.ID, "agent": rec.Request.Agent,
		"action": rec.Request.Action, "data": rec.Request.Data, "filter": rec.Request.Filter, "state": rec.State, "ok": rec.OK, "error": rec.Error})
	if err == nil {
		_, _ = s.opts.Audit.Write(append(b, '\n'))
	}
}

func newActionID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
