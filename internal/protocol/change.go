package protocol

import (
	"encoding/json"
	"fmt"
	"time"
)

// The ways a change reaches a node, as Origin.Via names them.
const (
	ViaCLI         = "cli"
	ViaAPI         = "api"
	ViaRemediation = "remediation"
	ViaRollout     = "rollout"
	ViaRollback    = "rollback"
)

// ViaKnown reports whether v is one of the Via values above; anything else
// is counted as "other", so a caller cannot grow the metrics' label values.
func ViaKnown(v string) bool {
	switch v {
	case ViaCLI, ViaAPI, ViaRemediation, ViaRollout, ViaRollback:
		return true
	}
	return false
}

// Origin says on whose behalf a changing request runs: through which door
// it came (Via), the rollout, remediation or action it belongs to (ID) and,
// when the caller knows it, when the change was committed, from which the
// collector derives lead time. It travels in the request's signed body and
// the node copies it into its change event.
type Origin struct {
	Via         string    `json:"via"`
	ID          string    `json:"id,omitempty"`
	CommittedAt time.Time `json:"committed_at,omitzero"`
}

// Results of a change, as Change.Result names them.
const (
	ChangeOK        = "ok"
	ChangeFailed    = "failed"
	ChangeUnchanged = "unchanged"
)

// Change is one change pulse made to a node — a package installed, updated
// or removed, a service started, stopped, restarted or reloaded — as the
// node saw it, published by the node on Subjects.Changes after the action
// ran, whatever its result. Identity, Time (when the action ended), Boot
// and Seq travel in the envelope.
type Change struct {
	Identity string `json:"identity"`
	ChangeBody
	Time time.Time `json:"time"`
	Stream
}

// ChangeBody is a change's body on the wire.
type ChangeBody struct {
	// Kind is "package" or "service"; Action the agent's action.
	Kind   string `json:"kind"`
	Action string `json:"action"`
	// Name is the package or service; From and To its version (a
	// package's, "absent" when not installed) or state (a service's,
	// "running" or "stopped") before and after.
	Name   string `json:"name"`
	From   string `json:"from"`
	To     string `json:"to"`
	Result string `json:"result"`
	Error  string `json:"error,omitempty"`
	// Caller and Request say who asked, in which request; Origin why.
	Caller  string  `json:"caller"`
	Request string  `json:"request"`
	Origin  *Origin `json:"origin,omitempty"`
	// Duration is how long the action took, in seconds.
	Duration float64 `json:"duration"`
	// Started is when the agent started, and Counts the changes it made
	// since then by "kind/result", cumulative as probe counters are, so a
	// lost event or a collector restart never skews a rate.
	Started time.Time         `json:"started"`
	Counts  map[string]uint64 `json:"counts"`
}

// EncodeChange writes c as a change envelope, signed by s unless s is nil.
func EncodeChange(c *Change, s *Signer) ([]byte, error) {
	e := Envelope{Kind: KindChange, From: c.Identity, Time: c.Time, Boot: c.Boot, Seq: c.Seq}
	return seal(&e, s, func(b []byte) ([]byte, error) { return appendJSON(b, &c.ChangeBody) })
}

// Change decodes a change envelope.
func (e *Envelope) Change() (*Change, error) {
	if err := e.want(KindChange); err != nil {
		return nil, err
	}
	c := &Change{Identity: e.From, Time: e.Time, Stream: Stream{Boot: e.Boot, Seq: e.Seq}}
	if err := decodeBody(e.Body, &c.ChangeBody); err != nil {
		return nil, e.decodeErr(err)
	}
	return c, nil
}

// EncodeRollout writes a rollout's record (any JSON value) as a rollout
// envelope from whoever runs the rollout, at t, signed by s unless s is
// nil. A record supersedes the ones before it on its subject.
func EncodeRollout(from string, t time.Time, record any, s *Signer) ([]byte, error) {
	e := Envelope{Kind: KindRollout, From: from, Time: t}
	return seal(&e, s, func(b []byte) ([]byte, error) { return appendJSON(b, record) })
}

// Rollout decodes a rollout envelope's record into v.
func (e *Envelope) Rollout(v any) error {
	if err := e.want(KindRollout); err != nil {
		return err
	}
	if err := json.Unmarshal(e.Body, v); err != nil {
		return e.decodeErr(fmt.Errorf("rollout record: %w", err))
	}
	return nil
}
