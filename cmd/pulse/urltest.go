//go:build !agentonly

package main

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/pulseops/pulse/internal/protocol"
	"github.com/pulseops/pulse/internal/render"
	"github.com/pulseops/pulse/internal/rpc"
)

// urltestPhases are the timings a urltest reply carries, in the order mco's
// urltest printed them, with their column titles.
var urltestPhases = []struct{ key, title string }{
	{"lookup", "DNS"},
	{"connect", "CONNECT"},
	{"tls", "TLS"},
	{"pretransfer", "PRE-XFER"},
	{"starttransfer", "START-XFER"},
	{"total", "TOTAL"},
}

func newURLTestCmd() *cobra.Command {
	cmd := clientCmd("urltest URL", "Fetch a URL from every matching node and show each phase's time, as mco's urltest did", cobra.ExactArgs(1), true,
		func(c *cobra.Command, f *clientFlags, cl *rpc.Client, args []string) error {
			// The nodes must answer before this client stops waiting.
			data := map[string]string{"url": args[0], "timeout": urltestTimeout(f.timeout).String()}
			return runAndSummarize(c, f, cl, "urltest", "perftest", data, func(w *summaryWriter, res *rpc.Result) {
				renderURLTest(w, res, f.display)
			})
		})
	cmd.Long = cmd.Short + `.

Each node GETs URL (http or https; redirects followed, certificates checked,
no proxy) and reports when each phase ended, in seconds from the start as
curl's -w time_* does: DNS lookup, TCP connect, TLS handshake (0 for http),
pre-transfer (ready to send), start-transfer (first byte back) and total,
with the HTTP status and the bytes fetched. A summary gives each phase's
minimum, average and maximum over the nodes. A node refuses a URL that is
not http or https (status 4) or whose host its urltest.allow_hosts leaves
out (status 6); a fetch that fails, times out or redirects forever is that
node's error. The nodes give up before --timeout, so every one answers.`
	return cmd
}

// urltestTimeout leaves a fifth of the client's wait for the replies to
// travel back.
func urltestTimeout(wait time.Duration) time.Duration {
	return max(wait*4/5, 100*time.Millisecond)
}

// renderURLTest prints one line per node and the min/avg/max of each phase.
func renderURLTest(w io.Writer, res *rpc.Result, display string) {
	fmt.Fprintf(w, "%-30s %6s", "NODE", "STATUS")
	for _, p := range urltestPhases {
		fmt.Fprintf(w, " %10s", p.title)
	}
	fmt.Fprintf(w, " %10s\n", "BYTES")
	type stat struct{ min, max, sum float64 }
	stats := make([]stat, len(urltestPhases))
	n := 0
	for _, r := range res.Replies {
		m := r.DataMap()
		if r.Status == protocol.OK {
			for i, p := range urltestPhases {
				v, _ := m[p.key].(float64)
				s := &stats[i]
				if n == 0 || v < s.min {
					s.min = v
				}
				s.max, s.sum = max(s.max, v), s.sum+v
			}
			n++
		}
		if display == "ok" && r.Status != protocol.OK || display == "failed" && r.Status == protocol.OK {
			continue
		}
		if r.Status != protocol.OK {
			fmt.Fprintf(w, "%-30s %s\n", r.Identity, r.StatusMsg)
			continue
		}
		fmt.Fprintf(w, "%-30s %6s", r.Identity, render.FormatValue(m["http_status"]))
		for _, p := range urltestPhases {
			v, _ := m[p.key].(float64)
			fmt.Fprintf(w, " %10.4f", v)
		}
		fmt.Fprintf(w, " %10s\n", render.FormatValue(m["bytes"]))
	}
	if n == 0 {
		return
	}
	fmt.Fprintf(w, "\nSummary of %d nodes, seconds:\n\n", n)
	for i, p := range urltestPhases {
		s := stats[i]
		fmt.Fprintf(w, "    %-12s min: %.4f  avg: %.4f  max: %.4f\n", p.title, s.min, s.sum/float64(n), s.max)
	}
}
