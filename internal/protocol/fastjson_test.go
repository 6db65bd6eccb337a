package protocol

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/pulseops/pulse/internal/filter"
)

// sameAsEncodingJSON decodes b with decodeBody and with encoding/json into
// fresh values and fails unless both fail or both give the same value.
func sameAsEncodingJSON[T any](t *testing.T, b []byte) {
	t.Helper()
	var fast, slow T
	errFast, errSlow := decodeBody(b, &fast), json.Unmarshal(b, &slow)
	if (errFast == nil) != (errSlow == nil) {
		t.Fatalf("%s: decodeBody error %v, encoding/json error %v", b, errFast, errSlow)
	}
	if errFast == nil && !reflect.DeepEqual(fast, slow) {
		t.Fatalf("%s:\ndecodeBody    %#v\nencoding/json %#v", b, fast, slow)
	}
}

// sameEncoding fails unless the fast encoder of a body writes what
// json.Marshal writes, whenever it takes the body at all.
func sameEncoding[T any](t *testing.T, v *T, fast func([]byte, *T) ([]byte, bool)) {
	t.Helper()
	got, ok := fast(nil, v)
	want, err := json.Marshal(v)
	if ok && (err != nil || !bytes.Equal(got, want)) {
		t.Fatalf("fast encoder %s\njson.Marshal %s (%v)", got, want, err)
	}
}

// The messages pulse sends must take the fast path, or it is not worth
// having: this fails if a change sends them all to encoding/json.
func TestFastPathTakesPulseMessages(t *testing.T) {
	withData := benchReq.RequestBody
	withData.Data = json.RawMessage(`{"service":"nginx","list":[1,{"a":"b c"}]}`)
	if _, ok := appendRequestBody(nil, &benchReq.RequestBody); !ok {
		t.Fatalf("request body went to encoding/json: %+v", benchReq.RequestBody)
	}
	sameEncoding(t, &benchReq.RequestBody, appendRequestBody)
	for _, body := range []RequestBody{benchReq.RequestBody, withData} {
		b, _ := json.Marshal(body)
		var got RequestBody
		if !decodeRequestBody(b, &got) {
			t.Fatalf("request body went to encoding/json: %s", b)
		}
		sameAsEncodingJSON[RequestBody](t, b)
	}
	b, ok := appendReplyBody(nil, &benchRep.ReplyBody)
	if !ok {
		t.Fatalf("reply body was encoded by encoding/json: %+v", benchRep)
	}
	sameEncoding(t, &benchRep.ReplyBody, appendReplyBody)
	var got ReplyBody
	if !decodeReplyBody(b, &got) {
		t.Fatalf("reply body went to encoding/json: %s", b)
	}
	sameAsEncodingJSON[ReplyBody](t, b)
}

// Each of these leaves the fast path somewhere; the result must still be
// encoding/json's.
var decodeCases = []string{
	`{}`, ` { } `, `{"agent":"a"} x`, `{"agent":"a",}`, `{"agent":"a" "action":"b"}`, `{"agent":}`, `[]`, `null`, `"s"`,
	`{"agent":"a\"b"}`, `{"agent":"a\u00e9"}`, `{"agent":"caf\xc3\xa9"}`, "{\"agent\":\"a\xffb\"}", "{\"agent\":\"a\tb\"}",
	`{"AGENT":"upper"}`, `{"Agent":"x","agent":"y"}`, `{"agent":"a","agent":"b"}`, `{"unknown":1,"agent":"a"}`, `{"agent":null}`, `{"agent":5}`,
	`{"statuscode":60}`, `{"statuscode":-60}`, `{"statuscode":0}`, `{"statuscode":-0}`, `{"statuscode":060}`, `{"statuscode":6e1}`,
	`{"statuscode":60.0}`, `{"statuscode":-}`, `{"statuscode":99999999999999999999}`, `{"statuscode":999999999999999999}`,
	`{"statuscode":"60"}`, `{"statuscode":60x}`, `{"statuscode":1.5}`, `{"statusmsg":"Unknown action"}`,
	`{"data":{}}`, `{"data":{"a":[1,2,{"b":"}"}]}}`, `{"data":[1]}`, `{"data":"x"}`, `{"data":null}`, `{"data":1}`,
	`{"data":{"a":}}`, `{"data":{"a":1]}`, `{"data":{"a":"\"}"}}`, `{"data":{"a":1}`, `{"data":{"a":1},"data":{"b":2}}`,
	`{"collective":"pulse","agent":"service","action":"restart","data":{"service":"nginx"}}`,
	`{"agent":"rpcutil","action":"ping","statuscode":0,"statusmsg":"OK","data":{"pong":1},"newer":{"field":[1]}}`,
	"{\n\t\"agent\" : \"a\" ,\r\n \"statuscode\" : 1 \n}\n",
	`{"collective":"pulse","agent":"package","action":"install","data":{"package":"shop","version":"1.0.1"},"origin":{"via":"rollout","id":"r1","committed_at":"2026-11-25T11:00:00Z"}}`,
	`{"origin":{"via":"cli"},"origin":{"id":"x"}}`, `{"origin":null}`, `{"origin":{"via":5}}`, `{"origin":{"committed_at":"yesterday"}}`,
	`{"origin":{"VIA":"api","Via":"cli"}}`, `{"origin":[]}`, `{"origin":{"via":"cli","extra":[1,{"a":"}"}]}}`,
}

func TestDecodeMatchesEncodingJSON(t *testing.T) {
	for _, c := range decodeCases {
		sameAsEncodingJSON[RequestBody](t, []byte(c))
		sameAsEncodingJSON[ReplyBody](t, []byte(c))
	}
}

func TestEncodeMatchesJSONMarshal(t *testing.T) {
	for _, r := range []ReplyBody{
		{},
		benchRep.ReplyBody,
		{Agent: "a<b", StatusMsg: "x"},
		{StatusMsg: "tab\there", Status: UnknownAction},
		{StatusMsg: "é", Status: -3},
		{Data: json.RawMessage(`{"a": 1}`)},
		{Data: json.RawMessage(`{"a":"<b>"}`)},
		{Data: json.RawMessage(`{"a":1`)},
		{Data: json.RawMessage(`null`)},
		{Data: json.RawMessage(`[1,2]`)},
	} {
		sameEncoding(t, &r, appendReplyBody)
	}
	for _, r := range []RequestBody{{}, benchReq.RequestBody, {Agent: "a&b"}, {Data: json.RawMessage(` {}`)},
		{Agent: "package", Origin: &Origin{Via: "rollout", ID: "<r1>", CommittedAt: time.Date(2026, 11, 25, 11, 0, 0, 0, time.UTC)}}} {
		sameEncoding(t, &r, appendRequestBody)
	}
}

func FuzzFastCodec(f *testing.F) {
	for _, c := range decodeCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		sameAsEncodingJSON[RequestBody](t, b)
		sameAsEncodingJSON[ReplyBody](t, b)
		var r ReplyBody
		if json.Unmarshal(b, &r) == nil {
			sameEncoding(t, &r, appendReplyBody)
		}
		var q RequestBody
		if json.Unmarshal(b, &q) == nil {
			sameEncoding(t, &q, appendRequestBody)
		}
	})
}

var timeCases = []string{
	"2026-11-25T11:00:00Z", "2026-11-25T11:00:00.1Z", "2026-11-25T11:00:00.123456789Z", "2026-11-25T11:00:00.1234567890Z",
	"2026-11-25T11:00:00.Z", "2026-11-25T11:00:00,1Z", "2026-02-29T00:00:00Z", "2024-02-29T00:00:00Z", "2026-04-31T00:00:00Z",
	"2026-13-01T00:00:00Z", "2026-00-01T00:00:00Z", "2026-01-00T00:00:00Z", "2026-01-01T24:00:00Z", "2026-01-01T23:60:00Z",
	"2026-01-01T23:59:60Z", "0000-01-01T00:00:00Z", "9999-12-31T23:59:59.999999999Z", "2026-01-01T00:00:00+01:00",
	"2026-01-01t00:00:00Z", "2026-01-01T00:00:00z", "+026-01-01T00:00:00Z", "2026-1-01T00:00:00Z", "2026-01-01T00:00:0aZ",
}

// parseUTC reads what time.Time's JSON parser reads, as that does.
func TestParseUTCMatchesTime(t *testing.T) {
	for _, c := range timeCases {
		sameTime(t, []byte(c))
	}
	if _, ok := parseUTC([]byte("2026-11-25T11:00:00.123Z")); !ok {
		t.Fatal("the form pulse writes left the fast path")
	}
}

func sameTime(t *testing.T, b []byte) {
	t.Helper()
	fast, ok := parseUTC(b)
	if !ok {
		return
	}
	var slow time.Time
	q, _ := json.Marshal(string(b))
	if err := slow.UnmarshalJSON(q); err != nil || !reflect.DeepEqual(fast, slow) {
		t.Fatalf("%s: parseUTC %v, time %v (%v)", b, fast, slow, err)
	}
}

func FuzzParseUTC(f *testing.F) {
	for _, c := range timeCases {
		f.Add([]byte(c))
	}
	f.Fuzz(sameTime)
}

// fill sets every field of v, recursively, to a value that is not its zero,
// so a field a codec forgets shows up as a difference.
func fill(t *testing.T, v reflect.Value, name string) {
	t.Helper()
	if v.Type() == reflect.TypeFor[time.Time]() {
		v.Set(reflect.ValueOf(time.Date(2026, 11, 25, 11, 0, 0, 123456789, time.UTC)))
		return
	}
	if v.Type() == reflect.TypeFor[json.RawMessage]() {
		v.SetBytes([]byte(`{"from":"` + name + `"}`))
		return
	}
	if v.Type() == reflect.TypeFor[*Principal]() {
		return // set by a verifier after a request arrived, never sent
	}
	switch v.Kind() {
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				fill(t, v.Field(i), v.Type().Field(i).Name)
			}
		}
	case reflect.String:
		v.SetString("v-" + name)
	case reflect.Int, reflect.Int64:
		v.SetInt(4)
	case reflect.Uint64:
		v.SetUint(42)
	case reflect.Float64:
		v.SetFloat(1.5)
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 1, 1)
		fill(t, s.Index(0), name)
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		e := reflect.New(v.Type().Elem()).Elem()
		if e.Kind() == reflect.Interface {
			e.Set(reflect.ValueOf("v-" + name))
		} else {
			fill(t, e, name)
		}
		m.SetMapIndex(reflect.ValueOf("k-"+name), e)
		v.Set(m)
	case reflect.Interface:
		v.Set(reflect.ValueOf(map[string]any{"k": "v-" + name}))
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		fill(t, p.Elem(), name)
		v.Set(p)
	default:
		t.Fatalf("fill does not know %s (%s): teach it, so the new field is tested", name, v.Type())
	}
}

func filled[T any](t *testing.T) *T {
	v := new(T)
	fill(t, reflect.ValueOf(v).Elem(), reflect.TypeFor[T]().Name())
	return v
}

// TestEveryFieldSurvivesTheWire fills every field of every message type and
// checks that the fast codec gives encoding/json's bytes and values, and
// that a message sealed, opened, verified and decoded is the message sent,
// envelope fields included. A field added to a message and forgotten by a
// codec fails here.
func TestEveryFieldSurvivesTheWire(t *testing.T) {
	s, err := GenerateSigner()
	if err != nil {
		t.Fatal(err)
	}
	// Bodies: the fast encoder writes encoding/json's bytes and the fast
	// decoder reads them into encoding/json's value.
	rq, rp := filled[RequestBody](t), filled[ReplyBody](t)
	if _, ok := appendRequestBody(nil, rq); !ok {
		t.Fatal("a filled request body left the fast path")
	}
	sameEncoding(t, rq, appendRequestBody)
	if _, ok := appendReplyBody(nil, rp); !ok {
		t.Fatal("a filled reply body left the fast path")
	}
	sameEncoding(t, rp, appendReplyBody)
	for _, v := range []any{rq, rp, filled[RegistrationBody](t), filled[ResultBody](t), filled[Event](t), filled[ChangeBody](t)} {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		got := reflect.New(reflect.TypeOf(v).Elem())
		if err := decodeBody(b, got.Interface()); err != nil {
			t.Fatal(err)
		}
		if want := reflect.ValueOf(v).Interface(); !reflect.DeepEqual(got.Interface(), want) {
			t.Fatalf("%T decodes to\n%#v\nwant %#v", v, got.Interface(), want)
		}
	}

	// Whole messages through the envelope.
	broadcast := filled[Request](t)
	broadcast.Targets = nil
	broadcast.PublicKey = s.PublicKey()
	directed := filled[Request](t)
	directed.Subject, directed.Filter = "", filter.Spec{}
	directed.PublicKey = s.PublicKey()
	rep := filled[Reply](t)
	rep.PublicKey = s.PublicKey()
	for _, tc := range []struct {
		name   string
		msg    any
		encode func() ([]byte, error)
		decode func(*Envelope) (any, error)
	}{
		{"broadcast request", broadcast, func() ([]byte, error) { return EncodeRequest(broadcast, s) }, func(e *Envelope) (any, error) { return e.Request() }},
		{"directed request", directed, func() ([]byte, error) { return EncodeRequest(directed, s) }, func(e *Envelope) (any, error) { return e.Request() }},
		{"reply", rep, func() ([]byte, error) { return EncodeReply(rep, s) }, func(e *Envelope) (any, error) { return e.Reply() }},
		{"registration", filled[Registration](t), nil, func(e *Envelope) (any, error) { return e.Registration() }},
		{"result", filled[Result](t), nil, func(e *Envelope) (any, error) { return e.Result() }},
		{"event", filled[Event](t), nil, func(e *Envelope) (any, error) { return e.Event() }},
		{"change", filled[Change](t), nil, func(e *Envelope) (any, error) { return e.Change() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			encode := tc.encode
			switch m := tc.msg.(type) {
			case *Registration:
				encode = func() ([]byte, error) { return EncodeRegistration(m, s) }
			case *Result:
				encode = func() ([]byte, error) { return EncodeResult(m, s) }
			case *Change:
				encode = func() ([]byte, error) { return EncodeChange(m, s) }
			case *Event:
				encode = func() ([]byte, error) { return EncodeEvent(m, "collector") }
			}
			b, err := encode()
			if err != nil {
				t.Fatal(err)
			}
			env, err := Open(b)
			if err != nil {
				t.Fatalf("%v\n%s", err, b)
			}
			if _, isEvent := tc.msg.(*Event); !isEvent {
				if err := env.Verify(); err != nil {
					t.Fatalf("%v\n%s", err, b)
				}
			}
			got, err := tc.decode(env)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.msg) {
				t.Fatalf("sent %#v\ngot  %#v\nwire %s", tc.msg, got, b)
			}
			// The envelope is what json.Marshal writes for its fields.
			checkEnvelopeJSON(t, b, env)
		})
	}
}

// checkEnvelopeJSON fails unless b is the bytes json.Marshal writes for the
// envelope's fields in their order.
func checkEnvelopeJSON(t *testing.T, b []byte, e *Envelope) {
	t.Helper()
	type wire struct {
		Pulse    int             `json:"pulse"`
		Kind     Kind            `json:"kind"`
		From     string          `json:"from"`
		ID       string          `json:"id,omitempty"`
		Time     time.Time       `json:"time"`
		Boot     string          `json:"boot,omitempty"`
		Seq      uint64          `json:"seq,omitempty"`
		Deadline *time.Time      `json:"deadline,omitempty"`
		Subject  string          `json:"subject,omitempty"`
		Targets  []string        `json:"targets,omitempty"`
		Filter   json.RawMessage `json:"filter,omitempty"`
		JWT      string          `json:"jwt,omitempty"`
		Body     json.RawMessage `json:"body"`
		Signer   string          `json:"signer,omitempty"`
		Sig      string          `json:"sig,omitempty"`
	}
	w := wire{Pulse: e.Version, Kind: e.Kind, From: e.From, ID: e.ID, Time: e.Time, Boot: e.Boot, Seq: e.Seq,
		Subject: e.Subject, Targets: e.Targets, Filter: e.Filter, JWT: e.JWT, Body: e.Body, Signer: e.Signer, Sig: e.Signature}
	if !e.Deadline.IsZero() {
		w.Deadline = &e.Deadline
	}
	want, err := json.Marshal(w)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, want) {
		t.Fatalf("envelope\n%s\njson.Marshal\n%s", b, want)
	}
}
