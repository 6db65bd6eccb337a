//go:build !agentonly

package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/pulseops/pulse/dashboards"
)

// newDashboardsCmd groups the Grafana dashboard commands.
func newDashboardsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dashboards",
		Short: "Grafana dashboards as code: fleet, service and login SLO",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newDashboardsGenerateCmd())
	return cmd
}

func newDashboardsGenerateCmd() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:     "generate",
		Short:   "Write the dashboards' JSON into a directory (dashboards/json in the repository)",
		Example: "  pulse dashboards generate --out dashboards/json",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if out == "" {
				return usage("--out is required: the directory to write the dashboards' JSON into")
			}
			files, err := dashboards.WriteDir(out)
			if err != nil {
				return err
			}
			for _, f := range files {
				fmt.Fprintln(c.OutOrStdout(), f)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "directory to write the JSON files into (created when missing)")
	return cmd
}
