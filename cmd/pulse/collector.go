//go:build !agentonly

package main

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/pulseops/pulse/collector/app"
)

func newCollectorCmd() *cobra.Command {
	var (
		cfgPath string
		logs    logFlags
	)
	cmd := &cobra.Command{
		Use:   "collector",
		Short: "Run the collector: Prometheus metrics keyed by facts, the node API, actions and remediation",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			log, err := logs.logger()
			if err != nil {
				return err
			}
			cfg, err := app.LoadConfig(cfgPath)
			if err != nil {
				return usageError{err}
			}
			// Options reads the files the config names; its errors name
			// the key and its line.
			opts, err := cfg.Options()
			if err != nil {
				return usageError{err}
			}
			opts.Collector.Logger = log
			if cfg.AuditLog != "" {
				audit, err := os.OpenFile(cfg.AuditLog, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
				if err != nil {
					return usageError{cfg.Ref(err, "audit_log")}
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
	logs.register(cmd.Flags(), "info")
	return cmd
}
