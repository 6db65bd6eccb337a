package render

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/pulseops/pulse/internal/agentapi"
	"github.com/pulseops/pulse/internal/protocol"
	"github.com/pulseops/pulse/internal/rpc"
)

func reply(id string, status protocol.Status, data string) *rpc.Reply {
	return &rpc.Reply{Reply: protocol.Reply{Identity: id, ReplyBody: protocol.ReplyBody{Status: status, StatusMsg: status.String(), Data: json.RawMessage(data)}}}
}

func TestSummariesAndRendering(t *testing.T) {
	res := &rpc.Result{
		Targets: []string{"a", "b", "c", "d"},
		Replies: []*rpc.Reply{
			reply("a", protocol.OK, `{"ensure":"2.4.57-2"}`),
			reply("b", protocol.OK, `{"ensure":"absent"}`),
			reply("c", protocol.OK, `{"ensure":"2.4.57-2"}`),
		},
		NoResponse: []string{"d"},
	}
	var b strings.Builder
	Summary(&b, "Ensure", Summarize(res, func(d agentapi.PackageStatus) string { return d.Ensure }))
	if got, want := b.String(), "Summary of Ensure: 2.4.57-2 = 2, absent = 1\n"; got != want {
		t.Fatalf("summary %q, want %q", got, want)
	}
	b.Reset()
	Finished(&b, res)
	if !strings.Contains(b.String(), "Finished processing 3 / 4 hosts") || !strings.Contains(b.String(), "No response from:\n\n    d\n") {
		t.Fatalf("finished:\n%s", b.String())
	}
	if res.OK() {
		t.Fatal("a result with a silent node is not OK")
	}
	res.Replies = append(res.Replies, reply("d", protocol.InvalidData, ""))
	res.NoResponse = nil
	b.Reset()
	Line(&b, res, "failed", func(_ *rpc.Reply, d agentapi.PackageStatus) string { return d.Ensure })
	if got := strings.TrimSpace(b.String()); got != "d                                        Invalid data" {
		t.Fatalf("--display failed shows %q", got)
	}
	if res.OK() || res.Failed() != 1 {
		t.Fatalf("OK=%v Failed=%d", res.OK(), res.Failed())
	}
}

// A node that answered without being in the fleet registry is shown and
// counted, by ping and by the closing line, beside the silent ones.
func TestUnexpectedNodesAreShownAndCounted(t *testing.T) {
	res := &rpc.Result{
		Targets:    []string{"a", "b"},
		Replies:    []*rpc.Reply{reply("a", protocol.OK, `{}`), reply("new", protocol.OK, `{}`)},
		NoResponse: []string{"b"},
		Unexpected: []string{"new"},
	}
	want := "\nAnswered, not in the fleet registry (1, registered since it was read):\n\n    new\n\n\nNo response from:\n\n    b\n"
	var b strings.Builder
	Finished(&b, res)
	if !strings.HasPrefix(b.String(), "Finished processing 2 / 3 hosts") || !strings.Contains(b.String(), want) {
		t.Fatalf("finished:\n%s", b.String())
	}
	b.Reset()
	Ping(&b, res)
	if !strings.Contains(b.String(), "new                                      time=") || !strings.Contains(b.String(), "2 replies") || !strings.Contains(b.String(), want) {
		t.Fatalf("ping:\n%s", b.String())
	}
}

// A reply whose data is not what its agent's type says is shown with the
// reason, not as an empty value.
func TestLineShowsUnreadableData(t *testing.T) {
	res := &rpc.Result{Replies: []*rpc.Reply{reply("a", protocol.OK, `{"ensure":7}`)}}
	var b strings.Builder
	Line(&b, res, "all", func(_ *rpc.Reply, d agentapi.PackageStatus) string { return d.Ensure })
	if got := b.String(); !strings.HasPrefix(got, "a") || !strings.Contains(got, "unreadable reply data: json: cannot unmarshal number into Go struct field PackageStatus.ensure of type string") {
		t.Fatalf("line %q", got)
	}
}
