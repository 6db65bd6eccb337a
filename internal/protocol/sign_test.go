package protocol_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/pulseops/pulse/internal/filter"
	"github.com/pulseops/pulse/internal/protocol"
)

func testRequest() *protocol.Request {
	return &protocol.Request{ID: "r1", Collective: "pulse", Agent: "service", Action: "restart",
		Data: json.RawMessage(`{"service":"nginx"}`), Filter: filter.Spec{Fact: []string{"role=web"}},
		Caller: "user=alice", Time: time.Unix(1700000000, 0).UTC(), TTL: 60}
}

// Every field of a signed request is covered by the signature: changing any
// one of them after signing must fail verification.
func TestSignRequestCoversEveryField(t *testing.T) {
	s, err := protocol.GenerateSigner()
	if err != nil {
		t.Fatal(err)
	}
	other, _ := protocol.GenerateSigner()
	for _, tc := range []struct {
		name string
		mut  func(r *protocol.Request)
	}{
		{"id", func(r *protocol.Request) { r.ID = "r2" }},
		{"collective", func(r *protocol.Request) { r.Collective = "other" }},
		{"agent", func(r *protocol.Request) { r.Agent = "package" }},
		{"action", func(r *protocol.Request) { r.Action = "stop" }},
		{"data", func(r *protocol.Request) { r.Data = json.RawMessage(`{"service":"sshd"}`) }},
		{"filter", func(r *protocol.Request) { r.Filter = filter.Spec{} }},
		{"caller", func(r *protocol.Request) { r.Caller = "user=bob" }},
		{"time", func(r *protocol.Request) { r.Time = r.Time.Add(time.Hour) }},
		{"ttl", func(r *protocol.Request) { r.TTL = 3600 }},
		{"key swapped", func(r *protocol.Request) { r.PublicKey = other.PublicKey() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := testRequest()
			if err := s.SignRequest(r); err != nil {
				t.Fatal(err)
			}
			if err := protocol.VerifyRequest(r); err != nil {
				t.Fatalf("genuine request: %v", err)
			}
			tc.mut(r)
			if err := protocol.VerifyRequest(r); err == nil || err.Error() != "signature does not match the message" {
				t.Fatalf("after changing %s: %v", tc.name, err)
			}
		})
	}
}

func TestVerifyErrors(t *testing.T) {
	r := testRequest()
	if err := protocol.VerifyRequest(r); !errors.Is(err, protocol.ErrUnsigned) {
		t.Fatalf("unsigned: %v", err)
	}
	r.PublicKey, r.Signature = "not-a-key", "c2ln"
	if err := protocol.VerifyRequest(r); err == nil || err.Error() != "signer public key is not a base64 ed25519 key" {
		t.Fatalf("bad key: %v", err)
	}
	s, _ := protocol.GenerateSigner()
	r.PublicKey, r.Signature = s.PublicKey(), "%%%"
	if err := protocol.VerifyRequest(r); err == nil || err.Error() != "signature is not base64" {
		t.Fatalf("bad signature: %v", err)
	}
}

// A signed message survives the wire: encode, decode, verify.
func TestSignedMessagesSurviveTheWire(t *testing.T) {
	s, _ := protocol.GenerateSigner()
	reg := &protocol.Registration{Identity: "web-01", Facts: map[string]any{"role": "web", "cpus": 4.0, "os": map[string]any{"name": "debian"}}, Time: time.Now().UTC()}
	res := &protocol.Result{Identity: "web-01", Kind: "check", Name: "load", Perfdata: []protocol.Perf{{Label: "load1", Value: 0.5}}, Runs: map[string]uint64{"OK": 3}, Time: time.Now()}
	rep := &protocol.Reply{RequestID: "r1", Identity: "web-01", Data: json.RawMessage(`{ "a" : 1 }`), Time: time.Now()}
	if err := s.SignRegistration(reg); err != nil {
		t.Fatal(err)
	}
	if err := s.SignResult(res); err != nil {
		t.Fatal(err)
	}
	if err := s.SignReply(rep); err != nil {
		t.Fatal(err)
	}
	var reg2 protocol.Registration
	var res2 protocol.Result
	var rep2 protocol.Reply
	for _, p := range []struct{ in, out any }{{reg, &reg2}, {res, &res2}, {rep, &rep2}} {
		b, err := json.Marshal(p.in)
		if err != nil {
			t.Fatal(err)
		}
		if err := protocol.Decode(b, p.out); err != nil {
			t.Fatal(err)
		}
	}
	if err := protocol.VerifyRegistration(&reg2); err != nil {
		t.Fatalf("registration: %v", err)
	}
	if err := protocol.VerifyResult(&res2); err != nil {
		t.Fatalf("result: %v", err)
	}
	if err := protocol.VerifyReply(&rep2); err != nil {
		t.Fatalf("reply: %v", err)
	}
	reg2.Facts["role"] = "db"
	if err := protocol.VerifyRegistration(&reg2); err == nil {
		t.Fatal("changed facts still verify")
	}
}
