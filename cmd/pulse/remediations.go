//go:build !agentonly

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

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
	root := &cobra.Command{
		Use:   "remediations",
		Short: "List remediations the collector ran for alerts; approve or reject pending ones",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
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
			if f.json {
				return printJSON(c.OutOrStdout(), out.Remediations)
			}
			renderRemediations(c, out.Remediations)
			return nil
		},
	}
	addAPIFlags(root, f)
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

func renderRemediations(c *cobra.Command, recs []api.Remediation) {
	if len(recs) == 0 {
		fmt.Fprintln(c.OutOrStdout(), "No remediations yet.")
		return
	}
	tw := tabwriter.NewWriter(c.OutOrStdout(), 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tRULE\tALERT\tTARGETS\tSTATE\tVERIFIED\tSTARTED\tTOOK")
	for _, r := range recs {
		took := ""
		if !r.Finished.IsZero() && !r.Started.IsZero() {
			took = r.Finished.Sub(r.Started).Round(10e6).String()
		}
		started := r.Created.Local().Format("15:04:05")
		verified := map[bool]string{true: "yes", false: "no"}[r.Verified]
		if r.VerifyCheck == "" {
			verified = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Rule, r.Alert.Name, strings.Join(r.Targets, ","), r.State, verified, started, took)
		if r.Error != "" {
			fmt.Fprintf(tw, "\t\terror: %s\n", r.Error)
		}
	}
	tw.Flush()
}
