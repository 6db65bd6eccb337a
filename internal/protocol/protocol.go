// Package protocol defines pulse's wire: the versioned envelope every message
// travels in (envelope.go), the messages it carries (requests, replies,
// registrations, check results, events), the NATS subjects they travel on,
// their JSON codec and their ed25519 signatures. It holds no behaviour beyond
// encoding, decoding and verifying; it never talks to the network, and it
// leaves to its callers which keys to trust.
package protocol

import (
	"encoding/json"
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

// Request asks every agent that matches Filter (a broadcast on Subject) or
// the nodes named in Targets (a directed request) to run Agent.Action with
// Data. ID, Caller, Time, Deadline, Subject, Targets and Filter travel in the
// envelope and are signed with the body; see envelope.go.
type Request struct {
	ID     string
	Caller string
	// Time is when the request was made and Deadline when its client stops
	// waiting for replies; a node that receives it later refuses it.
	Time     time.Time
	Deadline time.Time
	// Subject is the broadcast subject the request was signed for; Targets
	// the identities of a directed request. Exactly one of them is set.
	Subject string
	Targets []string
	Filter  filter.Spec
	// PublicKey is the signer's ed25519 key (base64), set on a request read
	// from the bus when it was signed.
	PublicKey string
	// JWT is the caller's NATS user JWT, carried when the caller logs in
	// with issued credentials; its issuer vouches for PublicKey.
	JWT string
	// Principal is who the request comes from once its verifier vouched
	// for it (nil: not verified, or unsigned); policies match on it.
	Principal *Principal
	RequestBody
}

// Principal is a verified caller: the name it speaks for and the groups
// policies refer to, as the trusted-keys file or the caller's issuer said.
type Principal struct {
	Name        string
	Key         string
	Fingerprint string
	Groups      []string
}

// InGroup reports whether p belongs to group g.
func (p *Principal) InGroup(g string) bool {
	for _, x := range p.Groups {
		if x == g {
			return true
		}
	}
	return false
}

// RequestBody is a request's body on the wire.
type RequestBody struct {
	Collective string          `json:"collective"`
	Agent      string          `json:"agent"`
	Action     string          `json:"action"`
	Data       json.RawMessage `json:"data,omitempty"`
	// Origin says on whose behalf a changing request runs; the node copies
	// it into the change event it publishes (change.go).
	Origin *Origin `json:"origin,omitempty"`
}

// Reply is one node's answer to a request. RequestID, Identity and Time
// travel in the envelope; its JSON form is what `--json` prints.
type Reply struct {
	RequestID string `json:"request_id"`
	Identity  string `json:"identity"`
	ReplyBody
	Time time.Time `json:"time"`
	// PublicKey is the key that signed the reply, when it was signed.
	PublicKey string `json:"pubkey,omitempty"`
}

// ReplyBody is a reply's body on the wire.
type ReplyBody struct {
	Agent     string          `json:"agent"`
	Action    string          `json:"action"`
	Status    Status          `json:"statuscode"`
	StatusMsg string          `json:"statusmsg"`
	Data      json.RawMessage `json:"data,omitempty"`
}

// Registration is a node's heartbeat: who it is and what it knows of itself.
// Identity, Time, Boot and Seq travel in the envelope.
type Registration struct {
	Identity string `json:"identity"`
	RegistrationBody
	Time time.Time `json:"time"`
	Stream
}

// RegistrationBody is a registration's body on the wire.
type RegistrationBody struct {
	Collective string         `json:"collective"`
	Facts      map[string]any `json:"facts"`
	Classes    []string       `json:"classes,omitempty"`
	Agents     []string       `json:"agents"`
	Version    string         `json:"version"`
	// Started is when the agent started; Interval is the heartbeat period in
	// seconds, so the collector can tell a late node from a dead one.
	Started  time.Time `json:"started"`
	Interval float64   `json:"interval"`
	// Packages are the installed versions of the packages the node was
	// asked to watch ("absent" when one is not installed), so dashboards
	// and rollout gates can split what the node reports by version.
	Packages map[string]string `json:"packages,omitempty"`
}

// Stream places a registration or result among everything one run of an
// agent published: Boot is chosen at random when the agent starts and Seq
// grows by one with every message of that run.
type Stream struct {
	Boot string `json:"boot,omitempty"`
	Seq  uint64 `json:"seq,omitempty"`
}

// Validate checks the fields every request must have.
func (r *Request) Validate() error {
	switch {
	case r.Agent == "":
		return fmt.Errorf("request %s has no agent", r.ID)
	case r.Action == "":
		return fmt.Errorf("request %s has no action", r.ID)
	}
	return nil
}

// Expired reports whether the request's client had stopped waiting at now,
// or whether the request is dated further in the future than skew allows.
func (r *Request) Expired(now time.Time, skew time.Duration) error {
	if late := now.Sub(r.Deadline); late > 0 {
		return fmt.Errorf("request %s arrived %s after its deadline: its client had stopped waiting (sent %s ago)",
			r.ID, late.Round(time.Millisecond), now.Sub(r.Time).Round(time.Millisecond))
	}
	if ahead := r.Time.Sub(now); ahead > skew {
		return fmt.Errorf("request %s is from %s in the future (allowed skew %s): check the clocks of this node and of the caller", r.ID, ahead.Round(time.Millisecond), skew)
	}
	return nil
}
