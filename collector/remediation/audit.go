package remediation

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/pulseops/pulse/internal/protocol"
)

// The engine tells humans what it decided and did three ways: events for
// the web view and pulse watch, log lines, and the audit log (one JSON line
// per decision and per record change).

// event describes rec for OnEvent. Copying the record is the costly part, so
// nothing is built when nobody listens.
func (e *Engine) event(rec *Record, msg string) protocol.Event {
	if e.onEvent == nil {
		return protocol.Event{}
	}
	ev := protocol.Event{Type: protocol.EventRemediation, Time: e.now(), Check: rec.Alert.Labels["check"], Message: msg, Data: cloneRecord(rec)}
	if len(rec.Targets) == 1 {
		ev.Identity = rec.Targets[0]
	}
	return ev
}

func (e *Engine) emit(evs []protocol.Event) {
	if e.onEvent == nil {
		return
	}
	for _, ev := range evs {
		e.onEvent(ev)
	}
}

func (e *Engine) logDecision(ctx context.Context, d Decision) {
	level := slog.LevelInfo
	switch d.Reason {
	case ReasonResolved, ReasonNoRule, ReasonDuplicate:
		level = slog.LevelDebug
	case ReasonNoTarget, ReasonInvalidValue, ReasonCircuitOpen, ReasonTooManyTargets:
		level = slog.LevelWarn
	}
	e.log.Log(ctx, level, "remediation decision", "alert", d.Alert, "fingerprint", d.Fingerprint,
		"rule", d.Rule, "outcome", d.Outcome, "reason", d.Reason, "detail", d.Detail, "record", d.RecordID)
}

type auditLine struct {
	Time time.Time `json:"time"`
	Kind string    `json:"kind"`
	Data any       `json:"data"`
}

func (e *Engine) writeAudit(kind string, v any) {
	if e.audit == nil {
		return
	}
	b, err := json.Marshal(auditLine{Time: e.now(), Kind: kind, Data: v})
	if err != nil {
		e.log.Error("encode audit line", "kind", kind, "err", err)
		return
	}
	e.auditMu.Lock()
	defer e.auditMu.Unlock()
	if _, err := e.audit.Write(append(b, '\n')); err != nil {
		e.log.Error("write audit line; the audit log is incomplete", "kind", kind, "err", err)
	}
}
