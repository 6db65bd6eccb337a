package protocol

import (
	"encoding/json"
	"testing"
	"time"
)

// The per-message costs on the fan-out path: an agent decodes a request and
// encodes a reply; the client decodes the reply.

var (
	benchReq = Request{ID: "8d0f6a3c2b1e4f5a9c7d6e5f4a3b2c1d", Collective: "pulse", Agent: "rpcutil", Action: "ping",
		Caller: "user=ops", Time: time.Date(2026, 11, 25, 11, 0, 0, 123456789, time.UTC), TTL: 60}
	benchRep = Reply{RequestID: benchReq.ID, Identity: "ip-10-0-1-17", Agent: "rpcutil", Action: "ping", Status: OK, StatusMsg: "OK",
		Data: json.RawMessage(`{"pong":1764068400}`), Time: time.Date(2026, 11, 25, 11, 0, 0, 223456789, time.UTC)}
)

// Each runs the fast path and, as its baseline in the same run,
// encoding/json alone.

func BenchmarkRequestDecode(b *testing.B) {
	msg, _ := json.Marshal(benchReq)
	benchDecode[Request](b, msg)
}

func BenchmarkReplyDecode(b *testing.B) {
	msg, _ := json.Marshal(benchRep)
	benchDecode[Reply](b, msg)
}

func benchDecode[T any](b *testing.B, msg []byte) {
	for _, c := range []struct {
		name   string
		decode func([]byte, any) error
	}{{"fast", Decode}, {"encoding_json", json.Unmarshal}} {
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
	// By value, as the agent called json.Marshal before the fast path.
	marshal := func(r *Reply) ([]byte, error) { return json.Marshal(*r) }
	for _, c := range []struct {
		name   string
		encode func(*Reply) ([]byte, error)
	}{{"fast", EncodeReply}, {"encoding_json", marshal}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := c.encode(&benchRep); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSignReply and BenchmarkVerifyReply are what signing adds per
// reply: the agent signs it, the client verifies it (and each agent verifies
// the request once, as VerifyReply costs).
func BenchmarkSignReply(b *testing.B) {
	s, err := GenerateSigner()
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		r := benchRep
		if err := s.SignReply(&r); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyReply(b *testing.B) {
	s, err := GenerateSigner()
	if err != nil {
		b.Fatal(err)
	}
	r := benchRep
	if err := s.SignReply(&r); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := VerifyReply(&r); err != nil {
			b.Fatal(err)
		}
	}
}
