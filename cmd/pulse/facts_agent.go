//go:build agentonly

package main

import (
	"github.com/spf13/cobra"

	"github.com/pulseops/pulse/internal/config"
)

// newLocalFactsCmd is `pulse facts --local` for nodes: the agent-only build
// has no client, so its facts are always this machine's.
func newLocalFactsCmd() *cobra.Command {
	lf := &localFacts{}
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "facts [FACT ...]",
		Short: "Print this machine's facts as the agent gathers them, like facter (--local is implied)",
		RunE: func(c *cobra.Command, args []string) error {
			if err := config.Resolve(c.Flags(), "PULSE", nil); err != nil {
				return usageError{err}
			}
			return lf.run(c.Context(), c, args, asJSON)
		},
	}
	addLocalFactsFlags(cmd.Flags(), lf)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the facts nested, as JSON")
	return cmd
}
