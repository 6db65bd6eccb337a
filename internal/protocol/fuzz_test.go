package protocol_test

import (
	"crypto/ed25519"
	"reflect"
	"testing"
	"time"

	"github.com/pulseops/pulse/internal/protocol"
)

// fuzzSigner is fixed so fuzz failures reproduce.
var fuzzSigner = protocol.NewSigner(ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize)))

// seed returns the wire form of a message for the fuzzers to start from.
func seed(f *testing.F, encode func(*protocol.Signer) ([]byte, error)) {
	for _, s := range []*protocol.Signer{fuzzSigner, nil} {
		b, err := encode(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// roundTrip opens b and decodes it as T; when that works, it seals the
// message again, opens, verifies and decodes that, and checks it is the
// same message. Nothing that arrives from the bus may panic.
func roundTrip[T any](t *testing.T, b []byte, decode func(*protocol.Envelope) (*T, error), encode func(*T, *protocol.Signer) ([]byte, error)) {
	env, err := protocol.Open(b)
	if err != nil {
		if protocol.ErrorReason(err) == "invalid" {
			t.Fatalf("an error without a reason: %v", err)
		}
		return
	}
	_ = env.Verify() // must not panic on whatever key and signature arrived
	msg, err := decode(env)
	if err != nil {
		return
	}
	wire, err := encode(msg, fuzzSigner)
	if err != nil {
		return // not encodable (a NaN, a time JSON cannot carry)
	}
	env2, err := protocol.Open(wire)
	if err != nil {
		t.Fatalf("a sealed message does not open: %v\n%s", err, wire)
	}
	if err := env2.Verify(); err != nil && env2.Kind != protocol.KindEvent {
		t.Fatalf("a sealed message does not verify: %v\n%s", err, wire)
	}
	back, err := decode(env2)
	if err != nil {
		t.Fatalf("a sealed message does not decode: %v\n%s", err, wire)
	}
	// Both sides went through the same codec; only the signer differs.
	wire2, err := encode(back, fuzzSigner)
	if err != nil || string(wire2) != string(wire) {
		t.Fatalf("a message changed on its way through the wire:\n%s\n%s", wire, wire2)
	}
}

var ft = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// FuzzOpen is the envelope decoder on its own: any bytes, any kind.
func FuzzOpen(f *testing.F) {
	seed(f, func(s *protocol.Signer) ([]byte, error) { return protocol.EncodeRequest(testRequest(), s) })
	f.Add([]byte(`{"pulse":1,"kind":"event","from":"c","time":"2026-01-01T00:00:00Z","body":{"a":"}\"{"},"signer":"x","sig":"y"}`))
	f.Add([]byte(`{"pulse":1,"kind":"request","from":"u","id":"r","time":"2026-01-01T00:00:00Z","deadline":"2026-01-01T00:00:05Z","targets":["a","b\u00e9"],"body":{}}`))
	f.Add([]byte(`{"request_id":"r1"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		env, err := protocol.Open(b)
		if err != nil {
			return
		}
		_ = env.Verify()
		for _, decode := range []func() error{
			func() error { _, err := env.Request(); return err },
			func() error { _, err := env.Reply(); return err },
			func() error { _, err := env.Registration(); return err },
			func() error { _, err := env.Result(); return err },
			func() error { _, err := env.Event(); return err },
		} {
			_ = decode()
		}
	})
}

func FuzzDecodeRequest(f *testing.F) {
	seed(f, func(s *protocol.Signer) ([]byte, error) { return protocol.EncodeRequest(testRequest(), s) })
	directed := testRequest()
	directed.Subject, directed.Targets = "", []string{"web-01", "web-02"}
	directed.Filter.Fact = nil
	seed(f, func(s *protocol.Signer) ([]byte, error) { return protocol.EncodeRequest(directed, s) })
	withJWT := testRequest()
	withJWT.JWT = "eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.eyJuYW1lIjoiYWxpY2UifQ.c2ln"
	seed(f, func(s *protocol.Signer) ([]byte, error) { return protocol.EncodeRequest(withJWT, s) })
	f.Fuzz(func(t *testing.T, b []byte) {
		roundTrip(t, b, (*protocol.Envelope).Request, protocol.EncodeRequest)
		if env, err := protocol.Open(b); err == nil {
			if r, err := env.Request(); err == nil {
				_ = r.Validate()
				_ = r.Expired(ft, time.Second)
			}
		}
	})
}

func FuzzDecodeReply(f *testing.F) {
	seed(f, func(s *protocol.Signer) ([]byte, error) {
		return protocol.EncodeReply(&protocol.Reply{RequestID: "r1", Identity: "web-01", Time: ft,
			ReplyBody: protocol.ReplyBody{Agent: "rpcutil", Action: "ping", StatusMsg: "OK", Data: []byte(`{"pong":1}`)}}, s)
	})
	f.Fuzz(func(t *testing.T, b []byte) {
		roundTrip(t, b, (*protocol.Envelope).Reply, protocol.EncodeReply)
	})
}

func FuzzDecodeRegistration(f *testing.F) {
	seed(f, func(s *protocol.Signer) ([]byte, error) {
		return protocol.EncodeRegistration(&protocol.Registration{Identity: "web-01", Time: ft, Stream: protocol.Stream{Boot: "b", Seq: 1},
			RegistrationBody: protocol.RegistrationBody{Collective: "pulse", Facts: map[string]any{"role": "web", "os": map[string]any{"name": "debian"}, "cpus": 4.0},
				Agents: []string{"rpcutil"}, Version: "0.1.0", Interval: 30}}, s)
	})
	f.Fuzz(func(t *testing.T, b []byte) {
		roundTrip(t, b, (*protocol.Envelope).Registration, protocol.EncodeRegistration)
	})
}

func FuzzDecodeResult(f *testing.F) {
	seed(f, func(s *protocol.Signer) ([]byte, error) {
		return protocol.EncodeResult(&protocol.Result{Identity: "web-01", Time: ft, Stream: protocol.Stream{Boot: "b", Seq: 2},
			ResultBody: protocol.ResultBody{Kind: "check", Name: "load", Output: "OK - load 0.1|load1=0.1;1;2",
				Perfdata: []protocol.Perf{{Label: "load1", Value: 0.1}}, Runs: map[string]uint64{"OK": 3},
				Steps: []protocol.StepResult{{Name: "login", Duration: 0.2, Phases: map[string]float64{"dns": 0.01}}}}}, s)
	})
	f.Fuzz(func(t *testing.T, b []byte) {
		roundTrip(t, b, (*protocol.Envelope).Result, protocol.EncodeResult)
	})
}

func FuzzDecodeEvent(f *testing.F) {
	f.Add([]byte(`{"pulse":1,"kind":"event","from":"collector","time":"2026-01-01T00:00:00Z","body":{"type":"node_down","time":"2026-01-01T00:00:00Z","identity":"web-01","message":"down","data":{"a":[1]}}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		roundTrip(t, b, (*protocol.Envelope).Event, func(e *protocol.Event, _ *protocol.Signer) ([]byte, error) {
			return protocol.EncodeEvent(e, "collector")
		})
	})
}

// The decoded form of every fuzz seed is what was sealed.
func TestFuzzSeedsDecode(t *testing.T) {
	r := testRequest()
	b, err := protocol.EncodeRequest(r, fuzzSigner)
	if err != nil {
		t.Fatal(err)
	}
	env, err := protocol.Open(b)
	if err != nil {
		t.Fatal(err)
	}
	got, err := env.Request()
	if err != nil {
		t.Fatal(err)
	}
	r.PublicKey = fuzzSigner.PublicKey()
	if !reflect.DeepEqual(got, r) {
		t.Fatalf("got %+v\nwant %+v", got, r)
	}
}
