package api

import (
	"time"

	"github.com/pulseops/pulse/internal/filter"
)

// Rollout is one rollout's record (GET /api/v1/rollouts): what it was asked
// to do, by whom, each step with the evidence it was judged by, and where
// every node stands. Whoever runs the rollout (the CLI or the collector)
// publishes it on the bus each time it moves.
type Rollout struct {
	ID      string      `json:"id"`
	Package string      `json:"package"`
	Version string      `json:"version"`
	Filter  filter.Spec `json:"filter"`
	// StartedBy is the caller that started it ("user=alice", "collector");
	// Via how: "cli" or "api".
	StartedBy string       `json:"started_by"`
	Via       string       `json:"via"`
	State     RolloutState `json:"state"`
	// Reason says why a rollout that did not succeed stopped: which step,
	// which gate, on which nodes.
	Reason   string    `json:"reason,omitempty"`
	Rollback bool      `json:"rollback"`
	Started  time.Time `json:"started"`
	Updated  time.Time `json:"updated"`
	Finished time.Time `json:"finished,omitzero"`
	// CommittedAt is when the change was committed, when the caller said.
	CommittedAt time.Time `json:"committed_at,omitzero"`
	// Canary and Batch are the step sizes asked for ("1", "25%").
	Canary string        `json:"canary"`
	Batch  string        `json:"batch"`
	Gates  []GateSpec    `json:"gates,omitempty"`
	Steps  []RolloutStep `json:"steps"`
	Nodes  []RolloutNode `json:"nodes"`
}

// RolloutState is where a rollout is in its life.
type RolloutState string

// Rollout states; only running is live.
const (
	RolloutRunning        RolloutState = "running"
	RolloutSucceeded      RolloutState = "succeeded"
	RolloutHalted         RolloutState = "halted"
	RolloutRolledBack     RolloutState = "rolled_back"
	RolloutRollbackFailed RolloutState = "rollback_failed"
)

// RolloutStep is one step: the canary or a batch.
type RolloutStep struct {
	Name     string    `json:"name"`
	Nodes    []string  `json:"nodes"`
	State    StepState `json:"state"`
	Started  time.Time `json:"started,omitzero"`
	Finished time.Time `json:"finished,omitzero"`
	// Evidence is what each changed node's own checks and probes said
	// after the change.
	Evidence []NodeEvidence `json:"evidence,omitempty"`
	Gates    []GateRun      `json:"gates,omitempty"`
	// Failures are every reason the step failed, one per node and gate.
	Failures []StepFailure `json:"failures,omitempty"`
}

// StepState is where a step is.
type StepState string

// Step states.
const (
	StepPending StepState = "pending"
	StepRunning StepState = "running"
	StepPassed  StepState = "passed"
	StepFailed  StepState = "failed"
)

// StepFailure is one reason a step failed: the gate ("install",
// "checks", "probes" or a PromQL gate's name), the node (none for a PromQL
// gate, which judges the step's nodes together) and what was seen.
type StepFailure struct {
	Gate    string `json:"gate"`
	Node    string `json:"node,omitempty"`
	Message string `json:"message"`
}

// NodeEvidence is one node's checks and probes after the change.
type NodeEvidence struct {
	Identity string      `json:"identity"`
	Checks   []JobResult `json:"checks"`
	Probes   []JobResult `json:"probes"`
	Error    string      `json:"error,omitempty"`
}

// JobResult is one check's or probe's run as the node reported it.
type JobResult struct {
	Name    string    `json:"name"`
	State   string    `json:"state"`
	Output  string    `json:"output"`
	Time    time.Time `json:"time"`
	Pending bool      `json:"pending,omitempty"`
}

// GateSpec is a PromQL gate as configured: Query may hold {{nodes}} (the
// nodes changed so far, as a regular expression), {{step_nodes}},
// {{package}} and {{version}}; Success is "result OP NUMBER".
type GateSpec struct {
	Name         string   `json:"name"`
	Query        string   `json:"query"`
	Success      string   `json:"success"`
	FailureLimit int      `json:"failure_limit"`
	Count        int      `json:"count"`
	Interval     Duration `json:"interval"`
	InitialDelay Duration `json:"initial_delay,omitzero"`
}

// GateRun is one gate's analysis in one step: every measurement, and the
// verdict.
type GateRun struct {
	Name         string        `json:"name"`
	Query        string        `json:"query"`
	Success      string        `json:"success"`
	State        StepState     `json:"state"`
	Reason       string        `json:"reason,omitempty"`
	Measurements []Measurement `json:"measurements"`
}

// Measurement is one evaluation of a gate's query.
type Measurement struct {
	Time    time.Time     `json:"time"`
	Samples []GateSample  `json:"samples,omitempty"`
	Passed  bool          `json:"passed"`
	Error   string        `json:"error,omitempty"`
	Took    time.Duration `json:"took_ns"`
}

// GateSample is one sample of a measurement: its labels as PromQL prints
// them, and its value.
type GateSample struct {
	Labels string  `json:"labels"`
	Value  float64 `json:"value"`
}

// RolloutNode is one node of a rollout.
type RolloutNode struct {
	Identity string `json:"identity"`
	// Before is the version before the rollout ("absent" when the package
	// was not installed), After the version now, as last seen.
	Before string `json:"before"`
	After  string `json:"after"`
	// Step is the index of the node's step in Steps.
	Step    int       `json:"step"`
	State   NodeState `json:"state"`
	Message string    `json:"message,omitempty"`
}

// NodeState is where one node of a rollout stands.
type NodeState string

// Node states.
const (
	// NodePending: not changed yet; NodeSkipped: never changed, because
	// the rollout stopped before its step.
	NodePending NodeState = "pending"
	NodeSkipped NodeState = "skipped"
	// NodeChanged: at the new version. NodeUnchanged: was at it already.
	NodeChanged   NodeState = "changed"
	NodeUnchanged NodeState = "unchanged"
	// NodeFailed: the change itself failed; After says where it was left.
	NodeFailed NodeState = "failed"
	// NodeRolledBack: back at Before, verified. NodeRollbackFailed: the
	// rollback did not put it back; Message says why and After where it is.
	NodeRolledBack     NodeState = "rolled_back"
	NodeRollbackFailed NodeState = "rollback_failed"
)

// RolloutRequest is the body of POST /api/v1/rollouts: the rollout the CLI
// runs with `pulse rollout`, asked of the collector.
type RolloutRequest struct {
	Package string      `json:"package"`
	Version string      `json:"version"`
	Filter  filter.Spec `json:"filter"`
	Nodes   []string    `json:"nodes,omitempty"`
	// Canary is "N" or "N%" of the nodes ("1"; "0" for none), Batch the
	// size of the steps after it ("25%").
	Canary     string     `json:"canary,omitempty"`
	Batch      string     `json:"batch,omitempty"`
	BatchSleep Duration   `json:"batch_sleep,omitzero"`
	Gates      []GateSpec `json:"gates,omitempty"`
	// Rollback puts changed nodes back when a step fails (default true).
	Rollback *bool `json:"rollback,omitempty"`
	// EvidenceWait bounds how long a step waits for each node's checks and
	// probes to run after the change (30s).
	EvidenceWait Duration  `json:"evidence_wait,omitzero"`
	CommittedAt  time.Time `json:"committed_at,omitzero"`
	// Async answers 202 with the rollout's id at once.
	Async bool `json:"async,omitempty"`
}
