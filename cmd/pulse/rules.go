//go:build !agentonly

package main

import (
	"github.com/spf13/cobra"

	"github.com/pulseops/pulse/rules"
)

func newRulesCmd() *cobra.Command {
	root := &cobra.Command{Use: "rules", Short: "Generate Prometheus rules"}
	var spec string
	slo := &cobra.Command{
		Use:   "slo [--spec FILE]",
		Short: "Turn an SLO spec into recording rules and multi-window burn-rate alerts",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) == 1 {
				spec = args[0]
			}
			if spec == "" {
				return usage("pulse rules slo needs --spec FILE (e.g. rules/slo/login.yaml)")
			}
			s, err := rules.LoadSLO(spec)
			if err != nil {
				return usageError{err}
			}
			b, err := rules.GenerateSLO(s)
			if err != nil {
				return usageError{err}
			}
			_, err = c.OutOrStdout().Write(b)
			return err
		},
	}
	slo.Flags().StringVar(&spec, "spec", "", "SLO spec file")
	var demo bool
	fleet := &cobra.Command{
		Use:   "fleet",
		Short: "Print the fleet alerting rules (--demo for the demo's short waits)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			o := rules.DefaultFleetOptions()
			if demo {
				o = rules.DemoFleetOptions()
			}
			b, err := rules.FleetRules(o)
			if err != nil {
				return err
			}
			_, err = c.OutOrStdout().Write(b)
			return err
		},
	}
	fleet.Flags().BoolVar(&demo, "demo", false, "short waits, as pulse demo uses")
	root.AddCommand(slo, fleet)
	return root
}
