//go:build !agentonly

package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/pulseops/pulse/collector/api"
)

func newAlertsCmd() *cobra.Command {
	f := &apiFlags{}
	cmd := &cobra.Command{
		Use:   "alerts",
		Short: "List the firing alerts, the nodes each is about and the remediation each triggered",
		Long: "alerts asks the collector (GET /api/v1/alerts) what is firing: from Alertmanager's API when the collector\n" +
			"is told where it is (alertmanager_url), else from what Alertmanager's webhook sent it. Each alert shows the\n" +
			"nodes it is about and the newest remediation decision it led to: run, deferred or skipped, and why.",
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			cl, err := f.client(c)
			if err != nil {
				return err
			}
			var v api.AlertsView
			if err := cl.Do("GET", "/api/v1/alerts", nil, &v); err != nil {
				return err
			}
			if f.json {
				return printJSON(c.OutOrStdout(), v)
			}
			renderAlerts(c.OutOrStdout(), c.ErrOrStderr(), v, time.Now())
			return nil
		},
	}
	addAPIFlags(cmd, f)
	return cmd
}

// renderAlerts prints one line per alert, the worst first, then where the
// list came from.
func renderAlerts(w, errw io.Writer, v api.AlertsView, now time.Time) {
	if v.Error != "" {
		fmt.Fprintf(errw, "pulse alerts: %s\n", v.Error)
	}
	if len(v.Alerts) > 0 {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ALERT\tSEVERITY\tSTATE\tNODES\tFOR\tREMEDIATION")
		for _, a := range v.Alerts {
			nodes := strings.Join(a.Nodes, ",")
			if nodes == "" && a.Labels["az"] != "" {
				nodes = "zone " + a.Labels["az"]
			}
			rem := "none"
			if r := a.Remediation; r != nil {
				rem = fmt.Sprintf("%s %s (%s)", r.ID, r.State, r.Rule)
				if r.Reason != "" && r.Reason != api.ReasonDryRun {
					rem = fmt.Sprintf("%s %s: %s (%s)", r.ID, r.State, r.Reason, r.Rule)
				}
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", a.Name, dash(a.Severity), a.State, dash(nodes), since(now, a.StartsAt), rem)
		}
		tw.Flush()
		fmt.Fprintln(w)
	}
	noun := "alerts"
	if len(v.Alerts) == 1 {
		noun = "alert"
	}
	fmt.Fprintf(w, "%d %s firing (from %s)\n", len(v.Alerts), noun, v.Source)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// since says how long ago t was, to the second below a minute.
func since(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := now.Sub(t)
	if d < time.Minute {
		return d.Round(time.Second).String()
	}
	return d.Round(time.Minute).String()
}
