package main

import (
	"fmt"
	"os"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/pulseops/pulse/internal/config"
	"github.com/pulseops/pulse/internal/procmem"
	"github.com/pulseops/pulse/nodeagent"
)

func newAgentCmd() *cobra.Command {
	var (
		cfgPath string
		logs    logFlags
		check   bool
	)
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run the node agent: answer requests, heartbeat facts, run checks and probes",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := config.Resolve(c.Flags(), "PULSE", nil); err != nil {
				return usageError{err}
			}
			// The agent's live heap is a few MB, which Go's default GOGC=100
			// lets garbage double; collecting at 25% costs no measurable CPU
			// at this size (BENCHMARKS.md). GOGC in the environment wins.
			if os.Getenv("GOGC") == "" {
				debug.SetGCPercent(25)
			}
			log, err := logs.logger()
			if err != nil {
				return err
			}
			cfg, err := nodeagent.LoadConfig(cfgPath)
			if err != nil {
				return usageError{err}
			}
			if check {
				opts, err := cfg.Check(c.Context(), log)
				if err != nil {
					// Its errors name the file, the key and its line.
					return usageError{err}
				}
				fmt.Fprintf(c.OutOrStdout(), "%s: OK (%d agents, %d scheduled jobs)\n", cfgPath, len(opts.Agents)+1, len(opts.Jobs))
				return nil
			}
			opts, err := cfg.Build(c.Context(), log)
			if err != nil {
				return usageError{err}
			}
			nc, err := cfg.Connect(log)
			if err != nil {
				return err
			}
			opts.Conn = nc
			a, err := nodeagent.New(opts)
			if err != nil {
				return usageError{err}
			}
			if err := a.Start(c.Context()); err != nil {
				return err
			}
			// Most of the binary is the broker, collector and client, which
			// an agent never runs; give back what starting up touched.
			if kb, err := procmem.ReleaseCode(); err != nil {
				log.Warn("release start-up memory", "err", err)
			} else {
				log.Debug("released start-up memory", "kB", kb)
			}
			<-c.Context().Done()
			a.Stop()
			return nil
		},
	}
	cmd.Flags().StringVar(&cfgPath, "config", "/etc/pulse/agent.yaml", "agent config file")
	logs.register(cmd.Flags(), "info")
	cmd.Flags().BoolVar(&check, "config-check", false, "validate the config and exit")
	return cmd
}
