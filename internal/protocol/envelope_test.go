package protocol_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pulseops/pulse/internal/filter"
	"github.com/pulseops/pulse/internal/protocol"
)

var t0 = time.Unix(1700000000, 0).UTC()

func testRequest() *protocol.Request {
	return &protocol.Request{ID: "r1", Caller: "user=alice", Time: t0, Deadline: t0.Add(5 * time.Second),
		Subject: "pulse.pulse.agent.service", Filter: filter.Spec{Fact: []string{"role=web"}},
		RequestBody: protocol.RequestBody{Collective: "pulse", Agent: "service", Action: "restart", Data: json.RawMessage(`{"service":"nginx"}`)}}
}

func signer(t testing.TB) *protocol.Signer {
	s, err := protocol.GenerateSigner()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Every byte the signature covers is bound: changing any one of them, in the
// envelope's fields or in the body, makes the message unreadable or its
// signature wrong. Nothing a reader uses lies outside the signed bytes.
func TestSignatureCoversEveryByte(t *testing.T) {
	s := signer(t)
	for name, encode := range map[string]func() ([]byte, error){
		"request": func() ([]byte, error) { return protocol.EncodeRequest(testRequest(), s) },
		"reply": func() ([]byte, error) {
			return protocol.EncodeReply(&protocol.Reply{RequestID: "r1", Identity: "web-01", Time: t0}, s)
		},
		"registration": func() ([]byte, error) {
			return protocol.EncodeRegistration(&protocol.Registration{Identity: "web-01", Time: t0, Stream: protocol.Stream{Boot: "b1", Seq: 7}}, s)
		},
		"result": func() ([]byte, error) {
			return protocol.EncodeResult(&protocol.Result{Identity: "web-01", Time: t0, Stream: protocol.Stream{Boot: "b1", Seq: 8}}, s)
		},
	} {
		t.Run(name, func(t *testing.T) {
			b, err := encode()
			if err != nil {
				t.Fatal(err)
			}
			end := bytes.Index(b, []byte(`,"signer":`))
			for i := 0; i < end; i++ {
				for _, flip := range []byte{0x01, 0x20} {
					c := bytes.Clone(b)
					c[i] ^= flip
					env, err := protocol.Open(c)
					if err != nil {
						continue
					}
					if err := env.Verify(); !errors.Is(err, protocol.ErrBadSignature) {
						t.Fatalf("byte %d changed (%q) and the message still verifies (%v):\n%s", i, c[i], err, c)
					}
				}
			}
		})
	}
}

// A signed message of another kind is not that kind: a registration is
// never read as a result, a reply never as a request.
func TestKindIsBound(t *testing.T) {
	s := signer(t)
	b, err := protocol.EncodeRegistration(&protocol.Registration{Identity: "web-01", Time: t0, Stream: protocol.Stream{Boot: "b", Seq: 1}}, s)
	if err != nil {
		t.Fatal(err)
	}
	env, err := protocol.Open(b)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.Result(); protocol.ErrorReason(err) != protocol.ReasonKind || err.Error() != "expected a result but web-01 sent a registration" {
		t.Fatalf("a registration read as a result: %v", err)
	}
	relabelled := bytes.Replace(b, []byte(`"kind":"registration"`), []byte(`"kind":"result"`), 1)
	if env, err := protocol.Open(relabelled); err != nil || !errors.Is(env.Verify(), protocol.ErrBadSignature) {
		t.Fatalf("a registration relabelled as a result: open %v", err)
	}
}

// A newer peer adds a body field: the message still verifies (the bytes are
// signed, not a struct) and decodes on this version, the new field ignored.
func TestNewerBodyVerifiesAndDecodes(t *testing.T) {
	s := signer(t)
	priv, pub := ed25519PrivateFor(t)
	for _, tc := range []struct {
		kind, body string
		check      func(*protocol.Envelope) error
	}{
		{"reply", `{"agent":"rpcutil","action":"ping","statuscode":0,"statusmsg":"OK","data":{"pong":1},"took_ms":3.5,"hints":["new"]}`,
			func(e *protocol.Envelope) error {
				r, err := e.Reply()
				if err == nil && (r.Agent != "rpcutil" || r.StatusMsg != "OK" || string(r.Data) != `{"pong":1}` || r.Identity != "web-01" || r.RequestID != "r1") {
					return errors.New("wrong reply " + r.StatusMsg)
				}
				return err
			}},
		{"result", `{"kind":"check","name":"load","status":2,"output":"CRITICAL","runs":{"CRITICAL":3},"severity_v2":"page"}`,
			func(e *protocol.Envelope) error {
				r, err := e.Result()
				if err == nil && (r.Name != "load" || r.Status != 2 || r.Runs["CRITICAL"] != 3 || r.Seq != 9) {
					return errors.New("wrong result " + r.Name)
				}
				return err
			}},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			head := `{"pulse":1,"kind":"` + tc.kind + `","from":"web-01"`
			if tc.kind == "reply" {
				head += `,"id":"r1"`
			}
			head += `,"time":"2026-01-01T00:00:00Z"`
			if tc.kind == "result" {
				head += `,"boot":"b2","seq":9`
			}
			signed := head + `,"body":` + tc.body
			sig := base64.StdEncoding.EncodeToString(ed25519.Sign(priv, []byte(signed)))
			msg := signed + `,"signer":"` + pub + `","sig":"` + sig + `"}`
			env, err := protocol.Open([]byte(msg))
			if err != nil {
				t.Fatal(err)
			}
			if err := env.Verify(); err != nil {
				t.Fatalf("a newer peer's %s does not verify: %v", tc.kind, err)
			}
			if err := tc.check(env); err != nil {
				t.Fatal(err)
			}
		})
	}
	_ = s
}

func ed25519PrivateFor(t *testing.T) (ed25519.PrivateKey, string) {
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return priv, base64.StdEncoding.EncodeToString(pub)
}

func TestOpenRefuses(t *testing.T) {
	good := `"time":"2026-01-01T00:00:00Z","body":{}`
	for _, tc := range []struct {
		name, msg, reason, err string
	}{
		{"old format", `{"request_id":"r1","identity":"web-01","statuscode":0}`, protocol.ReasonUnversioned,
			`message has no protocol version (no "pulse" field): it is in the format of pulse before protocol version 1; upgrade the sender`},
		{"newer version", `{"pulse":2,"kind":"reply"}`, protocol.ReasonVersion,
			"message of protocol version 2: this pulse reads version 1 only; upgrade the reader or downgrade the sender"},
		{"version not a number", `{"pulse":"1"}`, protocol.ReasonEnvelope, `envelope's "pulse" field is not a protocol version number`},
		{"version not first", `{"kind":"event","pulse":1}`, protocol.ReasonEnvelope, `envelope's first field must be "pulse", the protocol version`},
		{"not JSON", `pulse`, protocol.ReasonEnvelope, `message of 5 bytes is not a pulse envelope (a JSON object starting with "pulse")`},
		{"empty", ``, protocol.ReasonEnvelope, `message of 0 bytes is not a pulse envelope (a JSON object starting with "pulse")`},
		{"unknown field", `{"pulse":1,"kind":"event","from":"c","priority":1,` + good + `}`, protocol.ReasonEnvelope, `envelope field "priority" is not part of protocol version 1`},
		{"repeated field", `{"pulse":1,"kind":"event","from":"c","from":"d",` + good + `}`, protocol.ReasonEnvelope, `envelope field "from" appears twice`},
		{"field after the signature", `{"pulse":1,"kind":"event","from":"c",` + good + `,"signer":"a","sig":"b","id":"x"}`, protocol.ReasonEnvelope, `envelope field "id" comes after the signature; nothing may`},
		{"signer alone", `{"pulse":1,"kind":"event","from":"c",` + good + `,"signer":"a"}`, protocol.ReasonEnvelope, `envelope has a signer without a signature or a signature without a signer`},
		{"trailing bytes", `{"pulse":1,"kind":"event","from":"c",` + good + `}{}`, protocol.ReasonEnvelope, `envelope is followed by 2 more bytes`},
		{"unknown kind", `{"pulse":1,"kind":"command","from":"c",` + good + `}`, protocol.ReasonEnvelope, `kind "command" is not one protocol version 1 knows`},
		{"no sender", `{"pulse":1,"kind":"event",` + good + `}`, protocol.ReasonEnvelope, `event envelope names no sender (from)`},
		{"body not an object", `{"pulse":1,"kind":"event","from":"c","time":"2026-01-01T00:00:00Z","body":[]}`, protocol.ReasonEnvelope, `envelope field "body" has a bad value`},
		{"request without deadline", `{"pulse":1,"kind":"request","from":"u","id":"r","subject":"s",` + good + `}`, protocol.ReasonEnvelope, `request r from u has no deadline`},
		{"request with subject and targets", `{"pulse":1,"kind":"request","from":"u","id":"r","deadline":"2026-01-01T00:00:05Z","subject":"s","targets":["a"],` + good + `}`, protocol.ReasonEnvelope,
			`request r from u must name either the subject it was broadcast on or its targets, and not both`},
		{"directed request with a filter", `{"pulse":1,"kind":"request","from":"u","id":"r","deadline":"2026-01-01T00:00:05Z","targets":["a"],"filter":{},` + good + `}`, protocol.ReasonEnvelope,
			`request r from u names its targets and a filter; only a broadcast has a filter`},
		{"result without sequence", `{"pulse":1,"kind":"result","from":"n","boot":"b",` + good + `}`, protocol.ReasonEnvelope, `result from n has no boot and sequence`},
		{"zero sequence", `{"pulse":1,"kind":"result","from":"n","boot":"b","seq":0,` + good + `}`, protocol.ReasonEnvelope, `envelope field "seq" has a bad value`},
		{"reply with a deadline", `{"pulse":1,"kind":"reply","from":"n","id":"r","deadline":"2026-01-01T00:00:05Z",` + good + `}`, protocol.ReasonEnvelope,
			`reply envelope from n carries deadline, which only other kinds have`},
		// The sender and a request's id name the subjects replies travel on.
		{"sender not a subject token", `{"pulse":1,"kind":"reply","from":"web.01","id":"r",` + good + `}`, protocol.ReasonEnvelope,
			`reply envelope's sender "web.01" cannot be a subject token (no dots, spaces or wildcards)`},
		{"request id not a subject token", `{"pulse":1,"kind":"request","from":"u","id":"r.*","deadline":"2026-01-01T00:00:05Z","subject":"s",` + good + `}`, protocol.ReasonEnvelope,
			`request from u has no id, or one that cannot be a subject token`},
		{"credentials on a reply", `{"pulse":1,"kind":"reply","from":"n","id":"r","jwt":"eyJ",` + good + `}`, protocol.ReasonEnvelope,
			`reply envelope from n carries subject/targets/filter/jwt, which only other kinds have`},
		{"oversized", `{"pulse":1,"kind":"event","from":"c","time":"2026-01-01T00:00:00Z","body":{"x":"` + strings.Repeat("a", protocol.MaxMessageSize) + `"}}`, protocol.ReasonOversized,
			"message of 1048659 bytes exceeds the 1048576 byte limit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := protocol.Open([]byte(tc.msg))
			if err == nil || err.Error() != tc.err || protocol.ErrorReason(err) != tc.reason {
				t.Fatalf("got %v (%s)\nwant %s (%s)", err, protocol.ErrorReason(err), tc.err, tc.reason)
			}
		})
	}
	_, err := protocol.Open([]byte(`{"id":"r1"}`))
	if !errors.Is(err, protocol.ErrUnversioned) {
		t.Fatalf("old format is not ErrUnversioned: %v", err)
	}
}

func TestVerifyErrors(t *testing.T) {
	s, other := signer(t), signer(t)
	unsigned, err := protocol.EncodeReply(&protocol.Reply{RequestID: "r1", Identity: "web-01", Time: t0}, nil)
	if err != nil {
		t.Fatal(err)
	}
	env, err := protocol.Open(unsigned)
	if err != nil {
		t.Fatal(err)
	}
	if err := env.Verify(); !errors.Is(err, protocol.ErrUnsigned) {
		t.Fatalf("unsigned: %v", err)
	}
	signed, _ := protocol.EncodeReply(&protocol.Reply{RequestID: "r1", Identity: "web-01", Time: t0}, s)
	for _, tc := range []struct {
		name, from, to, err string
	}{
		{"another key", s.PublicKey(), other.PublicKey(), "signature does not match the message"},
		{"not a key", s.PublicKey(), "bm90LWEta2V5", "signer key is not a base64 ed25519 key"},
		{"signature not base64", `"sig":"`, `"sig":"%%`, "signature is not a base64 ed25519 signature"},
		// Longer than the fields encode to: refused, never decoded past
		// the end of the buffer (FuzzDecodeRequest found the panic).
		{"key too long", `"signer":"`, `"signer":"` + strings.Repeat("A", 100), "signer key is not a base64 ed25519 key"},
		{"signature too long", `"sig":"`, `"sig":"` + strings.Repeat("ZZZZ", 40), "signature is not a base64 ed25519 signature"},
	} {
		env, err := protocol.Open(bytes.Replace(signed, []byte(tc.from), []byte(tc.to), 1))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if err := env.Verify(); err == nil || err.Error() != tc.err {
			t.Fatalf("%s: %v, want %s", tc.name, err, tc.err)
		}
	}
}

// A body that verifies and then does not decode is a decode error, counted
// as such, never a panic or a half-filled message.
func TestBodyThatDoesNotDecode(t *testing.T) {
	msg := `{"pulse":1,"kind":"reply","from":"web-01","id":"r1","time":"2026-01-01T00:00:00Z","body":{"statuscode":"zero"}}`
	env, err := protocol.Open([]byte(msg))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.Reply(); protocol.ErrorReason(err) != protocol.ReasonDecode || !strings.HasPrefix(err.Error(), "reply from web-01: body does not decode: json: cannot unmarshal string") {
		t.Fatalf("got %v", err)
	}
}

// Names that need escaping travel escaped and come back as they were.
func TestEscapedNames(t *testing.T) {
	s := signer(t)
	r := testRequest()
	r.Subject, r.Caller, r.Filter = "", "user=al\"ice<", filter.Spec{}
	r.Targets = []string{`we"b`, "n\\1", "é"}
	b, err := protocol.EncodeRequest(r, s)
	if err != nil {
		t.Fatal(err)
	}
	env, err := protocol.Open(b)
	if err != nil {
		t.Fatal(err)
	}
	if err := env.Verify(); err != nil {
		t.Fatal(err)
	}
	got, err := env.Request()
	if err != nil || got.Caller != r.Caller || strings.Join(got.Targets, "|") != strings.Join(r.Targets, "|") {
		t.Fatalf("%+v %v", got, err)
	}
}
