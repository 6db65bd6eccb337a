package rpc

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/pulseops/pulse/internal/protocol"
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
		got, err := ParseCount(tc.in, tc.total)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("ParseCount(%q) error %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseCount(%q, %d) = %d, %v; want %d", tc.in, tc.total, got, err, tc.want)
		}
	}
}

func reply(id string, status protocol.Status, data string) *Reply {
	return &Reply{Reply: protocol.Reply{Identity: id, ReplyBody: protocol.ReplyBody{Status: status, StatusMsg: status.String(), Data: json.RawMessage(data)}}}
}

func TestSummariesAndRendering(t *testing.T) {
	res := &Result{
		Targets: []string{"a", "b", "c", "d"},
		Replies: []*Reply{
			reply("a", protocol.OK, `{"ensure":"2.4.57-2"}`),
			reply("b", protocol.OK, `{"ensure":"absent"}`),
			reply("c", protocol.OK, `{"ensure":"2.4.57-2"}`),
		},
		NoResponse: []string{"d"},
	}
	var b strings.Builder
	RenderSummary(&b, "Ensure", Summarize(res, "ensure"))
	if got, want := b.String(), "Summary of Ensure: 2.4.57-2 = 2, absent = 1\n"; got != want {
		t.Fatalf("summary %q, want %q", got, want)
	}
	b.Reset()
	RenderFinished(&b, res)
	if !strings.Contains(b.String(), "Finished processing 3 / 4 hosts") || !strings.Contains(b.String(), "No response from:\n\n    d\n") {
		t.Fatalf("finished:\n%s", b.String())
	}
	if res.OK() {
		t.Fatal("a result with a silent node is not OK")
	}
	res.Replies = append(res.Replies, reply("d", protocol.InvalidData, ""))
	res.NoResponse = nil
	b.Reset()
	RenderLine(&b, res, "failed", func(_ *Reply, d map[string]any) string { return FormatValue(d["ensure"]) })
	if got := strings.TrimSpace(b.String()); got != "d                                        Invalid data" {
		t.Fatalf("--display failed shows %q", got)
	}
	if res.OK() || res.Failed() != 1 {
		t.Fatalf("OK=%v Failed=%d", res.OK(), res.Failed())
	}
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
