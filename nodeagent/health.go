package nodeagent

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/pulseops/pulse/internal/protocol"
	"github.com/pulseops/pulse/nodeagent/actions"
)

// jobState is what the agent knows of one scheduled job: its latest
// outcome, and a way to ask for a run now. The health agent reads and
// kicks it; the job's own loop (schedule) writes it.
type jobState struct {
	name, kind string
	// kick asks the job's loop for a run now; one pending kick is enough,
	// since the run it starts begins after every kick before it.
	kick chan struct{}

	mu   sync.Mutex
	last *JobResult
	// ran is closed, and replaced, after every run, to wake waiters.
	ran chan struct{}
}

func newJobState(j Job) *jobState {
	return &jobState{name: j.Name, kind: j.Kind, kick: make(chan struct{}, 1), ran: make(chan struct{})}
}

// record stores a run's outcome and wakes whoever waits for one.
func (s *jobState) record(r JobResult) {
	s.mu.Lock()
	s.last = &r
	close(s.ran)
	s.ran = make(chan struct{})
	s.mu.Unlock()
}

// latest is the last outcome (nil before the first run) and the channel
// closed at the next.
func (s *jobState) latest() (*JobResult, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last, s.ran
}

// JobResult is one scheduled check's or probe's latest run, as the health
// agent reports it. The JSON field names are a contract with rollouts.
type JobResult struct {
	Name   string `json:"name"`
	Kind   string `json:"kind"`
	Status int    `json:"status"`
	State  string `json:"state"`
	Output string `json:"output"`
	// Time is when the run started, on this node's clock.
	Time time.Time `json:"time"`
	// Pending is set when no run has started since the time asked about
	// (and Time, Status and Output are the run before, if any).
	Pending bool `json:"pending,omitempty"`
}

// HealthReply is the data of health#status and health#rerun.
type HealthReply struct {
	Checks []JobResult `json:"checks"`
	Probes []JobResult `json:"probes"`
}

// HealthRerun is the data of health#rerun: every scheduled check and probe
// runs now, and the reply waits (up to Wait) for a run of each that
// started at or after Since, on this node's clock (default: now).
type HealthRerun struct {
	Since time.Time `json:"since,omitzero"`
	Wait  string    `json:"wait,omitempty"`
}

// maxRerunWait bounds how long health#rerun holds an action slot.
const maxRerunWait = 5 * time.Minute

// health is the built-in agent that tells what the node's own scheduled
// checks and probes say: their latest results (status), or fresh ones
// (rerun). A rollout asks it after each step: the evidence is the node's
// own, judged by the checks and probes its owners configured. A rerun's
// results are published as every scheduled run's are.
type health struct{ a *Agent }

func (h *health) Name() string { return "health" }

func (h *health) Actions() []string { return []string{"rerun", "status"} }

func (h *health) Call(ctx context.Context, req actions.Request) actions.Result {
	switch req.Action {
	case "status":
		if len(bytes.TrimSpace(req.Data)) > 0 && !bytes.Equal(bytes.TrimSpace(req.Data), []byte("{}")) {
			return actions.Fail(protocol.InvalidData, "health.status takes no data")
		}
		return actions.OK(h.reply(time.Time{}))
	case "rerun":
		return h.rerun(ctx, req)
	}
	return actions.Fail(protocol.UnknownAction, "unknown action health#"+req.Action+"; actions are rerun, status")
}

func (h *health) rerun(ctx context.Context, req actions.Request) actions.Result {
	var in HealthRerun
	if d := bytes.TrimSpace(req.Data); len(d) > 0 {
		dec := json.NewDecoder(bytes.NewReader(d))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&in); err != nil {
			return actions.Fail(protocol.InvalidData, `health.rerun data must be {"since": RFC 3339 time, "wait": duration}: `+err.Error())
		}
	}
	wait := 30 * time.Second
	if in.Wait != "" {
		d, err := time.ParseDuration(in.Wait)
		if err != nil || d <= 0 || d > maxRerunWait {
			return actions.Fail(protocol.InvalidData, fmt.Sprintf("health.rerun wait %q must be a duration between 0 and %s", in.Wait, maxRerunWait))
		}
		wait = d
	}
	since := in.Since
	if now := h.a.opts.Now(); since.IsZero() || since.After(now) {
		since = now
	}
	for _, j := range h.a.jobs {
		select {
		case j.kick <- struct{}{}:
		default: // a kick is already pending
		}
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	for _, j := range h.a.jobs {
		for {
			last, ran := j.latest()
			if last != nil && !last.Time.Before(since) {
				break
			}
			select {
			case <-ran:
				continue
			case <-ctx.Done():
			}
			break
		}
	}
	return actions.OK(h.reply(since))
}

// reply lists every job's latest result, marking those that have not run
// since since (zero: any run will do).
func (h *health) reply(since time.Time) HealthReply {
	r := HealthReply{Checks: []JobResult{}, Probes: []JobResult{}}
	for _, j := range h.a.jobs {
		res := JobResult{Name: j.name, Kind: j.kind, Status: protocol.StateUnknown, State: "UNKNOWN", Pending: true}
		if last, _ := j.latest(); last != nil {
			res = *last
			res.Pending = last.Time.Before(since)
		}
		if j.kind == "probe" {
			r.Probes = append(r.Probes, res)
		} else {
			r.Checks = append(r.Checks, res)
		}
	}
	return r
}
