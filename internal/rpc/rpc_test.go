package rpc

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestParseCount(t *testing.T) {
	for _, tc := range []struct {
		in    string
		total int
		want  int
		err   string
	}{
		{"3", 11, 3, ""},
		{"25%", 11, 3, ""}, // 2.75 rounds up: a batch is never empty
		{"10%", 5, 1, ""},
		{"100%", 7, 7, ""},
		{"0", 11, 0, `"0" is not a positive number or percentage`},
		{"-2", 11, 0, `"-2" is not a positive number or percentage`},
		{"lots", 11, 0, `"lots" is not a positive number or percentage`},
		{"150%", 11, 0, `"150%" is not a percentage between 0 and 100`},
		{"0%", 11, 0, `"0%" is not a percentage between 0 and 100`},
	} {
		c, err := ParseCount(tc.in)
		got := c.Of(tc.total)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("ParseCount(%q) error %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseCount(%q).Of(%d) = %d, %v; want %d", tc.in, tc.total, got, err, tc.want)
		}
		if c.String() != tc.in {
			t.Errorf("ParseCount(%q).String() = %q", tc.in, c.String())
		}
	}
}

// A count enters as a flag or as JSON, a number or "N%", and says which
// field was wrong when it is not one.
func TestCountJSON(t *testing.T) {
	var v struct {
		Batch Count `json:"batch"`
	}
	for in, want := range map[string]string{`{"batch":2}`: "2", `{"batch":"2"}`: "2", `{"batch":"25%"}`: "25%"} {
		if err := json.Unmarshal([]byte(in), &v); err != nil || v.Batch.String() != want {
			t.Errorf("%s: %v %v, want %s", in, v.Batch, err, want)
		}
	}
	err := json.Unmarshal([]byte(`{"batch":"lots"}`), &v)
	if err == nil || err.Error() != `json: cannot unmarshal "lots" (want N or N%) into Go struct field .batch of type rpc.Count` {
		t.Errorf("bad count: %v", err)
	}
	for _, c := range []Count{Nodes(3), mustCount(t, "10%")} {
		b, _ := json.Marshal(c)
		var back Count
		if err := json.Unmarshal(b, &back); err != nil || back != c {
			t.Errorf("%v round trip through %s: %v %v", c, b, back, err)
		}
	}
}

func mustCount(t *testing.T, s string) Count {
	t.Helper()
	c, err := ParseCount(s)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestChunksBoundTheTargetsOfOneRequest(t *testing.T) {
	var nodes []string
	for i := 0; i < 1000; i++ {
		nodes = append(nodes, "node-"+strings.Repeat("x", i%40))
	}
	parts := chunks(nodes)
	var all []string
	for _, p := range parts {
		size := 0
		for _, n := range p {
			size += len(n) + 3
		}
		if size > maxTargetBytes && len(p) > 1 {
			t.Fatalf("a chunk of %d names takes %d bytes", len(p), size)
		}
		all = append(all, p...)
	}
	if strings.Join(all, ",") != strings.Join(nodes, ",") {
		t.Fatal("chunks lost, added or reordered nodes")
	}
	if got := chunks([]string{strings.Repeat("n", 2000), "b"}); len(got) != 2 || len(got[0]) != 1 {
		t.Fatalf("a name longer than the budget gets a chunk of its own: %v", got)
	}
	if chunks(nil) != nil {
		t.Fatal("no nodes, no chunks")
	}
}
