//go:build !agentonly

package main

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/pulseops/pulse/internal/agentapi"
	"github.com/pulseops/pulse/internal/protocol"
	"github.com/pulseops/pulse/internal/render"
	"github.com/pulseops/pulse/internal/rpc"
)

// The actions the package and service commands offer are the agents' own.
var (
	packageActions = agentapi.PackageActions
	serviceActions = agentapi.ServiceActions
)

func newPackageCmd() *cobra.Command {
	cmd := clientCmd("package ACTION [PACKAGE]", "Install, remove, update or inspect a package on every matching node ("+strings.Join(packageActions, ", ")+")",
		func(_ *cobra.Command, args []string) error { _, _, err := packageArgs(args); return err }, true,
		func(c *cobra.Command, f *clientFlags, cl *rpc.Client, args []string) error {
			action, name, _ := packageArgs(args)
			var data map[string]string
			if name != "" {
				data = map[string]string{"package": name}
			}
			return runAndSummarize(c, f, cl, "package", action, data, func(w *summaryWriter, res *rpc.Result) {
				if action == "checkupdates" {
					render.Line(w, res, render.Display(f.display), func(_ *rpc.Reply, d agentapi.CheckUpdatesResult) string {
						return fmt.Sprintf("%d outdated packages", d.Count)
					})
					return
				}
				render.Line(w, res, render.Display(f.display), func(_ *rpc.Reply, d agentapi.PackageStatus) string {
					s := "ensure = " + d.Ensure
					if d.Arch != "" {
						s += " (" + d.Arch + ")"
					}
					return s
				})
				w.summary("Ensure", render.Summarize(res, func(d agentapi.PackageStatus) string { return d.Ensure }))
			})
		})
	cmd.Long = cmd.Short + ".\n\nThe action and the package may come in either order, as mco took them: pulse package status httpd, pulse package httpd status."
	return cmd
}

// packageArgs reads `package ACTION PACKAGE` in either order, or
// `package checkupdates`.
func packageArgs(args []string) (action, name string, err error) {
	switch len(args) {
	case 1:
		if args[0] == "checkupdates" {
			return args[0], "", nil
		}
		if slices.Contains(packageActions, args[0]) {
			return "", "", usage("pulse package %s needs a package name", args[0])
		}
		return "", "", usage("pulse package %s needs an action: one of %s", args[0], strings.Join(packageActions, ", "))
	case 2:
		return actionAndName("package", packageActions, args[0], args[1])
	}
	return "", "", usage("pulse package takes an action and a package, got %d arguments", len(args))
}

func newServiceCmd() *cobra.Command {
	cmd := clientCmd("service SERVICE ACTION", "Start, stop, restart, reload or inspect a service on every matching node",
		func(_ *cobra.Command, args []string) error { _, _, err := serviceArgs(args); return err }, true,
		func(c *cobra.Command, f *clientFlags, cl *rpc.Client, args []string) error {
			action, name, _ := serviceArgs(args)
			return runAndSummarize(c, f, cl, "service", action, map[string]string{"service": name}, func(w *summaryWriter, res *rpc.Result) {
				render.Line(w, res, render.Display(f.display), func(_ *rpc.Reply, d agentapi.ServiceStatus) string {
					s := d.Status
					if d.Enabled != nil {
						s += map[bool]string{true: ", enabled", false: ", disabled"}[*d.Enabled]
					}
					return s
				})
				w.summary("Service Status", render.Summarize(res, func(d agentapi.ServiceStatus) string { return d.Status }))
			})
		})
	cmd.Long = cmd.Short + ".\n\nThe service and the action may come in either order, as mco took them: pulse service httpd status, pulse service status httpd."
	return cmd
}

// serviceArgs reads `service SERVICE ACTION` in either order.
func serviceArgs(args []string) (action, name string, err error) {
	if len(args) != 2 {
		return "", "", usage("pulse service takes a service and an action, got %d arguments", len(args))
	}
	return actionAndName("service", serviceActions, args[0], args[1])
}

// actionAndName reads the two words of `package` and `service` in either
// order, as mco did: the word that is an action is the action. Two actions
// are ambiguous and refused rather than guessed.
func actionAndName(cmd string, actions []string, a, b string) (action, name string, err error) {
	aIsAction, bIsAction := slices.Contains(actions, a), slices.Contains(actions, b)
	switch {
	case aIsAction && bIsAction:
		return "", "", usage("pulse %s %s %s is ambiguous: both words are actions; for a %s really named %q use pulse rpc %s %s %s=%s", cmd, a, b, cmd, b, cmd, a, cmd, b)
	case aIsAction:
		return a, b, nil
	case bIsAction:
		return b, a, nil
	}
	return "", "", usage("pulse %s %s %s names no action; use one of %s", cmd, a, b, strings.Join(actions, ", "))
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
				render.Line(w, res, render.Display(f.display), func(_ *rpc.Reply, d agentapi.NRPERunReply) string {
					return fmt.Sprintf("%-8s %s", d.Status, d.Output)
				})
				for _, c := range render.Summarize(res, func(d agentapi.NRPERunReply) string { return protocol.StateName(d.ExitCode) }) {
					counts[c.Value] = c.Count
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

func (w *summaryWriter) summary(title string, counts []render.FactCount) {
	fmt.Fprintln(w)
	render.Summary(w, title, counts)
}

// runAndSummarize runs one action, prints per-node lines and summaries via
// lines (or JSON), then the finishing line; the exit code follows the
// replies.
func runAndSummarize(c *cobra.Command, f *clientFlags, cl *rpc.Client, agent, action string, data any, lines func(*summaryWriter, *rpc.Result)) error {
	res, err := f.do(c, cl, agent, action, data)
	if err != nil {
		return err
	}
	if !f.json && len(res.Targets) == 0 {
		if res.NoMatch {
			fmt.Fprintln(c.OutOrStdout(), noMatchLine)
			return exitError{exitFailed}
		}
		fmt.Fprintln(c.OutOrStdout(), "No request sent, we did not discover any nodes.")
		return f.finish(c.ErrOrStderr(), res)
	}
	return f.output(c, res, res, func(out io.Writer) {
		w := &summaryWriter{&strings.Builder{}}
		lines(w, res)
		fmt.Fprintln(w)
		render.Finished(w, res)
		fmt.Fprint(out, w.String())
	})
}
