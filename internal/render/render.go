// Package render prints orchestration results for humans, in the layout
// mco users know: one line per node, summaries, "Finished processing N / M
// hosts", the silent nodes. It only formats what it is given; the CLI
// decides where the output goes, and --json bypasses it.
package render

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/pulseops/pulse/internal/agentapi"
	"github.com/pulseops/pulse/internal/protocol"
	"github.com/pulseops/pulse/internal/rpc"
)

// Display selects which replies are printed: "ok", "failed" or "all".
type Display string

func (d Display) show(r *rpc.Reply) bool {
	switch d {
	case "ok":
		return r.Status == protocol.OK
	case "failed":
		return r.Status != protocol.OK
	}
	return true
}

// ms renders a duration in milliseconds as mco does.
func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }

// Ping prints one line per node and ping statistics.
func Ping(w io.Writer, res *rpc.Result) {
	var mn, mx, sum time.Duration
	for i, r := range res.Replies {
		fmt.Fprintf(w, "%-40s time=%s\n", r.Identity, ms(r.RTT))
		if i == 0 || r.RTT < mn {
			mn = r.RTT
		}
		mx = max(mx, r.RTT)
		sum += r.RTT
	}
	fmt.Fprintf(w, "\n\n---- ping statistics ----\n")
	if n := len(res.Replies); n > 0 {
		fmt.Fprintf(w, "%d replies max: %.2f min: %.2f avg: %.2f\n", n,
			msf(mx), msf(mn), msf(sum/time.Duration(n)))
	} else {
		fmt.Fprintf(w, "No responses received\n")
	}
	noResponse(w, res)
}

func msf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// Find prints the identity of every node that answered.
func Find(w io.Writer, res *rpc.Result) {
	for _, r := range res.Replies {
		fmt.Fprintln(w, r.Identity)
	}
}

// FactCount is one value of a fact and how many nodes have it.
type FactCount struct {
	Value string   `json:"value"`
	Count int      `json:"count"`
	Nodes []string `json:"nodes,omitempty"`
}

// FactReport groups get_fact replies by value.
func FactReport(res *rpc.Result) []FactCount {
	by := map[string][]string{}
	for _, r := range res.Replies {
		if r.Status != protocol.OK {
			continue
		}
		var f agentapi.Fact
		if json.Unmarshal(r.Data, &f) != nil {
			continue
		}
		v := FormatValue(f.Value)
		by[v] = append(by[v], r.Identity)
	}
	out := make([]FactCount, 0, len(by))
	for v, nodes := range by {
		out = append(out, FactCount{Value: v, Count: len(nodes), Nodes: nodes})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Value < out[j].Value })
	return out
}

// Facts prints mco's "Report for fact" table.
func Facts(w io.Writer, fact string, res *rpc.Result, showNodes bool) {
	fmt.Fprintf(w, "Report for fact: %s\n\n", fact)
	for _, fc := range FactReport(res) {
		fmt.Fprintf(w, "        %-40s found %d times\n", fc.Value, fc.Count)
		if showNodes {
			for _, n := range fc.Nodes {
				fmt.Fprintf(w, "            %s\n", n)
			}
			fmt.Fprintln(w)
		}
	}
	fmt.Fprintln(w)
	Finished(w, res)
}

// Finished prints the closing line and the silent nodes.
func Finished(w io.Writer, res *rpc.Result) {
	fmt.Fprintf(w, "Finished processing %d / %d hosts in %s\n", len(res.Replies), max(len(res.Targets)+len(res.Unexpected), len(res.Replies)), ms(res.Duration))
	noResponse(w, res)
}

func noResponse(w io.Writer, res *rpc.Result) {
	if len(res.Unexpected) > 0 {
		fmt.Fprintf(w, "\nAnswered, not in the fleet registry (%d, registered since it was read):\n\n", len(res.Unexpected))
		for _, n := range res.Unexpected {
			fmt.Fprintf(w, "    %s\n", n)
		}
		fmt.Fprintln(w)
	}
	if len(res.NoResponse) > 0 {
		fmt.Fprintf(w, "\nNo response from:\n\n")
		for _, n := range res.NoResponse {
			fmt.Fprintf(w, "    %s\n", n)
		}
		fmt.Fprintln(w)
	}
	if res.Halted {
		fmt.Fprintf(w, "\nStopped after a failed batch; not sent to %d nodes: %s\n", len(res.Skipped), strings.Join(res.Skipped, ", "))
	}
}

// Replies prints each shown reply as mco rpc does: the identity, then
// its data as aligned key: value lines, or the status message on failure.
func Replies(w io.Writer, res *rpc.Result, d Display) {
	for _, r := range res.Replies {
		if !d.show(r) {
			continue
		}
		if r.Status != protocol.OK {
			fmt.Fprintf(w, "%-40s %s\n\n", r.Identity, r.StatusMsg)
			continue
		}
		fmt.Fprintf(w, "%s\n", r.Identity)
		m := r.DataMap()
		keys := make([]string, 0, len(m))
		width := 0
		for k := range m {
			keys = append(keys, k)
			width = max(width, len(k))
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(w, "   %*s: %s\n", width, k, FormatValue(m[k]))
		}
		fmt.Fprintln(w)
	}
}

// Line prints one line per shown reply, built by line from its data
// decoded as T (an agent's reply type from internal/agentapi); a reply
// whose data does not decode shows why instead.
func Line[T any](w io.Writer, res *rpc.Result, d Display, line func(r *rpc.Reply, data T) string) {
	for _, r := range res.Replies {
		if !d.show(r) {
			continue
		}
		if r.Status != protocol.OK {
			fmt.Fprintf(w, "%-40s %s\n", r.Identity, r.StatusMsg)
			continue
		}
		var data T
		if err := decode(r, &data); err != nil {
			fmt.Fprintf(w, "%-40s %v\n", r.Identity, err)
			continue
		}
		fmt.Fprintf(w, "%-40s %s\n", r.Identity, line(r, data))
	}
}

// Summarize counts the values value picks from the data (decoded as T) of
// the successful replies, sorted by count then value.
func Summarize[T any](res *rpc.Result, value func(T) string) []FactCount {
	by := map[string]int{}
	for _, r := range res.Replies {
		if r.Status != protocol.OK {
			continue
		}
		var data T
		if decode(r, &data) != nil {
			continue
		}
		by[value(data)]++
	}
	out := make([]FactCount, 0, len(by))
	for v, n := range by {
		out = append(out, FactCount{Value: v, Count: n})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Value < out[j].Value
	})
	return out
}

// decode reads a reply's data into v; a reply without data leaves v zero.
func decode(r *rpc.Reply, v any) error {
	if len(r.Data) == 0 {
		return nil
	}
	if err := json.Unmarshal(r.Data, v); err != nil {
		return fmt.Errorf("unreadable reply data: %w", err)
	}
	return nil
}

// Summary prints "Summary of Title: a = 6, b = 5".
func Summary(w io.Writer, title string, counts []FactCount) {
	parts := make([]string, len(counts))
	for i, c := range counts {
		parts[i] = fmt.Sprintf("%s = %d", c.Value, c.Count)
	}
	fmt.Fprintf(w, "Summary of %s: %s\n", title, strings.Join(parts, ", "))
}

// FormatValue renders a JSON value for humans.
func FormatValue(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		if x == float64(int64(x)) {
			return fmt.Sprintf("%d", int64(x))
		}
		return fmt.Sprintf("%g", x)
	case bool:
		return fmt.Sprintf("%t", x)
	default:
		b, _ := json.Marshal(x)
		return string(b)
	}
}
