package remediation

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/pulseops/pulse/internal/protocol"
)

// Deferred decisions. A guard that lifts by itself — a group's share under
// remediation, a cooldown, the hourly budget, the alert's own remediation
// still running — defers a decision instead of dropping it: the record
// waits as "deferred" and is decided again when the guard may have lifted,
// for as long as its alert fires, so a node is repaired as soon as the
// rules allow and never waits for Alertmanager to resend. The deferred
// records are bounded: at most MaxDeferred (the oldest is dropped first)
// and none older than DeferFor, each drop counted.

// deferDecision parks a candidate a guard refused for now, or keeps
// parked the record decided again. Lock must be held.
func (e *Engine) deferDecision(c *candidate, d Decision, r *refusal, parked *Record) verdict {
	d.Outcome = Deferred
	var out verdict
	rec := parked
	if rec == nil {
		if len(e.parked) >= e.maxDeferred {
			// The cap: the oldest deferred decision goes first.
			oldest := e.store.get(e.parked[0])
			out = e.expire(oldest, "cap", fmt.Sprintf("dropped: %d decisions were deferred, the most the engine keeps; the oldest goes first", len(e.parked)))
		}
		rec = e.newRecord(c)
		rec.State = StateDeferred
		e.store.add(rec)
		e.parked = append(e.parked, rec.ID)
		e.parkedBy[rec.Alert.Fingerprint] = rec.ID
		e.metrics.deferred.WithLabelValues(d.Rule, string(d.Reason)).Inc()
		// The retry loop may be asleep until a later deferral is due.
		e.wakeUp()
	} else {
		e.fill(rec, c)
	}
	if len(rec.Targets) == 0 {
		// Deferred before the targets were resolved (a duplicate): show
		// the nodes the alert names, as far as they render.
		if spec, _, err := c.rule.target(c.alert); err == nil && len(spec.Fact) == 0 {
			rec.Targets = spec.Identity
		}
	}
	changed := parked == nil || rec.Reason != d.Reason
	rec.Reason, rec.Detail, rec.Retry = d.Reason, d.Detail, r.retry
	e.alerts[rec.ID] = c.alert
	d.RecordID = rec.ID
	out.d = d
	if changed {
		cp := cloneRecord(rec)
		out.record = &cp
		out.events = append(out.events, e.event(rec, fmt.Sprintf("remediation %s (%s) deferred for %s: %s: %s", rec.ID, rec.Rule, rec.Alert.Name, d.Reason, d.Detail)))
	}
	e.metrics.parked.Set(float64(len(e.parked)))
	return out
}

// unpark takes rec off the deferred list. Lock must be held.
func (e *Engine) unpark(rec *Record) {
	if i := slices.Index(e.parked, rec.ID); i >= 0 {
		e.parked = slices.Delete(e.parked, i, i+1)
	}
	if e.parkedBy[rec.Alert.Fingerprint] == rec.ID {
		delete(e.parkedBy, rec.Alert.Fingerprint)
	}
	delete(e.alerts, rec.ID)
	e.metrics.parked.Set(float64(len(e.parked)))
}

// parkedFor returns the deferred record of the alert with fingerprint fp.
// Lock must be held.
func (e *Engine) parkedFor(fp string) *Record {
	if id, ok := e.parkedBy[fp]; ok {
		return e.store.get(id)
	}
	return nil
}

// expire drops a deferred record for cause ("cap" or "max_age"): it ends
// skipped, with the reason expired. Lock must be held.
func (e *Engine) expire(rec *Record, cause, detail string) verdict {
	e.unpark(rec)
	now := e.now()
	rec.State, rec.Reason, rec.Detail, rec.Finished, rec.Decided, rec.Retry = StateSkipped, ReasonExpired, detail, now, now, time.Time{}
	e.store.skips[rec.Alert.Fingerprint] = rec.ID
	e.metrics.dropped.WithLabelValues(rec.Rule, cause).Inc()
	e.metrics.skipped.WithLabelValues(rec.Rule, string(ReasonExpired)).Inc()
	cp := cloneRecord(rec)
	d := Decision{Alert: rec.Alert.Name, Fingerprint: rec.Alert.Fingerprint, Rule: rec.Rule, Outcome: Skipped, Reason: ReasonExpired, Detail: detail, RecordID: rec.ID}
	return verdict{d: d, record: &cp, events: []protocol.Event{e.event(rec, fmt.Sprintf("remediation %s (%s) for %s %s", rec.ID, rec.Rule, rec.Alert.Name, detail))}}
}

// Retry decides again every deferred decision whose guard may have lifted,
// oldest first, so the order in which alerts came is the order in which
// the guards let them through; it drops those deferred longer than
// DeferFor. It returns when the next one is due (zero when none waits for
// a time). The engine calls it by itself while running: when a
// remediation ends and when a deferral's time comes.
func (e *Engine) Retry(ctx context.Context) time.Time {
	e.mu.Lock()
	now := e.now()
	var vs []verdict
	for _, id := range slices.Clone(e.parked) {
		rec := e.store.get(id)
		if rec == nil || rec.State != StateDeferred {
			continue // decided since the list was copied
		}
		if rec.Retry.IsZero() || !now.Before(rec.Retry) {
			vs = append(vs, e.decide(e.alerts[id], rec))
		}
		if rec.State == StateDeferred && now.Sub(rec.Created) >= e.deferFor {
			vs = append(vs, e.expire(rec, "max_age", fmt.Sprintf("dropped: deferred for %s, longer than the %s a decision may wait", now.Sub(rec.Created).Round(time.Second), e.deferFor)))
		}
	}
	next := e.nextRetry()
	e.mu.Unlock()
	e.conclude(ctx, vs)
	return next
}

// nextRetry is when the earliest deferred record is due: its retry time, or
// when it expires. Lock must be held.
func (e *Engine) nextRetry() time.Time {
	var next time.Time
	for _, id := range e.parked {
		rec := e.store.get(id)
		if rec == nil {
			continue
		}
		due := rec.Created.Add(e.deferFor)
		if !rec.Retry.IsZero() && rec.Retry.Before(due) {
			due = rec.Retry
		}
		if next.IsZero() || due.Before(next) {
			next = due
		}
	}
	return next
}

// wakeUp asks the retry loop to decide the deferred records again soon;
// it never blocks.
func (e *Engine) wakeUp() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// retryLoop decides deferred records again when woken (a remediation
// ended) or when the next one is due, until ctx ends.
func (e *Engine) retryLoop(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		next := e.Retry(ctx)
		wait := time.Hour
		if !next.IsZero() {
			// The engine's clock says when; the timer counts real time.
			wait = max(next.Sub(e.now()), 10*time.Millisecond)
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-e.wake:
		case <-timer.C:
		}
	}
}
