//go:build !agentonly

package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"time"

	"github.com/spf13/cobra"

	"github.com/pulseops/pulse/bench"
)

// newBenchCmd is `pulse bench`: it turns flags into bench.Options and the
// report into a table, JSON and a PNG.
func newBenchCmd() *cobra.Command {
	var (
		nodes                   []int
		checks, rounds          int
		natsURL, jsonFile, plot string
		security                []string
		interval                time.Duration
		logs                    logFlags
	)
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure ping, facts, restart, ingest and /metrics against a simulated fleet of N real agents",
		Long: "pulse bench starts N in-process node agents (each with its own NATS connection), a collector and a client,\n" +
			"and times them beside a raw nats.go baseline in the same run. Fleets above 5,000 nodes run the broker\n" +
			"in another process (`pulse broker`), because an embedded broker costs each agent two of this process's file descriptors.",
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			log, err := logs.logger()
			if err != nil {
				return err
			}
			exe, err := os.Executable()
			if err != nil {
				return fmt.Errorf("find the pulse executable to run the broker with: %w", err)
			}
			rep, err := bench.Run(c.Context(), bench.Options{
				Nodes: nodes, Checks: checks, Rounds: rounds, CheckInterval: interval, NATSURL: natsURL,
				Out: c.ErrOrStderr(), Logger: log,
				Security: security,
				BrokerCommand: func(addr, dir, auth string) *exec.Cmd {
					args := []string{"broker", "--listen", addr, "--jetstream", dir, "--log-level", "error"}
					if auth != "" {
						args = append(args, "--auth", auth)
					}
					return exec.Command(exe, args...)
				},
			})
			if err != nil {
				if errors.Is(err, bench.ErrOptions) {
					return usageError{err}
				}
				return err
			}
			if err := rep.WriteTable(c.OutOrStdout()); err != nil {
				return err
			}
			if jsonFile != "" {
				if err := writeFile(jsonFile, rep.WriteJSON); err != nil {
					return err
				}
			}
			if plot != "" {
				if err := writeFile(plot, rep.WritePNG); err != nil {
					return err
				}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.IntSliceVar(&nodes, "nodes", []int{100, 1000}, "fleet sizes to run, comma separated: 100, 1000, 5000, 10000")
	f.IntVar(&checks, "checks", 10, "checks every agent reports per interval")
	f.IntVar(&rounds, "rounds", 3, "timed repetitions of each fan-out (after one untimed warm-up), and check intervals of ingest")
	f.DurationVar(&interval, "interval", 10*time.Second, "check interval of the ingest load")
	f.StringVar(&natsURL, "nats", "", "run against this NATS server (with JetStream) instead of starting one")
	f.StringSliceVar(&security, "security", []string{"open"}, "open (anyone may publish anything), secured (every process with its own issued credentials, requests signed, replies authenticated by the broker), or open,secured to measure both")
	f.StringVar(&jsonFile, "json", "", "also write the report as JSON to this file")
	f.StringVar(&plot, "plot", "", "also draw latency against fleet size as a PNG to this file")
	logs.register(f, "error")
	return cmd
}

func writeFile(name string, write func(w io.Writer) error) error {
	f, err := os.Create(name)
	if err != nil {
		return fmt.Errorf("create %s: %w", name, err)
	}
	if err := write(f); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", name, err)
	}
	return f.Close()
}
