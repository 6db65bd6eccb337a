//go:build !agentonly

package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/pulseops/pulse/collector/api"
	"github.com/pulseops/pulse/demo"
	"github.com/pulseops/pulse/internal/config"
)

// apiFlags are the flags of commands that talk to the collector's HTTP API.
type apiFlags struct {
	collector string
	token     string
	json      bool
}

func addAPIFlags(c *cobra.Command, f *apiFlags) {
	c.PersistentFlags().StringVar(&f.collector, "collector", "http://127.0.0.1:9780", "collector URL")
	c.PersistentFlags().StringVar(&f.token, "token", "", "bearer token for the collector's action API (default: PULSE_TOKEN, then the demo's token file)")
	c.PersistentFlags().BoolVar(&f.json, "json", false, "print machine-readable JSON")
}

// demoTokenFile is where pulse demo leaves its action token for the CLI.
func demoTokenFile() string {
	d, err := os.UserConfigDir()
	if err != nil {
		return ""
	}
	return filepath.Join(d, "pulse", demo.TokenFileName)
}

func (f *apiFlags) client(c *cobra.Command) (*api.Client, error) {
	if err := config.Resolve(c.Flags(), "PULSE", nil); err != nil {
		return nil, usageError{err}
	}
	return &api.Client{Base: f.collector, Token: tokenOrDemo(f.token)}, nil
}

// tokenOrDemo is the token given, else the one a running pulse demo left.
func tokenOrDemo(tok string) string {
	if tok != "" {
		return tok
	}
	if b, err := os.ReadFile(demoTokenFile()); err == nil {
		return strings.TrimSpace(string(b))
	}
	return ""
}

func newRemediationsCmd() *cobra.Command {
	f := &apiFlags{}
	var states []string
	root := &cobra.Command{
		Use:   "remediations",
		Short: "List what the collector decided for each alert: remediations run, deferred and skipped, with why; approve or reject pending ones",
		Long: "remediations lists every decision the collector's remediation engine keeps, oldest first: remediations\n" +
			"running, pending approval, done (succeeded, failed, ineffective, dry_run, rejected), deferred until a guard\n" +
			"lifts, and skipped, each with the alert it answered, the nodes and the reason.",
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			for _, s := range states {
				if !slices.Contains(remediationStates, api.RemediationState(s)) {
					return usage("--state %q: use one of %s", s, strings.Join(stateNames(), ", "))
				}
			}
			cl, err := f.client(c)
			if err != nil {
				return err
			}
			var out struct {
				Remediations []api.Remediation `json:"remediations"`
			}
			if err := cl.Do("GET", "/api/v1/remediations", nil, &out); err != nil {
				return err
			}
			recs := out.Remediations
			if len(states) > 0 {
				recs = slices.DeleteFunc(recs, func(r api.Remediation) bool { return !slices.Contains(states, string(r.State)) })
			}
			if f.json {
				return printJSON(c.OutOrStdout(), recs)
			}
			renderRemediations(c.OutOrStdout(), recs, time.Local)
			return nil
		},
	}
	addAPIFlags(root, f)
	root.Flags().StringSliceVar(&states, "state", nil, "only records in these states (comma-separated): "+strings.Join(stateNames(), ", "))
	show := &cobra.Command{
		Use: "show ID", Short: "Show one remediation in full", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			cl, err := f.client(c)
			if err != nil {
				return err
			}
			var rec api.Remediation
			if err := cl.Do("GET", "/api/v1/remediations/"+args[0], nil, &rec); err != nil {
				return err
			}
			return printJSON(c.OutOrStdout(), rec)
		},
	}
	decide := func(verb string) *cobra.Command {
		return &cobra.Command{
			Use: verb + " ID", Short: strings.ToUpper(verb[:1]) + verb[1:] + " a remediation waiting for approval", Args: cobra.ExactArgs(1),
			RunE: func(c *cobra.Command, args []string) error {
				cl, err := f.client(c)
				if err != nil {
					return err
				}
				var rec api.Remediation
				if err := cl.Do("POST", "/api/v1/remediations/"+args[0]+"/"+verb, map[string]string{"by": caller()}, &rec); err != nil {
					return err
				}
				if f.json {
					return printJSON(c.OutOrStdout(), rec)
				}
				fmt.Fprintf(c.OutOrStdout(), "%s %sd: now %s\n", rec.ID, verb, rec.State)
				return nil
			},
		}
	}
	reset := &cobra.Command{
		Use: "reset-circuit RULE", Short: "Let a rule stopped by its circuit breaker act again", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			cl, err := f.client(c)
			if err != nil {
				return err
			}
			if err := cl.Do("POST", "/api/v1/remediations/circuits/"+args[0]+"/reset", nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(c.OutOrStdout(), "circuit of %s reset\n", args[0])
			return nil
		},
	}
	root.AddCommand(show, decide("approve"), decide("reject"), reset)
	return root
}

// remediationStates are the states a record can be in, for --state.
var remediationStates = []api.RemediationState{
	api.StateRunning, api.StatePending, api.StateDeferred, api.StateSucceeded, api.StateFailed,
	api.StateIneffective, api.StateDryRun, api.StateRejected, api.StateSkipped,
}

func stateNames() []string {
	var out []string
	for _, s := range remediationStates {
		out = append(out, string(s))
	}
	return out
}

// renderRemediations prints one line per record and, under it, why it is
// deferred or skipped, what a dry run would have done, or the error.
func renderRemediations(w io.Writer, recs []api.Remediation, loc *time.Location) {
	if len(recs) == 0 {
		fmt.Fprintln(w, "No remediations yet.")
		return
	}
	// The table is aligned on its own, then each row gets its note
	// (why it waits, why it was skipped, the error) on the line under it.
	var table strings.Builder
	tw := tabwriter.NewWriter(&table, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tRULE\tALERT\tTARGETS\tSTATE\tREASON\tVERIFIED\tDECIDED\tTOOK")
	counts := map[api.RemediationState]int{}
	notes := make([]string, len(recs))
	for i, r := range recs {
		counts[r.State]++
		took := ""
		if !r.Finished.IsZero() && !r.Started.IsZero() {
			took = r.Finished.Sub(r.Started).Round(10e6).String()
		}
		decided := r.Decided
		if decided.IsZero() {
			decided = r.Created
		}
		verified := map[bool]string{true: "yes", false: "no"}[r.Verified]
		if r.VerifyCheck == "" || r.Started.IsZero() {
			verified = "-"
		}
		targets := strings.Join(r.Targets, ",")
		if targets == "" {
			targets = "-"
		}
		reason := string(r.Reason)
		if reason == "" {
			reason = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Rule, r.Alert.Name, targets, r.State, reason, verified, decided.In(loc).Format("15:04:05"), took)
		switch {
		case r.Error != "":
			notes[i] = "error: " + r.Error
		case r.State == api.StateDeferred && !r.Retry.IsZero():
			notes[i] = fmt.Sprintf("%s; decided again at %s at the latest", r.Detail, r.Retry.In(loc).Format("15:04:05"))
		case r.State == api.StateDeferred:
			notes[i] = r.Detail + "; decided again when it ends"
		case r.State != api.StatePending:
			notes[i] = r.Detail
		}
	}
	tw.Flush()
	lines := strings.Split(strings.TrimSuffix(table.String(), "\n"), "\n")
	fmt.Fprintln(w, strings.TrimRight(lines[0], " "))
	for i, l := range lines[1:] {
		fmt.Fprintln(w, strings.TrimRight(l, " "))
		if notes[i] != "" {
			fmt.Fprintln(w, "    "+notes[i])
		}
	}
	var parts []string
	for _, s := range remediationStates {
		if counts[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[s], s))
		}
	}
	noun := "records"
	if len(recs) == 1 {
		noun = "record"
	}
	fmt.Fprintf(w, "\n%d %s: %s\n", len(recs), noun, strings.Join(parts, ", "))
}
