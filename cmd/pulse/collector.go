//go:build !agentonly

package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/pulseops/pulse/collector"
	"github.com/pulseops/pulse/collector/remediation"
	"github.com/pulseops/pulse/internal/bus"
	"github.com/pulseops/pulse/internal/security"
)

func newCollectorCmd() *cobra.Command {
	var cfgPath, logLevel string
	cmd := &cobra.Command{
		Use:   "collector",
		Short: "Run the collector: Prometheus metrics keyed by facts, the node API, actions and remediation",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			cfg, err := collector.LoadConfig(cfgPath)
			if err != nil {
				return usageError{err}
			}
			log := newLogger(logLevel)
			actionTok, err := collector.ReadToken(cfg.ActionTokenFile)
			if err != nil {
				return usageError{err}
			}
			alertTok, err := collector.ReadToken(cfg.AlertTokenFile)
			if err != nil {
				return usageError{err}
			}
			var rs *remediation.RuleSet
			if cfg.RemediationRules != "" {
				if rs, err = remediation.LoadRules(cfg.RemediationRules); err != nil {
					return usageError{err}
				}
			}
			var audit *os.File
			if cfg.AuditLog != "" {
				if audit, err = os.OpenFile(cfg.AuditLog, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600); err != nil {
					return usageError{fmt.Errorf("audit log: %w", err)}
				}
				defer audit.Close()
			}
			bc := cfg.NATS
			if bc.Name == "" {
				bc.Name = "pulse collector"
			}
			nc, err := bus.Connect(bc, log)
			if err != nil {
				return err
			}
			defer nc.Close()
			opts := collector.ServerOptions{
				Listen: cfg.Listen, Rules: rs, ActionToken: actionTok, AlertToken: alertTok,
				TLSCertFile: cfg.TLSCertFile, TLSKeyFile: cfg.TLSKeyFile,
				Collector: collector.Options{
					Conn: nc, Collective: cfg.Collective, Labels: cfg.Labels, MaxLabelValues: cfg.MaxLabelValues,
					MaxSeries: cfg.MaxSeries, HeartbeatMisses: cfg.HeartbeatMisses, StaleIntervals: cfg.StaleIntervals,
					MaxOutputBytes: cfg.MaxOutputBytes, Replicas: cfg.Replicas, Skew: cfg.Skew, Logger: log,
				},
			}
			if audit != nil {
				opts.Audit = audit
			}
			if cfg.KeyFile != "" {
				id, err := security.LoadIdentity(cfg.KeyFile)
				if err != nil {
					return usageError{err}
				}
				opts.Signer = id.Signer
			}
			if cfg.NodeKeysFile != "" || cfg.NodeKeysTOFU {
				var nk *security.NodeKeys
				if cfg.NodeKeysFile != "" {
					nk, err = security.LoadNodeKeys(cfg.NodeKeysFile, cfg.NodeKeysTOFU)
				} else {
					nk, err = security.NewNodeKeys(nil, true)
				}
				if err != nil {
					return usageError{err}
				}
				opts.VerifyReply = nk.Verify
				opts.Collector.Verify = nk.Verify
			}
			srv, err := collector.NewServer(opts)
			if err != nil {
				return usageError{err}
			}
			if err := srv.EnableWeb(collector.WebOptions{Context: c.Context(), AllowedOrigins: cfg.WebOrigins}); err != nil {
				return err
			}
			if err := srv.Start(c.Context()); err != nil {
				return err
			}
			defer srv.Stop()
			log.Info("collector serving", "http", "http://"+srv.Addr())
			<-c.Context().Done()
			return nil
		},
	}
	cmd.Flags().StringVar(&cfgPath, "config", "/etc/pulse/collector.yaml", "collector config file")
	cmd.Flags().StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn, error")
	return cmd
}
