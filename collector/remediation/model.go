package remediation

import (
	"maps"
	"slices"

	"github.com/pulseops/pulse/collector/api"
)

// The engine's records are the ones its HTTP API serves, defined in
// collector/api so the CLI reads them without linking the engine (or the
// Prometheus client). The names below are the engine's words for them.
type (
	// Record is one remediation: what triggered it, what it did and how
	// it went.
	Record = api.Remediation
	// Action is what a remediation asks the Executor to do.
	Action = api.RemediationAction
	// NodeResult is one node's answer to an Action.
	NodeResult = api.NodeResult
	// AlertRef is the part of an alert a record keeps.
	AlertRef = api.AlertRef
	// State is where a record is in its life.
	State = api.RemediationState
	// Decision is what the engine decided for one alert of a webhook.
	Decision = api.Decision
	// Outcome says whether the engine acted on an alert.
	Outcome = api.Outcome
	// Reason says why an alert was skipped.
	Reason = api.Reason
)

// Record states. Pending and running are live; the others are final.
const (
	StateDeferred    = api.StateDeferred
	StatePending     = api.StatePending
	StateRunning     = api.StateRunning
	StateSucceeded   = api.StateSucceeded
	StateFailed      = api.StateFailed
	StateIneffective = api.StateIneffective
	StateDryRun      = api.StateDryRun
	StateRejected    = api.StateRejected
	StateSkipped     = api.StateSkipped
)

// Outcomes of a decision.
const (
	Acted    = api.Acted
	Skipped  = api.Skipped
	Deferred = api.Deferred
)

// Reasons for skipping or deferring an alert.
const (
	ReasonResolved        = api.ReasonResolved
	ReasonNoRule          = api.ReasonNoRule
	ReasonDuplicate       = api.ReasonDuplicate
	ReasonCircuitOpen     = api.ReasonCircuitOpen
	ReasonNoTarget        = api.ReasonNoTarget
	ReasonInvalidValue    = api.ReasonInvalidValue
	ReasonTooManyTargets  = api.ReasonTooManyTargets
	ReasonCooldown        = api.ReasonCooldown
	ReasonBudget          = api.ReasonBudget
	ReasonPendingApproval = api.ReasonPendingApproval
	ReasonDryRun          = api.ReasonDryRun
	ReasonUnknownNode     = api.ReasonUnknownNode
	ReasonNodeDown        = api.ReasonNodeDown
	ReasonRecovered       = api.ReasonRecovered
	ReasonExpired         = api.ReasonExpired
)

// cloneRecord copies r deeply enough that the copy can leave the engine's
// lock.
func cloneRecord(r *Record) Record {
	c := *r
	c.Alert.Labels = maps.Clone(r.Alert.Labels)
	c.Action.Data = maps.Clone(r.Action.Data)
	c.Targets = slices.Clone(r.Targets)
	c.Results = slices.Clone(r.Results)
	c.Verification = slices.Clone(r.Verification)
	return c
}
