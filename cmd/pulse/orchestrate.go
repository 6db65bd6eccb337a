//go:build !agentonly

package main

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/pulseops/pulse/internal/protocol"
	"github.com/pulseops/pulse/internal/rpc"
)

var packageActions = []string{"install", "uninstall", "purge", "update", "status", "checkupdates"}

func newPackageCmd() *cobra.Command {
	return clientCmd("package ACTION [PACKAGE]", "Install, remove, update or inspect a package on every matching node ("+strings.Join(packageActions, ", ")+")",
		cobra.RangeArgs(1, 2), true,
		func(c *cobra.Command, f *clientFlags, cl *rpc.Client, args []string) error {
			action := args[0]
			if !slices.Contains(packageActions, action) {
				return usage("unknown package action %q; use one of %s", action, strings.Join(packageActions, ", "))
			}
			var data map[string]string
			if action != "checkupdates" {
				if len(args) != 2 {
					return usage("pulse package %s needs a package name", action)
				}
				data = map[string]string{"package": args[1]}
			}
			return runAndSummarize(c, f, cl, "package", action, data, func(w *summaryWriter, res *rpc.Result) {
				if action == "checkupdates" {
					rpc.RenderLine(w, res, rpc.Display(f.display), func(_ *rpc.Reply, d map[string]any) string {
						return fmt.Sprintf("%s outdated packages", rpc.FormatValue(d["count"]))
					})
					return
				}
				rpc.RenderLine(w, res, rpc.Display(f.display), func(_ *rpc.Reply, d map[string]any) string {
					s := "ensure = " + rpc.FormatValue(d["ensure"])
					if a := rpc.FormatValue(d["arch"]); a != "" {
						s += " (" + a + ")"
					}
					return s
				})
				w.summary("Ensure", rpc.Summarize(res, "ensure"))
			})
		})
}

var serviceActions = []string{"start", "stop", "restart", "reload", "status"}

func newServiceCmd() *cobra.Command {
	return clientCmd("service SERVICE ACTION", "Start, stop, restart, reload or inspect a service on every matching node",
		cobra.ExactArgs(2), true,
		func(c *cobra.Command, f *clientFlags, cl *rpc.Client, args []string) error {
			name, action := args[0], args[1]
			if !slices.Contains(serviceActions, action) {
				if slices.Contains(serviceActions, name) {
					return usage("pulse service takes the service first, as mco does: pulse service %s %s", action, name)
				}
				return usage("unknown service action %q; use one of %s", action, strings.Join(serviceActions, ", "))
			}
			return runAndSummarize(c, f, cl, "service", action, map[string]string{"service": name}, func(w *summaryWriter, res *rpc.Result) {
				rpc.RenderLine(w, res, rpc.Display(f.display), func(_ *rpc.Reply, d map[string]any) string {
					s := rpc.FormatValue(d["status"])
					if e, ok := d["enabled"].(bool); ok {
						s += map[bool]string{true: ", enabled", false: ", disabled"}[e]
					}
					return s
				})
				w.summary("Service Status", rpc.Summarize(res, "status"))
			})
		})
}

func newNRPECmd() *cobra.Command {
	var cmdArgs []string
	cmd := clientCmd("nrpe COMMAND", "Run an nrpe check on every matching node", cobra.ExactArgs(1), true,
		func(c *cobra.Command, f *clientFlags, cl *rpc.Client, args []string) error {
			data := map[string]any{"command": args[0]}
			if len(cmdArgs) > 0 {
				data["args"] = cmdArgs
			}
			return runAndSummarize(c, f, cl, "nrpe", "runcommand", data, func(w *summaryWriter, res *rpc.Result) {
				counts := map[string]int{}
				rpc.RenderLine(w, res, rpc.Display(f.display), func(_ *rpc.Reply, d map[string]any) string {
					return fmt.Sprintf("%-8s %s", rpc.FormatValue(d["status"]), rpc.FormatValue(d["output"]))
				})
				for _, r := range res.Replies {
					if r.Status == protocol.OK {
						code, _ := r.DataMap()["exitcode"].(float64)
						counts[protocol.StateName(int(code))]++
					}
				}
				fmt.Fprintf(w, "\nSummary of Exit Code: OK: %d, WARNING: %d, CRITICAL: %d, UNKNOWN: %d\n",
					counts["OK"], counts["WARNING"], counts["CRITICAL"], counts["UNKNOWN"])
			})
		})
	cmd.Flags().StringArrayVar(&cmdArgs, "arg", nil, "argument for the command's $ARGn$ (only where the agent allows arguments)")
	return cmd
}

// summaryWriter is the command's output with a helper for summary lines.
type summaryWriter struct{ *strings.Builder }

func (w *summaryWriter) summary(title string, counts []rpc.FactCount) {
	fmt.Fprintln(w)
	rpc.RenderSummary(w, title, counts)
}

// runAndSummarize runs one action, prints per-node lines and summaries via
// render (or JSON), then the finishing line; the exit code follows the
// replies.
func runAndSummarize(c *cobra.Command, f *clientFlags, cl *rpc.Client, agent, action string, data any, render func(*summaryWriter, *rpc.Result)) error {
	res, err := f.do(c, cl, agent, action, data)
	if err != nil {
		return err
	}
	if !f.json && len(res.Targets) == 0 {
		fmt.Fprintln(c.OutOrStdout(), "No request sent, we did not discover any nodes.")
		return exitError{exitFailed}
	}
	return f.output(c, res, res, func(out io.Writer) {
		w := &summaryWriter{&strings.Builder{}}
		render(w, res)
		fmt.Fprintln(w)
		rpc.RenderFinished(w, res)
		fmt.Fprint(out, w.String())
	})
}
