package remediation

import (
	"fmt"

	"github.com/pulseops/pulse/internal/protocol"
)

// What humans decide: approving or rejecting a remediation that waits for
// approval, and closing a circuit breaker once the cause is fixed.

// Approve starts a pending remediation on behalf of by.
func (e *Engine) Approve(id, by string) error {
	e.mu.Lock()
	rec, err := e.pending(id)
	if err != nil {
		e.mu.Unlock()
		return err
	}
	r := e.rules.Rule(rec.Rule)
	if r == nil {
		e.mu.Unlock()
		return fmt.Errorf("%w: approve remediation %s: its rule %q is not among the loaded rules; reject it", ErrNotPending, id, rec.Rule)
	}
	if e.open[rec.Rule] {
		e.mu.Unlock()
		return fmt.Errorf("approve remediation %s: circuit breaker for rule %s is open; reset it or reject the remediation", id, rec.Rule)
	}
	rec.State = StateRunning
	rec.ApprovedBy = by
	rec.Started = e.now()
	run := pendingRun{id: id, rule: r, act: rec.Action, check: rec.VerifyCheck}
	ev := e.event(rec, fmt.Sprintf("remediation %s (%s) approved by %s", id, rec.Rule, by))
	e.mu.Unlock()
	e.emit([]protocol.Event{ev})
	e.start(run)
	return nil
}

// Reject closes a pending remediation without running it.
func (e *Engine) Reject(id, by string) error {
	e.mu.Lock()
	rec, err := e.pending(id)
	if err != nil {
		e.mu.Unlock()
		return err
	}
	rec.State = StateRejected
	rec.RejectedBy = by
	rec.Finished = e.now()
	e.release(rec)
	e.metrics.total.WithLabelValues(rec.Rule, string(StateRejected)).Inc()
	ev := e.event(rec, fmt.Sprintf("remediation %s (%s) rejected by %s", id, rec.Rule, by))
	c := cloneRecord(rec)
	e.mu.Unlock()
	e.writeAudit("record", c)
	e.emit([]protocol.Event{ev})
	return nil
}

// pending returns the pending record id. Lock must be held.
func (e *Engine) pending(id string) (*Record, error) {
	rec := e.store.get(id)
	if rec == nil {
		return nil, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	if rec.State != StatePending {
		return nil, fmt.Errorf("%w: %s is %s", ErrNotPending, id, rec.State)
	}
	return rec, nil
}

// ResetCircuit closes the circuit breaker of rule, after a human has fixed
// whatever made its remediations fail.
func (e *Engine) ResetCircuit(rule string) {
	e.mu.Lock()
	wasOpen := e.open[rule]
	delete(e.open, rule)
	delete(e.failures, rule)
	e.metrics.circuit.WithLabelValues(rule).Set(0)
	e.mu.Unlock()
	if wasOpen {
		e.log.Info("circuit breaker reset", "rule", rule)
		e.emit([]protocol.Event{{Type: protocol.EventRemediation, Time: e.now(), Message: fmt.Sprintf("circuit breaker for rule %s reset", rule)}})
	}
}

// CircuitOpen reports whether the circuit breaker of rule is open.
func (e *Engine) CircuitOpen(rule string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.open[rule]
}
