//go:build !agentonly

package main

import "github.com/spf13/cobra"

const longHelp = "pulse joins mco-style orchestration (ping, facts, package, service, nrpe) with Prometheus monitoring over one NATS bus.\n\nStart with `pulse demo`, then `pulse ping` in another terminal."

// commands are every command of the full build. The agent-only build
// (commands_agent.go) has just what a node runs.
func commands() []*cobra.Command {
	return []*cobra.Command{
		newPingCmd(), newFindCmd(), newFactsCmd(), newInventoryCmd(), newRPCCmd(),
		newPackageCmd(), newServiceCmd(), newNRPECmd(), newURLTestCmd(),
		newAlertsCmd(), newRemediationsCmd(), newRolloutCmd(), newRolloutsCmd(), newWatchCmd(),
		newAgentCmd(), newCollectorCmd(), newBrokerCmd(), newDemoCmd(), newShopCmd(),
		newRulesCmd(), newDashboardsCmd(), newKeysCmd(), newBenchCmd(),
	}
}
