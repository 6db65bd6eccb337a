package api

import (
	"encoding/json"
	"time"

	"github.com/pulseops/pulse/internal/filter"
	"github.com/pulseops/pulse/internal/protocol"
)

// Remediation is one remediation record (GET /api/v1/remediations): what
// triggered it, what it did and how it went. The remediation engine keeps
// its records in this type, so what it serves is what it holds.
type Remediation struct {
	ID      string            `json:"id"`
	Rule    string            `json:"rule"`
	Alert   AlertRef          `json:"alert"`
	Action  RemediationAction `json:"action"`
	Targets []string          `json:"targets,omitempty"`
	State   RemediationState  `json:"state"`
	// VerifyCheck is the check re-run to verify the fix ("" for none).
	VerifyCheck string       `json:"verify_check,omitempty"`
	Results     []NodeResult `json:"results,omitempty"`
	// Verification holds the replies of the verify check.
	Verification []NodeResult `json:"verification,omitempty"`
	Verified     bool         `json:"verified"`
	Created      time.Time    `json:"created"`
	Started      time.Time    `json:"started,omitzero"`
	Finished     time.Time    `json:"finished,omitzero"`
	Error        string       `json:"error,omitempty"`
	ApprovedBy   string       `json:"approved_by,omitempty"`
	RejectedBy   string       `json:"rejected_by,omitempty"`
	// Reason and Detail say why a record is deferred or skipped (or what
	// a dry run would have done).
	Reason Reason `json:"reason,omitempty"`
	Detail string `json:"detail,omitempty"`
	// Decided is when the engine last decided on the record: a deferred
	// one is decided again whenever its guard may have lifted, a skipped
	// one whenever Alertmanager sends its alert again.
	Decided time.Time `json:"decided,omitzero"`
	// Retry is when a deferred record is decided again at the latest; zero
	// when it waits for a running remediation to end.
	Retry time.Time `json:"retry,omitzero"`
}

// RemediationAction is what a remediation asks the fleet to do.
type RemediationAction struct {
	Agent      string         `json:"agent"`
	Action     string         `json:"action"`
	Data       map[string]any `json:"data,omitempty"`
	Filter     filter.Spec    `json:"filter"`
	Batch      int            `json:"batch,omitempty"`
	BatchSleep time.Duration  `json:"batch_sleep,omitempty"`
}

// NodeResult is one node's answer to a remediation's action.
type NodeResult struct {
	Identity string          `json:"identity"`
	Status   protocol.Status `json:"statuscode"`
	Message  string          `json:"message,omitempty"`
	Data     json.RawMessage `json:"data,omitempty"`
	// NoReply is a node that never answered: the action did not reach it.
	NoReply bool `json:"no_reply,omitempty"`
}

// AlertRef is the part of an alert a remediation record keeps.
type AlertRef struct {
	Name        string            `json:"name"`
	Fingerprint string            `json:"fingerprint"`
	Labels      map[string]string `json:"labels"`
	StartsAt    time.Time         `json:"startsAt"`
}

// RemediationState is where a remediation record is in its life.
type RemediationState string

// Record states. Deferred, pending and running are live; the others are
// final.
const (
	// StateDeferred is a decision a guard put off until it lifts by itself
	// (concurrency in a group, a cooldown, the hourly budget, a running
	// remediation of the same alert); it is decided again then, while its
	// alert still fires.
	StateDeferred    RemediationState = "deferred"
	StatePending     RemediationState = "pending"
	StateRunning     RemediationState = "running"
	StateSucceeded   RemediationState = "succeeded"
	StateFailed      RemediationState = "failed"
	StateIneffective RemediationState = "ineffective"
	StateDryRun      RemediationState = "dry_run"
	StateRejected    RemediationState = "rejected"
	// StateSkipped is an alert a rule matched but a guard refused for good:
	// an unknown node, a value the agent would refuse, an open circuit...
	StateSkipped RemediationState = "skipped"
)

// Live reports whether a record in state s may still change.
func (s RemediationState) Live() bool {
	return s == StatePending || s == StateRunning || s == StateDeferred
}

// Decision is what the remediation engine decided for one alert of a
// webhook (the answer to POST /api/v1/alerts).
type Decision struct {
	Alert       string   `json:"alert"`
	Fingerprint string   `json:"fingerprint"`
	Rule        string   `json:"rule,omitempty"`
	Outcome     Outcome  `json:"outcome"`
	Reason      Reason   `json:"reason,omitempty"`
	Detail      string   `json:"detail,omitempty"`
	RecordID    string   `json:"record_id,omitempty"`
	Targets     []string `json:"targets,omitempty"`
}

// Outcome says whether the engine acted on an alert.
type Outcome string

// Outcomes of a decision.
const (
	Acted    Outcome = "acted"
	Skipped  Outcome = "skipped"
	Deferred Outcome = "deferred"
)

// Reason says why an alert was skipped or deferred.
type Reason string

// Reasons for skipping an alert.
const (
	ReasonResolved        Reason = "resolved"
	ReasonNoRule          Reason = "no_matching_rule"
	ReasonDuplicate       Reason = "duplicate"
	ReasonCircuitOpen     Reason = "circuit_open"
	ReasonNoTarget        Reason = "no_target"
	ReasonInvalidValue    Reason = "invalid_value"
	ReasonTooManyTargets  Reason = "too_many_targets"
	ReasonCooldown        Reason = "cooldown"
	ReasonBudget          Reason = "budget"
	ReasonPendingApproval Reason = "pending_approval"
	ReasonDryRun          Reason = "dry_run"
	ReasonUnknownNode     Reason = "unknown_node"
	ReasonNodeDown        Reason = "node_down"
	ReasonRecovered       Reason = "recovered"
	ReasonExpired         Reason = "expired"
)
