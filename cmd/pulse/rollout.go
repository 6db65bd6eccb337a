//go:build !agentonly

package main

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/pulseops/pulse/collector/api"
	"github.com/pulseops/pulse/collector/rollout"
	"github.com/pulseops/pulse/internal/protocol"
	"github.com/pulseops/pulse/internal/rpc"
)

// rolloutFlags are pulse rollout's own flags, beside the client flags.
type rolloutFlags struct {
	version      string
	canary       string
	batch        string
	batchSleep   time.Duration
	gates        []string
	gatesFile    string
	gateCount    int
	gateInterval time.Duration
	gateFailures int
	prometheus   string
	rollback     bool
	evidenceWait time.Duration
	stepTimeout  time.Duration
	committedAt  string
}

func newRolloutCmd() *cobra.Command {
	rf := &rolloutFlags{}
	cmd := clientCmd("rollout PACKAGE --version V", "Roll a package version out in steps, each judged by the changed nodes' checks, probes and PromQL gates; roll back when one fails",
		cobra.ExactArgs(1), false,
		func(c *cobra.Command, f *clientFlags, cl *rpc.Client, args []string) error {
			return runRollout(c, f, rf, cl, args[0])
		})
	cmd.Long = cmd.Short + `.

A canary first (--canary, 1 node), then batches (--batch, 25% of the nodes).
After each step every changed node runs its own checks and probes at once
(health#rerun) and each must be OK; then every --gate or --gates FILE gate is
measured against --prometheus. A step that fails halts the rollout and puts
every changed node back to the version it had (--rollback=false keeps them),
verifies that, and exits 1 with which gate failed on which nodes.

Gates: --gate 'NAME: QUERY OP NUMBER', e.g.
  --gate 'login: sum(rate(pulse_probe_failures_total{identity=~"{{nodes}}"}[1m])) < 0.1'
{{nodes}} is every node changed so far, as a regular expression; also
{{step_nodes}}, {{package}}, {{version}}. --gates FILE takes YAML with
name, query, success ("result >= 0.95"), count, interval, failure_limit
and initial_delay per gate (README, "Rollouts").`
	fs := cmd.Flags()
	fs.StringVar(&rf.version, "version", "", "the version to roll out (required)")
	fs.StringVar(&rf.canary, "canary", rollout.DefaultCanary, "nodes in the first step, N or N% (0: no canary)")
	fs.StringVar(&rf.batch, "batch", rollout.DefaultBatch, "nodes in each step after the canary, N or N%")
	secondsVar(fs, &rf.batchSleep, "batch-sleep", 0, "pause between steps")
	fs.StringArrayVar(&rf.gates, "gate", nil, "a PromQL gate, 'NAME: QUERY OP NUMBER' (repeatable)")
	fs.StringVar(&rf.gatesFile, "gates", "", "YAML file of PromQL gates")
	fs.IntVar(&rf.gateCount, "gate-count", 1, "measurements of each --gate")
	secondsVar(fs, &rf.gateInterval, "gate-interval", 10*time.Second, "time between a --gate's measurements")
	fs.IntVar(&rf.gateFailures, "gate-failure-limit", 0, "failed measurements a --gate tolerates")
	fs.StringVar(&rf.prometheus, "prometheus", "", "Prometheus base URL the gates query (default: the gates file's prometheus:)")
	fs.BoolVar(&rf.rollback, "rollback", true, "when a step fails, put every changed node back to its version")
	secondsVar(fs, &rf.evidenceWait, "evidence-wait", rollout.DefaultEvidenceWait, "how long each node may take to run its checks and probes after the change")
	secondsVar(fs, &rf.stepTimeout, "step-timeout", 5*time.Minute, "how long a step waits for the package manager on its nodes")
	fs.StringVar(&rf.committedAt, "committed-at", "", "when the change was committed (RFC 3339, or Unix seconds), for lead time")
	return cmd
}

// request turns the flags into the rollout the collector's API takes too.
func (rf *rolloutFlags) request(f *clientFlags, pkg string) (api.RolloutRequest, string, error) {
	req := api.RolloutRequest{Package: pkg, Version: rf.version, Canary: rf.canary, Batch: rf.batch, BatchSleep: api.Duration(rf.batchSleep),
		Rollback: &rf.rollback, EvidenceWait: api.Duration(rf.evidenceWait)}
	if rf.version == "" {
		return req, "", usage("pulse rollout %s needs --version, the version to roll out", pkg)
	}
	call, err := f.call("package", "status", nil)
	if err != nil {
		return req, "", err
	}
	req.Filter, req.Nodes = call.Filter, call.Nodes
	prom := rf.prometheus
	if rf.gatesFile != "" {
		gf, err := rollout.LoadGates(rf.gatesFile)
		if err != nil {
			return req, "", usageError{err}
		}
		req.Gates = append(req.Gates, gf.Gates...)
		if prom == "" {
			prom = gf.Prometheus
		}
	}
	for _, s := range rf.gates {
		g, err := rollout.ParseInlineGate(s, rf.gateCount, rf.gateFailures, rf.gateInterval)
		if err != nil {
			return req, "", usageError{err}
		}
		req.Gates = append(req.Gates, g)
	}
	if rf.committedAt != "" {
		t, err := parseTimeFlag(rf.committedAt)
		if err != nil {
			return req, "", usage("--committed-at %q: %v", rf.committedAt, err)
		}
		req.CommittedAt = t
	}
	return req, prom, nil
}

func runRollout(c *cobra.Command, f *clientFlags, rf *rolloutFlags, cl *rpc.Client, pkg string) error {
	req, prom, err := rf.request(f, pkg)
	if err != nil {
		return err
	}
	ctx := c.Context()
	js, err := jetstream.New(f.nc)
	if err != nil {
		return err
	}
	locks, err := rollout.OpenLocks(ctx, js, f.collective, nil)
	if err != nil {
		return err
	}
	if err := rollout.EnsureRecords(ctx, js, f.collective, 1); err != nil {
		return err
	}
	// Progress goes to stdout, or to stderr beside --json's record.
	progress := c.OutOrStdout()
	if f.json {
		progress = c.ErrOrStderr()
	}
	runner, err := rollout.New(rollout.Options{
		Client: cl, Caller: f.caller, Via: protocol.ViaCLI, Prometheus: prom, Locks: locks,
		Publish:  rollout.NewRecorder(js, f.collective, f.caller, f.signer).Publish,
		Progress: func(line string) { fmt.Fprintln(progress, line) },
		Timeout:  rf.stepTimeout, DiscoveryTimeout: f.discoveryTimeout,
	})
	if err != nil {
		return err
	}
	start := time.Now()
	rec, err := runner.Run(ctx, req)
	if err != nil {
		var ue *rollout.UsageError
		if errors.As(err, &ue) {
			return usageError{err}
		}
		return err
	}
	if f.json {
		if err := printJSON(c.OutOrStdout(), rec); err != nil {
			return err
		}
	} else {
		renderRolloutEnd(c.OutOrStdout(), &rec, time.Since(start))
	}
	if rec.State != api.RolloutSucceeded {
		return exitError{exitFailed}
	}
	return nil
}

// renderRolloutEnd is the last lines of a rollout: how it ended, and where
// its nodes are.
func renderRolloutEnd(w io.Writer, r *api.Rollout, took time.Duration) {
	fmt.Fprintln(w)
	counts := map[api.NodeState]int{}
	for _, n := range r.Nodes {
		counts[n.State]++
	}
	var parts []string
	for _, s := range []api.NodeState{api.NodeChanged, api.NodeUnchanged, api.NodeRolledBack, api.NodeRollbackFailed, api.NodeFailed, api.NodeSkipped, api.NodePending} {
		if counts[s] > 0 {
			parts = append(parts, fmt.Sprintf("%s = %d", s, counts[s]))
		}
	}
	fmt.Fprintf(w, "Summary of Nodes: %s\n\n", strings.Join(parts, ", "))
	line := fmt.Sprintf("Rollout %s of %s %s %s", r.ID, r.Package, r.Version, strings.ReplaceAll(string(r.State), "_", " "))
	if r.Reason != "" {
		line += ": " + r.Reason
	}
	fmt.Fprintln(w, line)
	fmt.Fprintf(w, "Finished %d of %d steps on %d nodes in %.2f ms\n", finishedSteps(r), len(r.Steps), len(r.Nodes), ms(took))
}

func finishedSteps(r *api.Rollout) int {
	n := 0
	for _, s := range r.Steps {
		if s.State == api.StepPassed || s.State == api.StepFailed {
			n++
		}
	}
	return n
}

// parseTimeFlag reads RFC 3339 or Unix seconds.
func parseTimeFlag(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	var secs int64
	if _, err := fmt.Sscanf(s, "%d", &secs); err == nil && fmt.Sprint(secs) == s {
		return time.Unix(secs, 0).UTC(), nil
	}
	return time.Time{}, errors.New("use RFC 3339 (2026-11-25T10:32:00Z) or Unix seconds")
}

func newRolloutsCmd() *cobra.Command {
	f := &apiFlags{}
	root := &cobra.Command{
		Use:   "rollouts",
		Short: "List rollouts: who started which version where, and how each ended",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			cl, err := f.client(c)
			if err != nil {
				return err
			}
			var out []api.Rollout
			if err := cl.Do("GET", "/api/v1/rollouts", nil, &out); err != nil {
				return err
			}
			if f.json {
				return printJSON(c.OutOrStdout(), out)
			}
			renderRollouts(c.OutOrStdout(), out)
			return nil
		},
	}
	addAPIFlags(root, f)
	show := &cobra.Command{
		Use: "show ID", Short: "Show one rollout: its steps, each gate's measurements, and every node", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			cl, err := f.client(c)
			if err != nil {
				return err
			}
			var rec api.Rollout
			if err := cl.Do("GET", "/api/v1/rollouts/"+args[0], nil, &rec); err != nil {
				return err
			}
			if f.json {
				return printJSON(c.OutOrStdout(), rec)
			}
			renderRollout(c.OutOrStdout(), &rec)
			return nil
		},
	}
	root.AddCommand(show)
	return root
}

func renderRollouts(w io.Writer, recs []api.Rollout) {
	if len(recs) == 0 {
		fmt.Fprintln(w, "No rollouts yet.")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tPACKAGE\tVERSION\tNODES\tSTEPS\tSTATE\tBY\tSTARTED\tTOOK")
	for _, r := range recs {
		took := ""
		if !r.Finished.IsZero() {
			took = fmt.Sprintf("%.1fs", r.Finished.Sub(r.Started).Seconds())
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d/%d\t%s\t%s\t%s\t%s\n", r.ID, r.Package, r.Version, len(r.Nodes), finishedSteps(&r), len(r.Steps),
			r.State, r.StartedBy, r.Started.Local().Format("15:04:05"), took)
	}
	tw.Flush()
}

// renderRollout shows one rollout in full.
func renderRollout(w io.Writer, r *api.Rollout) {
	fmt.Fprintf(w, "Rollout %s of %s %s: %s\n", r.ID, r.Package, r.Version, r.State)
	if r.Reason != "" {
		fmt.Fprintf(w, "  %s\n", r.Reason)
	}
	fmt.Fprintf(w, "  started by %s (%s) at %s", r.StartedBy, r.Via, r.Started.Local().Format("2006-01-02 15:04:05"))
	if !r.Finished.IsZero() {
		fmt.Fprintf(w, ", took %s", r.Finished.Sub(r.Started).Round(100*time.Millisecond))
	}
	fmt.Fprintf(w, "; canary %s, batches of %s, rollback %v\n", r.Canary, r.Batch, r.Rollback)
	if !r.CommittedAt.IsZero() {
		fmt.Fprintf(w, "  committed at %s\n", r.CommittedAt.Local().Format("2006-01-02 15:04:05"))
	}
	for _, s := range r.Steps {
		fmt.Fprintf(w, "\nstep %s (%s): %s\n", s.Name, strings.Join(s.Nodes, ", "), s.State)
		for _, e := range s.Evidence {
			var parts []string
			for _, j := range append(append([]api.JobResult{}, e.Checks...), e.Probes...) {
				st := j.State
				if j.Pending {
					st = "NOT RUN"
				}
				parts = append(parts, j.Name+" "+st)
			}
			if e.Error != "" {
				parts = append(parts, "error: "+e.Error)
			}
			fmt.Fprintf(w, "  evidence %-24s %s\n", e.Identity, strings.Join(parts, ", "))
		}
		for _, g := range s.Gates {
			fmt.Fprintf(w, "  gate %s (%s): %s\n", g.Name, g.Success, g.State)
			fmt.Fprintf(w, "    query: %s\n", g.Query)
			for i, m := range g.Measurements {
				val := m.Error
				if val == "" {
					var vs []string
					for _, sm := range m.Samples {
						vs = append(vs, strings.TrimSpace(strings.TrimPrefix(sm.Labels, "{}")+" "+fmt.Sprint(sm.Value)))
					}
					val = strings.Join(vs, ", ") + map[bool]string{true: "  passed", false: "  FAILED"}[m.Passed]
				}
				fmt.Fprintf(w, "    %d. %s  %s\n", i+1, m.Time.Local().Format("15:04:05"), val)
			}
			if g.Reason != "" {
				fmt.Fprintf(w, "    %s\n", g.Reason)
			}
		}
		for _, fl := range s.Failures {
			where := ""
			if fl.Node != "" {
				where = " on " + fl.Node
			}
			fmt.Fprintf(w, "  FAILED %s%s: %s\n", fl.Gate, where, fl.Message)
		}
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tSTEP\tBEFORE\tNOW\tSTATE\t")
	for _, n := range r.Nodes {
		step := ""
		if n.Step >= 0 && n.Step < len(r.Steps) {
			step = r.Steps[n.Step].Name
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", n.Identity, step, n.Before, n.After, n.State, n.Message)
	}
	tw.Flush()
}
