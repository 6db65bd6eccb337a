package api

import (
	"time"

	"github.com/pulseops/pulse/internal/filter"
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
	// Batch and Limit are a number N or a string "N" or "N%".
	Batch rpc.Count `json:"batch,omitzero"`
	Limit rpc.Count `json:"limit,omitzero"`
	// BatchSleep and Timeout are durations such as "1s".
	BatchSleep Duration `json:"batch_sleep,omitempty"`
	Timeout    Duration `json:"timeout,omitempty"`
	// Async answers 202 with the action's id at once; poll
	// GET /api/v1/actions/{id} for the result.
	Async bool `json:"async,omitempty"`
	// CommittedAt, for a change, is when it was committed: the collector
	// derives lead time for changes from it (pulse_lead_time_seconds).
	CommittedAt time.Time `json:"committed_at,omitzero"`
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
