package nodeagent

import (
	"encoding/json"
	"io"
	"sync"
	"time"

	"github.com/pulseops/pulse/internal/protocol"
)

// Audit writes one JSON line per request that reached an action: allowed,
// refused or failed. A nil *Audit writes nothing.
type Audit struct {
	mu sync.Mutex
	w  io.Writer
}

// NewAudit writes audit records to w.
func NewAudit(w io.Writer) *Audit { return &Audit{w: w} }

// AuditRecord is one line of the audit log.
type AuditRecord struct {
	Time        time.Time       `json:"time"`
	Identity    string          `json:"identity"`
	RequestID   string          `json:"request_id"`
	Caller      string          `json:"caller"`
	Fingerprint string          `json:"key_fingerprint,omitempty"`
	Agent       string          `json:"agent"`
	Action      string          `json:"action"`
	Data        json.RawMessage `json:"data,omitempty"`
	Status      protocol.Status `json:"status"`
	Message     string          `json:"message"`
	Duration    float64         `json:"duration"`
	// Suppressed is the number of refusals like this one (same reason, and
	// same request when it verified) left out of the log since the last
	// line for them: a flood is counted, not written.
	Suppressed int `json:"suppressed,omitempty"`
}

// Write records one request's outcome.
func (a *Audit) Write(identity string, req *protocol.Request, status protocol.Status, msg string, d time.Duration) {
	a.write(identity, req, status, msg, d, 0)
}

func (a *Audit) write(identity string, req *protocol.Request, status protocol.Status, msg string, d time.Duration, suppressed int) {
	if a == nil || a.w == nil {
		return
	}
	rec := AuditRecord{
		Time: time.Now().UTC(), Identity: identity, RequestID: req.ID, Caller: req.Caller,
		Agent: req.Agent, Action: req.Action, Data: req.Data, Status: status, Message: msg,
		Duration: d.Seconds(), Suppressed: suppressed,
	}
	if req.PublicKey != "" {
		rec.Fingerprint = protocol.Fingerprint(req.PublicKey)
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	_, _ = a.w.Write(append(b, '\n'))
}
