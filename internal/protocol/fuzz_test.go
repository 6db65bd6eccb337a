package protocol_test

import (
	"crypto/ed25519"
	"encoding/json"
	"testing"

	"github.com/pulseops/pulse/internal/protocol"
)

// fuzzSigner is fixed so fuzz failures reproduce.
var fuzzSigner = protocol.NewSigner(ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize)))

// roundTrip decodes b into a fresh T; when that works, it signs the value,
// sends it through the wire form again and verifies it, and checks that a
// message with a flipped signature does not verify. Decoding must never
// panic, whatever arrives from the bus.
func roundTrip[T any](t *testing.T, b []byte, sign func(*protocol.Signer, *T) error, verify func(*T) error, sig func(*T) *string) {
	var v T
	if err := protocol.Decode(b, &v); err != nil {
		return
	}
	_ = verify(&v) // must not panic on whatever key and signature arrived
	if err := sign(fuzzSigner, &v); err != nil {
		return // not encodable (e.g. a NaN that JSON cannot carry)
	}
	wire, err := json.Marshal(&v)
	if err != nil {
		t.Fatalf("a signed message does not encode: %v", err)
	}
	var back T
	if err := protocol.Decode(wire, &back); err != nil {
		t.Fatalf("a signed message does not decode: %v\n%s", err, wire)
	}
	if err := verify(&back); err != nil {
		t.Fatalf("a signed message does not verify after the wire: %v\n%s", err, wire)
	}
	s := sig(&back)
	*s = "A" + (*s)[1:]
	if (*s)[0] == (*sig(&v))[0] {
		*s = "B" + (*s)[1:]
	}
	if verify(&back) == nil {
		t.Fatalf("a changed signature verifies:\n%s", wire)
	}
}

func FuzzDecodeRequest(f *testing.F) {
	f.Add([]byte(`{"id":"r1","collective":"pulse","agent":"service","action":"restart","data":{"service":"nginx"},"filter":{"fact":["role=web"]},"caller":"user=alice","time":"2026-01-01T00:00:00Z","ttl":60}`))
	f.Add([]byte(`{"id":"x","data":[1,2,{"a":null}],"pubkey":"AAAA","signature":"!!"}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`[`))
	f.Fuzz(func(t *testing.T, b []byte) {
		roundTrip(t, b, (*protocol.Signer).SignRequest, protocol.VerifyRequest, func(r *protocol.Request) *string { return &r.Signature })
		var r protocol.Request
		if protocol.Decode(b, &r) == nil {
			_ = r.Validate()
		}
	})
}

func FuzzDecodeReply(f *testing.F) {
	f.Add([]byte(`{"request_id":"r1","identity":"web-01","agent":"rpcutil","action":"ping","statuscode":0,"statusmsg":"OK","data":{"pong":1},"time":"2026-01-01T00:00:00Z"}`))
	f.Add([]byte(`{"statuscode":99,"data":"x"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		roundTrip(t, b, (*protocol.Signer).SignReply, protocol.VerifyReply, func(r *protocol.Reply) *string { return &r.Signature })
	})
}

func FuzzDecodeRegistration(f *testing.F) {
	f.Add([]byte(`{"identity":"web-01","collective":"pulse","facts":{"role":"web","os":{"name":"debian"},"cpus":4},"agents":["rpcutil"],"version":"0.1.0","interval":30}`))
	f.Add([]byte(`{"facts":{"a":[1,{"b":[]}]},"interval":1e308}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		roundTrip(t, b, (*protocol.Signer).SignRegistration, protocol.VerifyRegistration, func(r *protocol.Registration) *string { return &r.Signature })
	})
}

func FuzzDecodeResult(f *testing.F) {
	f.Add([]byte(`{"identity":"web-01","kind":"check","name":"load","status":0,"output":"OK - load 0.1|load1=0.1;1;2","perfdata":[{"label":"load1","value":0.1}],"runs":{"OK":3},"steps":[{"name":"login","duration":0.2,"phases":{"dns":0.01}}]}`))
	f.Add([]byte(`{"probe_runs":18446744073709551615}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		roundTrip(t, b, (*protocol.Signer).SignResult, protocol.VerifyResult, func(r *protocol.Result) *string { return &r.Signature })
	})
}
