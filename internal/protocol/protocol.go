// Package protocol defines pulse's wire types (requests, replies,
// registrations, check results, events), the NATS subjects they travel on,
// their JSON codec and their ed25519 signatures. It holds no behaviour beyond
// encoding, decoding and verifying; it never talks to the network.
package protocol

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/pulseops/pulse/internal/filter"
)

// MaxMessageSize bounds every message pulse decodes from the bus; larger
// messages are dropped before parsing.
const MaxMessageSize = 1 << 20

// Status is an MCollective RPC reply status code.
type Status int

// The reply status codes, as in MCollective RPC plus Unauthorized.
const (
	OK            Status = 0
	Aborted       Status = 1
	UnknownAction Status = 2
	MissingData   Status = 3
	InvalidData   Status = 4
	UnknownError  Status = 5
	Unauthorized  Status = 6
)

var statusNames = [...]string{"OK", "Aborted", "Unknown action", "Missing data", "Invalid data", "Unknown error", "Unauthorized"}

func (s Status) String() string {
	if s >= 0 && int(s) < len(statusNames) {
		return statusNames[s]
	}
	return fmt.Sprintf("status %d", int(s))
}

// Request asks every agent that matches Filter (or the one node it is sent
// to directly) to run Agent.Action with Data.
type Request struct {
	ID         string          `json:"id"`
	Collective string          `json:"collective"`
	Agent      string          `json:"agent"`
	Action     string          `json:"action"`
	Data       json.RawMessage `json:"data,omitempty"`
	Filter     filter.Spec     `json:"filter"`
	Caller     string          `json:"caller"`
	// Time is when the request was created; with TTL it bounds how long the
	// request may be acted on.
	Time time.Time `json:"time"`
	// TTL in seconds.
	TTL int `json:"ttl"`
	// PublicKey is the signer's ed25519 public key (base64) and Signature the
	// signature over Canonical() (base64).
	PublicKey string `json:"pubkey,omitempty"`
	Signature string `json:"signature,omitempty"`
}

// Reply is one node's answer to a request.
type Reply struct {
	RequestID string          `json:"request_id"`
	Identity  string          `json:"identity"`
	Agent     string          `json:"agent"`
	Action    string          `json:"action"`
	Status    Status          `json:"statuscode"`
	StatusMsg string          `json:"statusmsg"`
	Data      json.RawMessage `json:"data,omitempty"`
	Time      time.Time       `json:"time"`
	PublicKey string          `json:"pubkey,omitempty"`
	Signature string          `json:"signature,omitempty"`
}

// Registration is a node's heartbeat: who it is and what it knows of itself.
type Registration struct {
	Identity   string         `json:"identity"`
	Collective string         `json:"collective"`
	Facts      map[string]any `json:"facts"`
	Classes    []string       `json:"classes,omitempty"`
	Agents     []string       `json:"agents"`
	Version    string         `json:"version"`
	// Started is when the agent started; Interval is the heartbeat period in
	// seconds, so the collector can tell a late node from a dead one.
	Started   time.Time `json:"started"`
	Interval  float64   `json:"interval"`
	Time      time.Time `json:"time"`
	PublicKey string    `json:"pubkey,omitempty"`
	Signature string    `json:"signature,omitempty"`
}

// Decode parses a JSON message into v after checking its size. Unknown fields
// are allowed so that newer agents can talk to older collectors. Requests and
// replies in pulse's own form take a fast path (fastjson.go) with the same
// result.
func Decode(b []byte, v any) error {
	if len(b) > MaxMessageSize {
		return fmt.Errorf("message of %d bytes exceeds the %d byte limit", len(b), MaxMessageSize)
	}
	if len(b) == 0 {
		return errors.New("empty message")
	}
	switch v := v.(type) {
	case *Request:
		if decodeRequest(b, v) {
			return nil
		}
	case *Reply:
		if decodeReply(b, v) {
			return nil
		}
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("decode %T: %w", v, err)
	}
	return nil
}

// EncodeReply writes r as json.Marshal does, faster for the replies pulse
// sends.
func EncodeReply(r *Reply) ([]byte, error) {
	if b, ok := encodeReply(r); ok {
		return b, nil
	}
	return json.Marshal(r)
}

// Validate checks the fields every request must have.
func (r *Request) Validate() error {
	switch {
	case r.ID == "":
		return errors.New("request has no id")
	case r.Agent == "":
		return errors.New("request has no agent")
	case r.Action == "":
		return errors.New("request has no action")
	case r.Time.IsZero():
		return errors.New("request has no time")
	case r.TTL <= 0:
		return errors.New("request has no ttl")
	}
	return nil
}

// Expired reports whether the request is older than its TTL at now, or from
// further in the future than skew allows.
func (r *Request) Expired(now time.Time, skew time.Duration) error {
	age := now.Sub(r.Time)
	if age > time.Duration(r.TTL)*time.Second {
		return fmt.Errorf("request %s expired: created %s ago with a ttl of %ds", r.ID, age.Round(time.Millisecond), r.TTL)
	}
	if -age > skew {
		return fmt.Errorf("request %s is from %s in the future (allowed skew %s)", r.ID, (-age).Round(time.Millisecond), skew)
	}
	return nil
}
