//go:build agentonly

package main

import "github.com/spf13/cobra"

const longHelp = "pulse joins mco-style orchestration with Prometheus monitoring over one NATS bus.\n\nThis is the agent-only build of pulse (go build -tags agentonly): it runs the node agent, prints its facts and manages its key. The client, collector, broker and demo are in the full build."

// commands are what a node runs: the agent, its facts as facter showed them,
// and keys for the agent's own signing key. Leaving the rest out of the
// binary is what makes the agent small (BENCHMARKS.md).
func commands() []*cobra.Command {
	return []*cobra.Command{newAgentCmd(), newLocalFactsCmd(), newKeysCmd()}
}

// issuerCommands are the operator's, not a node's: the agent-only build has
// none.
func issuerCommands() []*cobra.Command { return nil }
