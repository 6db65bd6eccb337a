package protocol

import (
	"crypto/ed25519"
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// The per-message costs on the fan-out path: an agent opens a request and
// decodes it, and seals a reply; the client opens and decodes the reply.

var (
	benchReq = Request{ID: "8d0f6a3c2b1e4f5a9c7d6e5f4a3b2c1d", Caller: "user=ops", Subject: "pulse.pulse.agent.rpcutil",
		Time:        time.Date(2026, 11, 25, 11, 0, 0, 123456789, time.UTC),
		Deadline:    time.Date(2026, 11, 25, 11, 0, 2, 123456789, time.UTC),
		RequestBody: RequestBody{Collective: "pulse", Agent: "rpcutil", Action: "ping"}}
	benchRep = Reply{RequestID: benchReq.ID, Identity: "ip-10-0-1-17",
		ReplyBody: ReplyBody{Agent: "rpcutil", Action: "ping", Status: OK, StatusMsg: "OK", Data: json.RawMessage(`{"pong":1764068400}`)},
		Time:      time.Date(2026, 11, 25, 11, 0, 0, 223456789, time.UTC)}
)

// Each body benchmark runs the fast path and, as its baseline in the same
// run, encoding/json alone.

func BenchmarkRequestDecode(b *testing.B) {
	msg, _ := json.Marshal(benchReq.RequestBody)
	benchDecode[RequestBody](b, msg)
}

func BenchmarkReplyDecode(b *testing.B) {
	msg, _ := json.Marshal(benchRep.ReplyBody)
	benchDecode[ReplyBody](b, msg)
}

func benchDecode[T any](b *testing.B, msg []byte) {
	for _, c := range []struct {
		name   string
		decode func([]byte, any) error
	}{{"fast", decodeBody}, {"encoding_json", json.Unmarshal}} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(msg)))
			for b.Loop() {
				var v T
				if err := c.decode(msg, &v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkReplyEncode(b *testing.B) {
	fast := func(r *ReplyBody) ([]byte, error) {
		out, _ := appendReplyBody(nil, r)
		return out, nil
	}
	marshal := func(r *ReplyBody) ([]byte, error) { return json.Marshal(*r) }
	for _, c := range []struct {
		name   string
		encode func(*ReplyBody) ([]byte, error)
	}{{"fast", fast}, {"encoding_json", marshal}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := c.encode(&benchRep.ReplyBody); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkOpen is what reading an envelope costs before any signature is
// checked: the JSON envelope pulse uses, and as the alternative that was
// measured against it, the same fields as NATS headers, which nats.go
// decodes on the connection's one reading goroutine for every message.
func BenchmarkOpen(b *testing.B) {
	s, err := GenerateSigner()
	if err != nil {
		b.Fatal(err)
	}
	msg, err := EncodeReply(&benchRep, s)
	if err != nil {
		b.Fatal(err)
	}
	env, _ := Open(msg)
	hdr := []byte("NATS/1.0\r\nPulse-Version: 1\r\nPulse-Kind: reply\r\nPulse-From: " + env.From + "\r\nPulse-Id: " + env.ID +
		"\r\nPulse-Time: " + env.Time.Format(time.RFC3339Nano) + "\r\nPulse-Signer: " + env.Signer + "\r\nPulse-Sig: " + env.Signature + "\r\n\r\n")
	b.Run("envelope", func(b *testing.B) {
		b.SetBytes(int64(len(msg)))
		for b.Loop() {
			if _, err := Open(msg); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("nats_headers", func(b *testing.B) {
		b.SetBytes(int64(len(hdr) + len(env.Body)))
		for b.Loop() {
			h, err := nats.DecodeHeadersMsg(hdr)
			if err != nil || h.Get("Pulse-Kind") != "reply" {
				b.Fatal(err)
			}
			if _, err := time.Parse(time.RFC3339Nano, h.Get("Pulse-Time")); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkSignReply is what signing adds per reply on an agent: the
// envelope with the signature against the same envelope unsigned.
func BenchmarkSignReply(b *testing.B) {
	s, err := GenerateSigner()
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		s    *Signer
	}{{"signed", s}, {"unsigned", nil}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := EncodeReply(&benchRep, c.s); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkVerifyReply and BenchmarkVerifyRequest are what checking one
// signed message costs: opening the envelope and verifying its signature.
// Their ed25519 sub-benchmark is one bare ed25519.Verify over the same
// bytes in the same run, what verification cannot cost less than.
func BenchmarkVerifyReply(b *testing.B) {
	benchVerify(b, func(s *Signer) ([]byte, error) { return EncodeReply(&benchRep, s) })
}

func BenchmarkVerifyRequest(b *testing.B) {
	benchVerify(b, func(s *Signer) ([]byte, error) { return EncodeRequest(&benchReq, s) })
}

func benchVerify(b *testing.B, encode func(*Signer) ([]byte, error)) {
	s, err := GenerateSigner()
	if err != nil {
		b.Fatal(err)
	}
	msg, err := encode(s)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("envelope", func(b *testing.B) {
		for b.Loop() {
			env, err := Open(msg)
			if err != nil {
				b.Fatal(err)
			}
			if err := env.Verify(); err != nil {
				b.Fatal(err)
			}
		}
	})
	env, _ := Open(msg)
	pub := s.priv.Public().(ed25519.PublicKey)
	sig := ed25519.Sign(s.priv, env.signed)
	b.Run("ed25519", func(b *testing.B) {
		for b.Loop() {
			if !ed25519.Verify(pub, env.signed, sig) {
				b.Fatal("bad signature")
			}
		}
	})
}
