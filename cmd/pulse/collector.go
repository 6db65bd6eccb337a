//go:build !agentonly

package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/pulseops/pulse/collector/app"
)

func newCollectorCmd() *cobra.Command {
	var cfgPath, logLevel string
	cmd := &cobra.Command{
		Use:   "collector",
		Short: "Run the collector: Prometheus metrics keyed by facts, the node API, actions and remediation",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			cfg, err := app.LoadConfig(cfgPath)
			if err != nil {
				return usageError{err}
			}
			opts, err := cfg.Options()
			if err != nil {
				return usageError{err}
			}
			opts.Collector.Logger = newLogger(logLevel)
			if cfg.AuditLog != "" {
				audit, err := os.OpenFile(cfg.AuditLog, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
				if err != nil {
					return usageError{fmt.Errorf("audit log: %w", err)}
				}
				defer audit.Close()
				opts.Audit = audit
			}
			a, err := app.New(opts)
			if err != nil {
				return usageError{err}
			}
			return a.Run(c.Context())
		},
	}
	cmd.Flags().StringVar(&cfgPath, "config", "/etc/pulse/collector.yaml", "collector config file")
	cmd.Flags().StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn, error")
	return cmd
}
