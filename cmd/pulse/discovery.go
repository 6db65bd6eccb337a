//go:build !agentonly

package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/pulseops/pulse/internal/agentapi"
	"github.com/pulseops/pulse/internal/config"
	"github.com/pulseops/pulse/internal/protocol"
	"github.com/pulseops/pulse/internal/render"
	"github.com/pulseops/pulse/internal/rpc"
)

// clientCmd builds a client command: flags resolved, connection opened and
// closed around do.
// localFlagNames are the flags that only mean something with --local.
var localFlagNames = []string{"agent-config", "facts-root", "facts-file", "external-dir", "external-timeout", "ec2", "ec2-url"}

func clientCmd(use, short string, args cobra.PositionalArgs, batch bool, do func(c *cobra.Command, f *clientFlags, cl *rpc.Client, args []string) error) *cobra.Command {
	f := &clientFlags{}
	cmd := &cobra.Command{
		Use: use, Short: short, Args: args,
		RunE: func(c *cobra.Command, a []string) error {
			if err := f.resolve(c); err != nil {
				return err
			}
			cl, closeFn, err := f.connect()
			if err != nil {
				return err
			}
			defer closeFn()
			return do(c, f, cl, a)
		},
	}
	addClientFlags(cmd, f)
	if batch {
		addBatchFlags(cmd, f)
	}
	return cmd
}

func newPingCmd() *cobra.Command {
	return clientCmd("ping", "Find every node matching the filter and show its round-trip time", cobra.NoArgs, false,
		func(c *cobra.Command, f *clientFlags, cl *rpc.Client, _ []string) error {
			res, err := f.do(c, cl, "rpcutil", "ping", nil)
			if err != nil {
				return err
			}
			return f.output(c, res, pingJSON(res), func(w io.Writer) { render.Ping(w, res) })
		})
}

func pingJSON(res *rpc.Result) any {
	type node struct {
		Identity string  `json:"identity"`
		TimeMS   float64 `json:"time_ms"`
	}
	nodes := make([]node, 0, len(res.Replies))
	for _, r := range res.Replies {
		nodes = append(nodes, node{r.Identity, float64(r.RTT) / float64(time.Millisecond)})
	}
	return map[string]any{"replies": nodes, "count": len(nodes), "no_response": res.NoResponse, "no_match": res.NoMatch, "duration_ms": ms(res.Duration),
		"discovery": res.Discovery, "unexpected": nonNil(res.Unexpected)}
}

// nonNil makes an absent list print as [] in JSON.
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// do runs one action on the targets the flags select, with batch progress
// on stderr.
func (f *clientFlags) do(c *cobra.Command, cl *rpc.Client, agent, action string, data any) (*rpc.Result, error) {
	call, err := f.call(agent, action, data)
	if err != nil {
		return nil, err
	}
	call.Progress = progress(c, f)
	if agent == "package" || agent == "service" {
		call.Origin = &protocol.Origin{Via: protocol.ViaCLI}
	}
	res, err := cl.Do(c.Context(), call)
	if err != nil {
		return nil, err
	}
	if f.noMatch {
		res.NoMatch = true
	}
	registryNotes(c.ErrOrStderr(), res)
	return res, nil
}

// registryNotes tells, in one line each, that registry discovery fell back
// to broadcast and why, and which registry entries were skipped.
func registryNotes(w io.Writer, res *rpc.Result) {
	if res.Fallback != "" {
		fmt.Fprintf(w, "pulse: %s; discovering by broadcast\n", res.Fallback)
	}
	if n := len(res.Corrupt); n > 0 {
		parts := make([]string, 0, min(n, 5))
		for _, s := range res.Corrupt[:min(n, 5)] {
			parts = append(parts, fmt.Sprintf("%s (%s)", s.Key, s.Reason))
		}
		more := ""
		if n > 5 {
			more = fmt.Sprintf(" and %d more", n-5)
		}
		fmt.Fprintf(w, "pulse: skipped %d unreadable fleet registry %s: %s%s\n", n, plural(n, "entry", "entries"), strings.Join(parts, ", "), more)
	}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// output prints asJSON with --json, else what render writes, and returns
// the exit status the replies call for.
func (f *clientFlags) output(c *cobra.Command, res *rpc.Result, asJSON any, render func(io.Writer)) error {
	if f.json {
		return printJSONThen(c.OutOrStdout(), asJSON, f.finish(c.ErrOrStderr(), res))
	}
	if res.NoMatch {
		fmt.Fprintln(c.OutOrStdout(), noMatchLine)
		return exitError{exitFailed}
	}
	render(c.OutOrStdout())
	return f.finish(c.ErrOrStderr(), res)
}

func printJSONThen(w io.Writer, v any, err error) error {
	if e := printJSON(w, v); e != nil {
		return e
	}
	return err
}

func newFindCmd() *cobra.Command {
	return clientCmd("find", "List the identities of the nodes matching the filter", cobra.NoArgs, false,
		func(c *cobra.Command, f *clientFlags, cl *rpc.Client, _ []string) error {
			res, err := f.do(c, cl, "rpcutil", "ping", nil)
			if err != nil {
				return err
			}
			ids := make([]string, 0, len(res.Replies))
			for _, r := range res.Replies {
				ids = append(ids, r.Identity)
			}
			return f.output(c, res, ids, func(w io.Writer) { render.Find(w, res) })
		})
}

func newFactsCmd() *cobra.Command {
	var verbose bool
	cmd := clientCmd("facts FACT | --local [FACT ...]", "Report how often each value of a fact occurs across the fleet, or this machine's own facts", cobra.ArbitraryArgs, false,
		func(c *cobra.Command, f *clientFlags, cl *rpc.Client, args []string) error {
			res, err := f.do(c, cl, "rpcutil", "get_fact", map[string]string{"fact": args[0]})
			if err != nil {
				return err
			}
			report := map[string]any{"fact": args[0], "values": render.FactReport(res), "no_response": res.NoResponse, "no_match": res.NoMatch, "duration_ms": ms(res.Duration),
				"discovery": res.Discovery, "unexpected": nonNil(res.Unexpected)}
			return f.output(c, res, report, func(w io.Writer) { render.Facts(w, args[0], res, verbose) })
		})
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "list the nodes under each value")
	lf := &localFacts{}
	addLocalFactsFlags(cmd.Flags(), lf)
	cmd.Long = cmd.Short + `.

pulse facts FACT asks every matching node for FACT, as mco facts did.

pulse facts --local prints this machine's facts as the agent would gather
them, as facter did: the system facts, and the fact files, external facts
and EC2 metadata of --agent-config FILE or of the flags that mirror its facts
block. No bus is needed. Nested facts print flat (os.release.major => 12);
--json prints them nested. pulse facts --local | grep ec2 works as
facter | grep ec2 did.`
	fleet := cmd.RunE
	cmd.RunE = func(c *cobra.Command, args []string) error {
		if lf.local {
			if err := config.Resolve(c.Flags(), "PULSE", nil); err != nil {
				return usageError{err}
			}
			asJSON, _ := c.Flags().GetBool("json")
			return lf.run(c.Context(), c, args, asJSON)
		}
		for _, name := range localFlagNames {
			if c.Flags().Changed(name) {
				return usage("--%s only goes with --local", name)
			}
		}
		if len(args) != 1 {
			return usage("pulse facts needs one FACT to report on across the fleet, or --local [FACT ...] for this machine's facts")
		}
		return fleet(c, args)
	}
	return cmd
}

func newInventoryCmd() *cobra.Command {
	return clientCmd("inventory IDENTITY", "Show one node's facts, agents, classes, version and uptime", cobra.ExactArgs(1), false,
		func(c *cobra.Command, f *clientFlags, cl *rpc.Client, args []string) error {
			call, err := f.call("rpcutil", "inventory", nil)
			if err != nil {
				return err
			}
			call.Nodes = []string{args[0]}
			res, err := cl.Do(c.Context(), call)
			if err != nil {
				return err
			}
			if len(res.Replies) == 0 {
				return fmt.Errorf("%s did not answer within %s (check the name with `pulse find`)", args[0], f.timeout)
			}
			r := res.Replies[0]
			if r.Status != protocol.OK {
				return fmt.Errorf("%s: %s", r.Identity, r.StatusMsg)
			}
			if f.json {
				// The node's data as it sent it, a newer agent's fields too.
				return printJSON(c.OutOrStdout(), r.DataMap())
			}
			var inv agentapi.Inventory
			if err := json.Unmarshal(r.Data, &inv); err != nil {
				return fmt.Errorf("%s: unreadable inventory: %w", r.Identity, err)
			}
			renderInventory(c.OutOrStdout(), r.Identity, inv)
			return nil
		})
}

func renderInventory(w io.Writer, id string, d agentapi.Inventory) {
	fmt.Fprintf(w, "Inventory for %s:\n\n", id)
	fmt.Fprintf(w, "   Server Statistics:\n")
	fmt.Fprintf(w, "                      Version: %s\n", d.Version)
	if bi := d.BuildInfo; bi != nil {
		fmt.Fprintf(w, "                        Build: revision %s, %s, %s/%s\n", bi["revision"], bi["goversion"], bi["goos"], bi["goarch"])
	}
	if d.Started != 0 {
		fmt.Fprintf(w, "                   Start Time: %s\n", time.Unix(d.Started, 0).Format(time.RFC1123))
	}
	fmt.Fprintf(w, "                  Uptime: %s\n", (time.Duration(d.Uptime) * time.Second).String())
	fmt.Fprintf(w, "              Collectives: %s\n\n", d.MainCollective)
	fmt.Fprintf(w, "   Agents:\n      %s\n\n", strings.Join(d.Agents, "  "))
	fmt.Fprintf(w, "   Classes:\n")
	for _, c := range d.Classes {
		fmt.Fprintf(w, "      %s\n", c)
	}
	fmt.Fprintf(w, "\n   Facts:\n")
	for _, k := range slices.Sorted(maps.Keys(d.Facts)) {
		fmt.Fprintf(w, "      %s => %s\n", k, render.FormatValue(d.Facts[k]))
	}
}

func newRPCCmd() *cobra.Command {
	return clientCmd("rpc AGENT ACTION [key=value ...]", "Call any action of any agent", cobra.MinimumNArgs(2), true,
		func(c *cobra.Command, f *clientFlags, cl *rpc.Client, args []string) error {
			data := map[string]any{}
			for _, kv := range args[2:] {
				k, v, ok := strings.Cut(kv, "=")
				if !ok || k == "" {
					return usage("argument %q is not key=value", kv)
				}
				data[k] = v
			}
			res, err := f.do(c, cl, args[0], args[1], data)
			if err != nil {
				return err
			}
			return f.output(c, res, res, func(w io.Writer) {
				render.Replies(w, res, render.Display(f.display))
				render.Finished(w, res)
			})
		})
}

// progress prints batch progress on stderr unless JSON was asked for.
func progress(c *cobra.Command, f *clientFlags) func(rpc.Progress) {
	return func(p rpc.Progress) {
		if !f.json {
			fmt.Fprintf(c.ErrOrStderr(), "batch %d/%d: %s\n", p.Batch, p.Batches, strings.Join(p.Nodes, ", "))
		}
	}
}
