package protocol

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Each message is written with Encode<Kind> and read in three steps, so
// nothing unverified is decoded:
//
//	env, err := protocol.Open(data) // size, version, the envelope's fields
//	err = verify(env)               // the signature, and whether its key may speak for env.From
//	req, err := env.Request()       // the body, and the envelope's fields into the message

// EncodeRequest writes r as a request envelope, signed by s unless s is nil.
func EncodeRequest(r *Request, s *Signer) ([]byte, error) {
	e := Envelope{Kind: KindRequest, From: r.Caller, ID: r.ID, Time: r.Time, Deadline: r.Deadline, Subject: r.Subject, Targets: r.Targets, JWT: r.JWT}
	if !r.Filter.Empty() {
		f, err := json.Marshal(r.Filter)
		if err != nil {
			return nil, fmt.Errorf("encode request filter: %w", err)
		}
		e.Filter = f
	}
	return seal(&e, s, func(b []byte) ([]byte, error) {
		if out, ok := appendRequestBody(b, &r.RequestBody); ok {
			return out, nil
		}
		return appendJSON(b, &r.RequestBody)
	})
}

// EncodeReply writes r as a reply envelope, signed by s unless s is nil.
// Every agent writes one per request, so it writes the envelope directly,
// with seal's result (TestEveryFieldSurvivesTheWire checks both) and a
// shallow stack.
func EncodeReply(r *Reply, s *Signer) ([]byte, error) {
	// 160 bytes of names and punctuation, the values, a signature's 153.
	n := 160 + len(r.Identity) + len(r.RequestID) + len(r.Agent) + len(r.Action) + len(r.StatusMsg) + len(r.Data)
	if s != nil {
		n += 153
	}
	return AppendReply(make([]byte, 0, n), r, s)
}

// AppendReply is EncodeReply writing over dst, in its capacity while it
// fits: an agent hands each reply to its connection, which copies it, so
// one buffer serves reply after reply.
func AppendReply(dst []byte, r *Reply, s *Signer) ([]byte, error) {
	if r.Identity == "" || r.RequestID == "" || r.Time.IsZero() || !sealable(r.Time) {
		return badReply(r)
	}
	b := append(dst[:0], `{"pulse":1,"kind":"reply","from":`...)
	b = appendString(b, r.Identity)
	b = append(b, `,"id":`...)
	b = appendString(b, r.RequestID)
	b = appendTime(append(b, `,"time":`...), r.Time)
	b = append(b, `,"body":`...)
	if out, ok := appendReplyBody(b, &r.ReplyBody); ok {
		b = out
	} else if b, ok = appendJSONBody(b, r.ReplyBody); !ok {
		return badReply(r)
	}
	return finish(b, s)
}

// badReply is EncodeReply's error, from seal: a frame of its own, off the
// path every reply takes.
//
//go:noinline
func badReply(r *Reply) ([]byte, error) {
	// A copy of the body, so that r itself does not escape: a reply the
	// caller keeps on its stack stays there.
	body := r.ReplyBody
	e := Envelope{Kind: KindReply, From: r.Identity, ID: r.RequestID, Time: r.Time}
	return seal(&e, nil, func(b []byte) ([]byte, error) { return appendJSON(b, &body) })
}

// appendJSONBody takes the body by value so that AppendReply's reply does
// not escape.
//
//go:noinline
func appendJSONBody(b []byte, body ReplyBody) ([]byte, bool) {
	out, err := appendJSON(b, &body)
	return out, err == nil
}

// EncodeRegistration writes r as a registration envelope, signed by s
// unless s is nil.
func EncodeRegistration(r *Registration, s *Signer) ([]byte, error) {
	e := Envelope{Kind: KindRegistration, From: r.Identity, Time: r.Time, Boot: r.Boot, Seq: r.Seq}
	return seal(&e, s, func(b []byte) ([]byte, error) { return appendJSON(b, &r.RegistrationBody) })
}

// EncodeResult writes r as a result envelope, signed by s unless s is nil.
func EncodeResult(r *Result, s *Signer) ([]byte, error) {
	e := Envelope{Kind: KindResult, From: r.Identity, Time: r.Time, Boot: r.Boot, Seq: r.Seq}
	return seal(&e, s, func(b []byte) ([]byte, error) { return appendJSON(b, &r.ResultBody) })
}

// EncodeEvent writes ev as an event envelope from the collector named from.
// Events are derived state and travel unsigned.
func EncodeEvent(ev *Event, from string) ([]byte, error) {
	e := Envelope{Kind: KindEvent, From: from, Time: ev.Time}
	return seal(&e, nil, func(b []byte) ([]byte, error) { return appendJSON(b, ev) })
}

func appendJSON(b []byte, v any) ([]byte, error) {
	out, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append(b, out...), nil
}

// Request decodes a request envelope's body and binding fields. Call it
// after the envelope verified.
func (e *Envelope) Request() (*Request, error) {
	if err := e.want(KindRequest); err != nil {
		return nil, err
	}
	r := &Request{ID: e.ID, Caller: e.From, Time: e.Time, Deadline: e.Deadline, Subject: e.Subject, Targets: e.Targets, PublicKey: e.Signer, JWT: e.JWT}
	// An empty filter is the common case (ping, directed requests) and
	// needs no decoding.
	if len(e.Filter) > 0 && !isEmptyObject(e.Filter) {
		if err := json.Unmarshal(e.Filter, &r.Filter); err != nil {
			return nil, e.decodeErr(fmt.Errorf("filter: %w", err))
		}
	}
	if err := decodeBody(e.Body, &r.RequestBody); err != nil {
		return nil, e.decodeErr(err)
	}
	return r, nil
}

// Reply decodes a reply envelope.
func (e *Envelope) Reply() (*Reply, error) {
	r := new(Reply)
	if err := e.DecodeReply(r); err != nil {
		return nil, err
	}
	return r, nil
}

// DecodeReply is Reply decoding into r, for a client that keeps the reply
// inside a larger value of its own, one allocation per reply.
func (e *Envelope) DecodeReply(r *Reply) error {
	if err := e.want(KindReply); err != nil {
		return err
	}
	*r = Reply{RequestID: e.ID, Identity: e.From, Time: e.Time, PublicKey: e.Signer}
	if err := decodeBody(e.Body, &r.ReplyBody); err != nil {
		return e.decodeErr(err)
	}
	return nil
}

// Registration decodes a registration envelope.
func (e *Envelope) Registration() (*Registration, error) {
	if err := e.want(KindRegistration); err != nil {
		return nil, err
	}
	r := &Registration{Identity: e.From, Time: e.Time, Stream: Stream{Boot: e.Boot, Seq: e.Seq}}
	if err := decodeBody(e.Body, &r.RegistrationBody); err != nil {
		return nil, e.decodeErr(err)
	}
	return r, nil
}

// Result decodes a result envelope.
func (e *Envelope) Result() (*Result, error) {
	if err := e.want(KindResult); err != nil {
		return nil, err
	}
	r := &Result{Identity: e.From, Time: e.Time, Stream: Stream{Boot: e.Boot, Seq: e.Seq}}
	if err := decodeBody(e.Body, &r.ResultBody); err != nil {
		return nil, e.decodeErr(err)
	}
	return r, nil
}

// Event decodes an event envelope.
func (e *Envelope) Event() (*Event, error) {
	if err := e.want(KindEvent); err != nil {
		return nil, err
	}
	var ev Event
	if err := decodeBody(e.Body, &ev); err != nil {
		return nil, e.decodeErr(err)
	}
	return &ev, nil
}

// decodeBody reads a body into v: requests and replies in the form pulse
// writes take the fast path, everything else encoding/json, with the same
// result either way.
func decodeBody(b []byte, v any) error {
	switch v := v.(type) {
	case *RequestBody:
		if decodeRequestBody(b, v) {
			return nil
		}
		*v = RequestBody{}
	case *ReplyBody:
		if decodeReplyBody(b, v) {
			return nil
		}
		*v = ReplyBody{}
	}
	return json.Unmarshal(b, v)
}

func (e *Envelope) want(k Kind) error {
	if e.Kind != k {
		return &WireError{Reason: ReasonKind, Err: fmt.Errorf("expected a %s but %s sent a %s", k, e.From, e.Kind)}
	}
	return nil
}

func (e *Envelope) decodeErr(err error) error {
	return &WireError{Reason: ReasonDecode, Err: fmt.Errorf("%s from %s: body does not decode: %w", e.Kind, e.From, err)}
}

// Decode parses a JSON document into v after checking its size: for JSON
// that does not travel in an envelope, such as the collector's websocket
// events.
func Decode(b []byte, v any) error {
	if len(b) > MaxMessageSize {
		return fmt.Errorf("message of %d bytes exceeds the %d byte limit", len(b), MaxMessageSize)
	}
	if len(b) == 0 {
		return errors.New("empty message")
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("decode %T: %w", v, err)
	}
	return nil
}
