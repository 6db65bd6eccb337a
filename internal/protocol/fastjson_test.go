package protocol

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/pulseops/pulse/internal/filter"
)

// sameAsEncodingJSON decodes b with Decode and with encoding/json into fresh
// values and fails unless both fail or both give the same value.
func sameAsEncodingJSON[T any](t *testing.T, b []byte) {
	t.Helper()
	var fast, slow T
	errFast, errSlow := Decode(b, &fast), json.Unmarshal(b, &slow)
	if len(b) == 0 || len(b) > MaxMessageSize {
		return // refused before either decoder runs
	}
	if (errFast == nil) != (errSlow == nil) {
		t.Fatalf("%s: Decode error %v, encoding/json error %v", b, errFast, errSlow)
	}
	if errFast == nil && !reflect.DeepEqual(fast, slow) {
		t.Fatalf("%s:\nDecode        %#v\nencoding/json %#v", b, fast, slow)
	}
}

// sameEncoding fails unless EncodeReply writes what json.Marshal writes.
func sameEncoding(t *testing.T, r *Reply) {
	t.Helper()
	fast, errFast := EncodeReply(r)
	slow, errSlow := json.Marshal(r)
	if (errFast == nil) != (errSlow == nil) || !bytes.Equal(fast, slow) {
		t.Fatalf("EncodeReply %s (%v)\njson.Marshal %s (%v)", fast, errFast, slow, errSlow)
	}
}

// The messages pulse sends must take the fast path, or it is not worth
// having: this fails if a change sends them all to encoding/json.
func TestFastPathTakesPulseMessages(t *testing.T) {
	withData := benchReq
	withData.Data = json.RawMessage(`{"service":"nginx","list":[1,{"a":"b c"}]}`)
	withData.Filter = filter.Spec{Fact: []string{"role=web"}, Identity: []string{"/^web/"}}
	withData.PublicKey, withData.Signature = "AAAA+/==", "c2ln"
	for _, req := range []Request{benchReq, withData} {
		b, _ := json.Marshal(req)
		var got Request
		if !decodeRequest(b, &got) {
			t.Fatalf("request went to encoding/json: %s", b)
		}
		sameAsEncodingJSON[Request](t, b)
	}
	b, _ := json.Marshal(benchRep)
	var got Reply
	if !decodeReply(b, &got) {
		t.Fatalf("reply went to encoding/json: %s", b)
	}
	sameAsEncodingJSON[Reply](t, b)
	if _, ok := encodeReply(&benchRep); !ok {
		t.Fatalf("reply was encoded by encoding/json: %+v", benchRep)
	}
	sameEncoding(t, &benchRep)
}

// Each of these leaves the fast path somewhere; the result must still be
// encoding/json's.
var decodeCases = []string{
	`{}`, ` { } `, `{"id":"a"} x`, `{"id":"a",}`, `{"id":"a" "agent":"b"}`, `{"id":}`, `[]`, `null`, `"s"`,
	`{"id":"a\"b"}`, `{"id":"a\u00e9"}`, `{"id":"caf\xc3\xa9"}`, "{\"id\":\"a\xffb\"}", "{\"id\":\"a\tb\"}",
	`{"ID":"upper"}`, `{"Id":"x","id":"y"}`, `{"id":"a","id":"b"}`, `{"unknown":1,"id":"a"}`, `{"id":null}`, `{"id":5}`,
	`{"ttl":60}`, `{"ttl":-60}`, `{"ttl":0}`, `{"ttl":-0}`, `{"ttl":060}`, `{"ttl":6e1}`, `{"ttl":60.0}`, `{"ttl":-}`,
	`{"ttl":99999999999999999999}`, `{"ttl":999999999999999999}`, `{"ttl":"60"}`, `{"ttl":60x}`,
	`{"time":"2026-11-25T11:00:00.123456789Z"}`, `{"time":"2026-11-25T11:00:00+02:00"}`, `{"time":"2026-11-25"}`,
	`{"time":"2026-11-25T24:00:00Z"}`, `{"time":null}`,
	`{"data":{}}`, `{"data":{"a":[1,2,{"b":"}"}]}}`, `{"data":[1]}`, `{"data":"x"}`, `{"data":null}`, `{"data":1}`,
	`{"data":{"a":}}`, `{"data":{"a":1]}`, `{"data":{"a":"\"}"}}`, `{"data":{"a":1}`, `{"data":{"a":1},"data":{"b":2}}`,
	`{"filter":{}}`, `{"filter":{ }}`, `{"filter":{"fact":["role=web"]}}`, `{"filter":{"fact":1}}`, `{"filter":null}`,
	`{"filter":{"fact":["a"]},"filter":{"class":["b"]}}`, `{"filter":[]}`,
	`{"statuscode":0}`, `{"statuscode":4}`, `{"statuscode":-1}`, `{"statuscode":1.5}`, `{"statusmsg":"Unknown action"}`,
	`{"request_id":"r","identity":"n","agent":"rpcutil","action":"ping","statuscode":0,"statusmsg":"OK","data":{"pong":1},"time":"2026-01-01T00:00:00Z"}`,
	"{\n\t\"id\" : \"a\" ,\r\n \"ttl\" : 1 \n}\n",
}

func TestDecodeMatchesEncodingJSON(t *testing.T) {
	for _, c := range decodeCases {
		sameAsEncodingJSON[Request](t, []byte(c))
		sameAsEncodingJSON[Reply](t, []byte(c))
	}
}

func TestEncodeReplyMatchesJSONMarshal(t *testing.T) {
	for _, r := range []Reply{
		{},
		benchRep,
		{RequestID: "r", Identity: "a<b", StatusMsg: "x"},
		{StatusMsg: "tab\there", Status: UnknownAction},
		{StatusMsg: "é", Status: -3},
		{Data: json.RawMessage(`{"a": 1}`)},
		{Data: json.RawMessage(`{"a":"<b>"}`)},
		{Data: json.RawMessage(`{"a":1`)},
		{Data: json.RawMessage(`null`)},
		{Data: json.RawMessage(`[1,2]`), PublicKey: "pk", Signature: "sig"},
		{Time: time.Date(2026, 1, 2, 3, 4, 5, 600, time.FixedZone("CET", 3600))},
		{Time: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)},
		{Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)},
	} {
		sameEncoding(t, &r)
	}
}

func FuzzFastCodec(f *testing.F) {
	for _, c := range decodeCases {
		f.Add([]byte(c))
	}
	b, _ := json.Marshal(benchReq)
	f.Add(b)
	b, _ = json.Marshal(benchRep)
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		sameAsEncodingJSON[Request](t, b)
		sameAsEncodingJSON[Reply](t, b)
		var r Reply
		if Decode(b, &r) == nil {
			sameEncoding(t, &r)
			r.Time = r.Time.UTC()
			sameEncoding(t, &r)
		}
	})
}
