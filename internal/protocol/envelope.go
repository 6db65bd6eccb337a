package protocol

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Every message pulse puts on the bus is an envelope, one JSON object:
//
//	{"pulse":1,"kind":"request","from":"user=alice","id":"8d0f…","time":"2026-11-25T11:00:00.1Z",
//	 "deadline":"2026-11-25T11:00:05.1Z","targets":["web-01"],"body":{"collective":"pulse",…},
//	 "signer":"3q2+7w…","sig":"…"}
//
// "pulse", the protocol version, comes first, so a reader knows how to read
// the rest before it reads it. "signer" and "sig" come last, and the
// signature covers every byte before them exactly as received: version, kind,
// the binding fields and the body. Verifying is one ed25519 verification over
// a slice of the message; nothing is re-encoded, and the body is decoded only
// after it verified.
//
// The envelope is closed: a field this version does not define is refused,
// because an older reader that skipped a new binding field would run what the
// field forbids. A new envelope field is a new version. The body is open:
// readers ignore body fields they do not know, so a newer peer's message
// verifies (the bytes are signed, not a struct) and decodes on an older one.

// Version is the protocol version this code writes and reads.
const Version = 1

// Kind names what an envelope carries.
type Kind string

// The kinds of protocol version 1.
const (
	KindRequest      Kind = "request"
	KindReply        Kind = "reply"
	KindRegistration Kind = "registration"
	KindResult       Kind = "result"
	KindEvent        Kind = "event"
	// KindChange is a node's change event (change.go), KindRollout a
	// rollout's record.
	KindChange  Kind = "change"
	KindRollout Kind = "rollout"
)

// Envelope is one message as it travels: the fields its signature binds and
// its body as raw bytes.
type Envelope struct {
	Version int
	Kind    Kind
	// From names the sender: the caller of a request, the node of a reply,
	// registration or result.
	From string
	// ID is a request's id, or the id of the request a reply answers.
	ID string
	// Time is the sender's clock when it made the message (for a result,
	// when the run started).
	Time time.Time
	// Boot and Seq order a node's registrations and results (Stream).
	Boot string
	Seq  uint64
	// Deadline, Subject, Targets and Filter bind a request to when and where
	// it may run (Request).
	Deadline time.Time
	Subject  string
	Targets  []string
	Filter   json.RawMessage
	// JWT is a request's caller's NATS user JWT, when the caller has one:
	// it names the caller and its groups and says which issuer vouches for
	// the key that signed the request (security.Issuers).
	JWT string
	// Body is the message body as received: a JSON object.
	Body json.RawMessage
	// Signer is the base64 ed25519 key that signed the message and
	// Signature the base64 signature; both empty when it is not signed.
	Signer    string
	Signature string

	signed []byte // the bytes the signature covers
}

// The reasons a message is refused before or while it is read, as metrics
// label them and logs name them.
const (
	ReasonOversized   = "oversized"   // larger than MaxMessageSize
	ReasonUnversioned = "unversioned" // pulse's old format, from before the envelope
	ReasonVersion     = "version"     // a protocol version this code does not read
	ReasonEnvelope    = "envelope"    // not a well-formed envelope of this version
	ReasonKind        = "kind"        // not the kind expected on this subject
	ReasonDecode      = "decode"      // the body does not decode (after verifying)
)

// WireError is a message that could not be read, with the reason it is
// counted under.
type WireError struct {
	Reason string
	Err    error
}

func (e *WireError) Error() string { return e.Err.Error() }
func (e *WireError) Unwrap() error { return e.Err }

func wireErr(reason, format string, args ...any) error {
	return &WireError{Reason: reason, Err: fmt.Errorf(format, args...)}
}

// ErrorReason returns the reason of a WireError in err's chain, or
// "invalid" for any other error.
func ErrorReason(err error) string {
	var we *WireError
	if errors.As(err, &we) {
		return we.Reason
	}
	return "invalid"
}

// ErrUnversioned is wrapped by the error for a message in the format pulse
// used before protocol version 1.
var ErrUnversioned = errors.New("message has no protocol version")

// ErrUnsigned is returned by Verify for a message that carries no signature.
var ErrUnsigned = errors.New("message is not signed")

// ErrBadSignature is wrapped when a signature does not match its message.
var ErrBadSignature = errors.New("signature does not match the message")

// Known envelope keys, as bits, so that a repeated key is refused: a
// reader that verified one copy and used another would be fooled.
const (
	eKind = 1 << iota
	eFrom
	eID
	eTime
	eBoot
	eSeq
	eDeadline
	eSubject
	eTargets
	eFilter
	eJWT
	eBody
	eSigner
	eSig
)

// Open reads an envelope of data without decoding its body or checking its
// signature. Body, Filter and the signed bytes are slices of data, which
// the caller must not change while it uses the envelope.
func Open(data []byte) (*Envelope, error) {
	if len(data) > MaxMessageSize {
		return nil, wireErr(ReasonOversized, "message of %d bytes exceeds the %d byte limit", len(data), MaxMessageSize)
	}
	s := scanner{b: data}
	if !s.next('{') {
		return nil, notEnvelope(data)
	}
	if key, ok := s.rawStr(); !ok || string(key) != `"pulse"` || !s.next(':') {
		return nil, notEnvelope(data)
	}
	v, ok := s.int()
	if !ok {
		return nil, wireErr(ReasonEnvelope, `envelope's "pulse" field is not a protocol version number`)
	}
	if v != Version {
		return nil, wireErr(ReasonVersion, "message of protocol version %d: this pulse reads version %d only; upgrade the reader or downgrade the sender", v, Version)
	}
	e := &Envelope{Version: Version}
	seen, signedEnd := 0, -1
	for {
		if s.next('}') {
			break
		}
		s.space()
		comma := s.i
		if !s.next(',') {
			return nil, wireErr(ReasonEnvelope, "envelope is not a JSON object at byte %d", s.i)
		}
		k, ok := s.rawStr()
		if !ok || !s.next(':') {
			return nil, wireErr(ReasonEnvelope, "envelope has a bad key at byte %d", comma+1)
		}
		key := k[1 : len(k)-1]
		bit, ok := e.field(&s, key)
		if bit == 0 {
			return nil, wireErr(ReasonEnvelope, "envelope field %q is not part of protocol version %d", key, Version)
		}
		if !ok {
			return nil, wireErr(ReasonEnvelope, "envelope field %q has a bad value", key)
		}
		if seen&bit != 0 {
			return nil, wireErr(ReasonEnvelope, "envelope field %q appears twice", key)
		}
		seen |= bit
		switch {
		case bit == eSigner || bit == eSig:
			if signedEnd < 0 {
				signedEnd = comma
			}
		case signedEnd >= 0:
			return nil, wireErr(ReasonEnvelope, "envelope field %q comes after the signature; nothing may", key)
		}
	}
	if !s.end() {
		return nil, wireErr(ReasonEnvelope, "envelope is followed by %d more bytes", len(data)-s.i)
	}
	if (e.Signer == "") != (e.Signature == "") {
		return nil, wireErr(ReasonEnvelope, "envelope has a signer without a signature or a signature without a signer")
	}
	if e.Signer != "" {
		e.signed = data[:signedEnd]
	}
	if err := e.check(); err != nil {
		return nil, &WireError{Reason: ReasonEnvelope, Err: err}
	}
	return e, nil
}

// field reads the value of one envelope key into e; it returns the key's bit
// (0 for a key this version does not define) and whether the value was good.
func (e *Envelope) field(s *scanner, key []byte) (int, bool) {
	switch string(key) {
	case "kind":
		v, ok := s.rawStr()
		e.Kind = kindOf(v)
		return eKind, ok
	case "from":
		return eFrom, s.anyStr(&e.From)
	case "id":
		return eID, s.anyStr(&e.ID)
	case "time":
		return eTime, s.time(&e.Time)
	case "boot":
		return eBoot, s.anyStr(&e.Boot)
	case "seq":
		n, ok := s.int()
		e.Seq = uint64(n)
		return eSeq, ok && n > 0
	case "deadline":
		return eDeadline, s.time(&e.Deadline)
	case "subject":
		return eSubject, s.anyStr(&e.Subject)
	case "targets":
		return eTargets, s.strings(&e.Targets)
	case "filter":
		v, ok := s.skipObject()
		e.Filter = v
		return eFilter, ok
	case "jwt":
		return eJWT, s.str(&e.JWT) && e.JWT != ""
	case "body":
		v, ok := s.skipObject()
		e.Body = v
		return eBody, ok
	case "signer":
		return eSigner, s.str(&e.Signer) && e.Signer != ""
	case "sig":
		return eSig, s.str(&e.Signature) && e.Signature != ""
	}
	return 0, false
}

// kindOf returns the Kind of a quoted kind name without allocating for the
// kinds this version knows.
func kindOf(quoted []byte) Kind {
	if len(quoted) < 2 {
		return ""
	}
	name := quoted[1 : len(quoted)-1]
	for _, k := range []Kind{KindRequest, KindReply, KindRegistration, KindResult, KindEvent, KindChange, KindRollout} {
		if string(name) == string(k) {
			return k
		}
	}
	return Kind(name)
}

// check says whether e has what its kind needs and nothing another kind
// would carry, so that no field is silently ignored.
func (e *Envelope) check() error {
	switch {
	case e.Kind == "":
		return errors.New("envelope names no kind")
	case e.From == "":
		return fmt.Errorf("%s envelope names no sender (from)", e.Kind)
	case !ValidToken(e.From):
		// The sender is a token of the subjects the message travels on
		// (a request's caller names its replies' subject).
		return fmt.Errorf("%s envelope's sender %q cannot be a subject token (no dots, spaces or wildcards)", e.Kind, e.From)
	case e.Time.IsZero():
		return fmt.Errorf("%s envelope from %s has no time", e.Kind, e.From)
	case e.Body == nil:
		return fmt.Errorf("%s envelope from %s has no body", e.Kind, e.From)
	}
	request := e.Kind == KindRequest
	stream := e.Kind == KindRegistration || e.Kind == KindResult || e.Kind == KindChange
	var stray string
	switch e.Kind {
	case KindRequest:
		switch {
		case !ValidToken(e.ID):
			return fmt.Errorf("request from %s has no id, or one that cannot be a subject token", e.From)
		case e.Deadline.IsZero():
			return fmt.Errorf("request %s from %s has no deadline", e.ID, e.From)
		case (e.Subject == "") == (len(e.Targets) == 0):
			return fmt.Errorf("request %s from %s must name either the subject it was broadcast on or its targets, and not both", e.ID, e.From)
		case len(e.Filter) > 0 && e.Subject == "":
			return fmt.Errorf("request %s from %s names its targets and a filter; only a broadcast has a filter", e.ID, e.From)
		}
	case KindReply:
		if e.ID == "" {
			return fmt.Errorf("reply from %s names no request id", e.From)
		}
	case KindRegistration, KindResult, KindChange:
		if e.Boot == "" || e.Seq == 0 {
			return fmt.Errorf("%s from %s has no boot and sequence", e.Kind, e.From)
		}
	case KindEvent, KindRollout:
	default:
		return fmt.Errorf("kind %q is not one protocol version %d knows", e.Kind, Version)
	}
	switch {
	case e.ID != "" && e.Kind != KindRequest && e.Kind != KindReply:
		stray = "id"
	case !stream && (e.Boot != "" || e.Seq != 0):
		stray = "boot/seq"
	case !request && !e.Deadline.IsZero():
		stray = "deadline"
	case !request && (e.Subject != "" || e.Targets != nil || e.Filter != nil || e.JWT != ""):
		stray = "subject/targets/filter/jwt"
	}
	if stray != "" {
		return fmt.Errorf("%s envelope from %s carries %s, which only other kinds have", e.Kind, e.From, stray)
	}
	return nil
}

// notEnvelope explains data that does not start as a version 1 envelope:
// pulse's old format (a JSON object without "pulse"), or anything else.
func notEnvelope(data []byte) error {
	var obj map[string]json.RawMessage
	if json.Unmarshal(data, &obj) == nil {
		if _, ok := obj["pulse"]; ok {
			return wireErr(ReasonEnvelope, `envelope's first field must be "pulse", the protocol version`)
		}
		return &WireError{Reason: ReasonUnversioned, Err: fmt.Errorf(
			`%w (no "pulse" field): it is in the format of pulse before protocol version %d; upgrade the sender`, ErrUnversioned, Version)}
	}
	return wireErr(ReasonEnvelope, "message of %d bytes is not a pulse envelope (a JSON object starting with \"pulse\")", len(data))
}

// Signed reports whether the envelope carries a signature.
func (e *Envelope) Signed() bool { return e.Signature != "" }

// Verify checks the signature against the envelope's own signer key. Whether
// that key may speak for From is for the caller to decide (security.Trust,
// security.NodeKeys).
func (e *Envelope) Verify() error {
	if !e.Signed() {
		return ErrUnsigned
	}
	// Decode writes up to DecodedLen(len(src)) bytes whatever the input
	// turns out to hold, so a longer field than a key or a signature
	// encodes to must be refused before it overruns the arrays.
	var pub [ed25519.PublicKeySize + 3]byte
	if len(e.Signer) != base64.StdEncoding.EncodedLen(ed25519.PublicKeySize) {
		return errors.New("signer key is not a base64 ed25519 key")
	}
	if n, err := base64.StdEncoding.Decode(pub[:], []byte(e.Signer)); err != nil || n != ed25519.PublicKeySize {
		return errors.New("signer key is not a base64 ed25519 key")
	}
	var sig [ed25519.SignatureSize + 3]byte
	if len(e.Signature) != base64.StdEncoding.EncodedLen(ed25519.SignatureSize) {
		return errors.New("signature is not a base64 ed25519 signature")
	}
	if n, err := base64.StdEncoding.Decode(sig[:], []byte(e.Signature)); err != nil || n != ed25519.SignatureSize {
		return errors.New("signature is not a base64 ed25519 signature")
	}
	if !ed25519.Verify(pub[:ed25519.PublicKeySize], e.signed, sig[:ed25519.SignatureSize]) {
		return ErrBadSignature
	}
	return nil
}

// seal writes e with the body body appends and signs it with s when s is
// not nil. It refuses what Open would refuse, so pulse never sends a
// message its peers drop.
func seal(e *Envelope, s *Signer, body func([]byte) ([]byte, error)) ([]byte, error) {
	e.Version = Version
	e.Body = json.RawMessage("{}") // check only asks that a body is there
	if err := e.check(); err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	if !sealable(e.Time) || !sealable(e.Deadline) {
		return nil, fmt.Errorf("seal %s: time %s or deadline %s is outside the years 0-9999", e.Kind, e.Time, e.Deadline)
	}
	b := make([]byte, 0, 256+len(e.Filter)+16*len(e.Targets)+len(e.JWT))
	b = append(b, `{"pulse":`...)
	b = strconv.AppendInt(b, Version, 10)
	b = append(b, `,"kind":`...)
	b = appendString(b, string(e.Kind))
	b = append(b, `,"from":`...)
	b = appendString(b, e.From)
	if e.ID != "" {
		b = append(b, `,"id":`...)
		b = appendString(b, e.ID)
	}
	b = appendTime(append(b, `,"time":`...), e.Time)
	if e.Boot != "" {
		b = append(b, `,"boot":`...)
		b = appendString(b, e.Boot)
	}
	if e.Seq != 0 {
		b = strconv.AppendUint(append(b, `,"seq":`...), e.Seq, 10)
	}
	if !e.Deadline.IsZero() {
		b = appendTime(append(b, `,"deadline":`...), e.Deadline)
	}
	if e.Subject != "" {
		b = append(b, `,"subject":`...)
		b = appendString(b, e.Subject)
	}
	if len(e.Targets) > 0 {
		b = append(b, `,"targets":[`...)
		for i, t := range e.Targets {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, t)
		}
		b = append(b, ']')
	}
	if len(e.Filter) > 0 {
		var err error
		if b, err = appendCompact(append(b, `,"filter":`...), e.Filter); err != nil {
			return nil, fmt.Errorf("seal %s: filter: %w", e.Kind, err)
		}
	}
	if e.JWT != "" {
		b = append(b, `,"jwt":`...)
		b = appendString(b, e.JWT)
	}
	b = append(b, `,"body":`...)
	start := len(b)
	b, err := body(b)
	if err != nil {
		return nil, fmt.Errorf("encode %s body: %w", e.Kind, err)
	}
	e.Body = b[start:]
	return finish(b, s)
}

// sealable reports whether t can be written as JSON: a zero time, or a
// year from 0 to 9999.
func sealable(t time.Time) bool {
	y := t.UTC().Year()
	return y >= 0 && y <= 9999
}

// finish signs b, an envelope up to the end of its body, with s unless s is
// nil, and closes it.
func finish(b []byte, s *Signer) ([]byte, error) {
	if s != nil {
		sig := ed25519.Sign(s.priv, b)
		b = append(b, `,"signer":"`...)
		b = append(b, s.pub...)
		b = append(b, `","sig":"`...)
		b = base64.StdEncoding.AppendEncode(b, sig)
		b = append(b, '"')
	}
	b = append(b, '}')
	if len(b) > MaxMessageSize {
		return nil, fmt.Errorf("message of %d bytes is larger than the %d byte limit", len(b), MaxMessageSize)
	}
	return b, nil
}

// appendString writes s as json.Marshal does.
func appendString(b []byte, s string) []byte {
	if plain(s) {
		b = append(b, '"')
		b = append(b, s...)
		return append(b, '"')
	}
	q, _ := json.Marshal(s) // a string always encodes
	return append(b, q...)
}

// appendTime writes t in UTC as json.Marshal writes a time.Time.
func appendTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.UTC().AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

// appendCompact writes the JSON value raw as json.Marshal writes a
// json.RawMessage.
func appendCompact(b []byte, raw []byte) ([]byte, error) {
	if compactASCII(raw) {
		return append(b, raw...), nil
	}
	v, err := json.Marshal(json.RawMessage(raw))
	if err != nil {
		return nil, err
	}
	return append(b, v...), nil
}
