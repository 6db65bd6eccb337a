package nodeagent

import (
	"encoding/json"
	"testing"

	"github.com/pulseops/pulse/internal/agentapi"
)

// get_fact's hand-written path reads and writes exactly what encoding/json
// would, or leaves the input to it.
func FuzzGetFactFastPath(f *testing.F) {
	for _, s := range [][2]string{
		{`{"fact":"ec2_placement_availability_zone"}`, "eu-west-1a"},
		{`{"fact":""}`, ""},
		{`{"fact":"a","x":"b"}`, `a"b`},
		{`{"fact":"a\"b"}`, "<script>"},
		{`{"fact":"é"}`, "é"},
		{`{"fact":"a\u0041"}`, "tab\there"},
		{`{"fact":"os.release.major"}`, "12"},
		{`{"fact": "role"}`, "web"},
	} {
		f.Add([]byte(s[0]), s[1], false)
	}
	f.Add([]byte(`{"fact":"role"}`), "", true)
	f.Fuzz(func(t *testing.T, data []byte, value string, absent bool) {
		var v any = value
		if absent {
			v = nil
		}
		if name, ok := plainFactRequest(data); ok {
			var d struct {
				Fact string `json:"fact"`
			}
			if err := json.Unmarshal(data, &d); err != nil || d.Fact != name {
				t.Fatalf("%q: fast path read %q, encoding/json %q (%v)", data, name, d.Fact, err)
			}
		}
		for _, name := range []string{"role", string(data)} {
			if got, ok := plainFactReply(name, v); ok {
				want, err := json.Marshal(agentapi.Fact{Fact: name, Value: v})
				if err != nil || string(got) != string(want) {
					t.Fatalf("fact %q value %#v: fast path wrote %s, encoding/json %s", name, v, got, want)
				}
			}
		}
	})
}

// The fast path is taken for what pulse facts sends and a plain value,
// and left for anything else.
func TestGetFactFastPathIsTaken(t *testing.T) {
	if name, ok := plainFactRequest([]byte(`{"fact":"os.release.major"}`)); !ok || name != "os.release.major" {
		t.Fatalf("plain request: %q %v", name, ok)
	}
	for _, data := range []string{`{"fact": "role"}`, `{"fact":"a\"b"}`, `{"fact":"a","x":"b"}`, `{"fact":"é"}`, `{"fact":"`} {
		if _, ok := plainFactRequest([]byte(data)); ok {
			t.Errorf("%s took the fast path", data)
		}
	}
	if b, ok := plainFactReply("role", "web"); !ok || string(b) != `{"fact":"role","value":"web"}` {
		t.Fatalf("plain reply: %s %v", b, ok)
	}
	for _, v := range []any{12, "<b>", map[string]any{"a": 1}} {
		if _, ok := plainFactReply("role", v); ok {
			t.Errorf("value %#v took the fast path", v)
		}
	}
}
