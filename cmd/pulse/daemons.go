//go:build !agentonly

package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/pulseops/pulse/demo"
	"github.com/pulseops/pulse/internal/broker"
	"github.com/pulseops/pulse/internal/security"
)

func newDemoCmd() *cobra.Command {
	var (
		o                  demo.Options
		zones, listen, dir string
		logs               logFlags
	)
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the whole loop on this machine: embedded NATS, a simulated fleet, the collector, a demo shop, Prometheus and Alertmanager",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			host, port, err := splitListen(listen)
			if err != nil {
				return usageError{err}
			}
			if o.LoginFailureRate < 0 || o.LoginFailureRate > 1 {
				return usage("--login-failure-rate must be between 0 and 1")
			}
			o.Zones, o.NATSHost, o.NATSPort, o.Dir = strings.Split(zones, ","), host, port, dir
			if o.Logger, err = logs.logger(); err != nil {
				return err
			}
			o.UserKeyDir = security.UserKeyDir()
			fmt.Fprintln(os.Stderr, "starting pulse demo ...")
			d, err := demo.Start(c.Context(), o)
			if err != nil {
				return err
			}
			defer d.Stop()
			d.PrintIntro(os.Stdout, demo.IntroOptions{Pulse: pulseCommand()})
			<-c.Context().Done()
			fmt.Fprintln(os.Stderr, "stopping demo")
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.Nodes, "nodes", 11, "number of simulated nodes")
	f.StringVar(&zones, "zones", "eu-west-1a,eu-west-1b", "availability zones to spread the nodes over")
	f.StringVar(&listen, "listen", "127.0.0.1:4222", "NATS listen address of the embedded broker")
	f.StringVar(&o.CollectorAddr, "http", "127.0.0.1:9780", "collector HTTP address (empty: no collector)")
	f.StringVar(&o.ShopAddr, "shop-listen", "127.0.0.1:9781", "demo shop address (empty: no shop)")
	f.StringVar(&o.Prometheus, "prometheus", "auto", "Prometheus: auto (when on PATH), off, or a binary path")
	f.StringVar(&o.Alertmanager, "alertmanager", "auto", "Alertmanager: auto (when on PATH), off, or a binary path")
	f.StringVar(&o.PrometheusAddr, "prometheus-listen", "127.0.0.1:9090", "Prometheus listen address")
	f.StringVar(&o.AlertmanagerAddr, "alertmanager-listen", "127.0.0.1:9093", "Alertmanager listen address")
	f.Float64Var(&o.LoginFailureRate, "login-failure-rate", 0, "fraction of shop logins that fail (0..1)")
	f.DurationVar(&o.LoginLatency, "login-latency", 0, "latency added to every shop login")
	f.StringVar(&dir, "dir", "", "keep JetStream, configs and Prometheus data here (default: a temporary directory)")
	logs.register(f, "warn")
	return cmd
}

func newBrokerCmd() *cobra.Command {
	var (
		listen, clusterListen, clusterName, name, jsDir string
		logs                                            logFlags
		tlsCert, tlsKey, tlsClientCA, authFile          string
		routes                                          []string
	)
	cmd := &cobra.Command{
		Use:   "broker",
		Short: "Run the embedded nats-server alone (optionally as a member of a NATS cluster)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			host, port, err := splitListen(listen)
			if err != nil {
				return usageError{err}
			}
			log, err := logs.logger()
			if err != nil {
				return err
			}
			o := broker.Options{
				Host: host, Port: port, Name: name, ClusterName: clusterName,
				ClusterListen: clusterListen, Routes: routes, JetStreamDir: jsDir,
				Logger: log,
			}
			if tlsCert != "" || tlsKey != "" {
				if o.TLS, err = security.ServerTLSConfig(tlsCert, tlsKey, tlsClientCA); err != nil {
					return usageError{err}
				}
			}
			o.ConfigFile = authFile
			b, err := broker.Start(o)
			if err != nil {
				if authFile != "" && strings.Contains(err.Error(), authFile) {
					return usageError{err}
				}
				return err
			}
			defer b.Shutdown()
			fmt.Printf("nats-server listening on %s\n", b.ClientURL())
			<-c.Context().Done()
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&listen, "listen", "127.0.0.1:4222", "client listen address")
	f.StringVar(&name, "name", "", "server name (unique within a cluster)")
	f.StringVar(&clusterListen, "cluster", "", "cluster listen address, e.g. 127.0.0.1:6222, to form a NATS cluster")
	f.StringVar(&clusterName, "cluster-name", "pulse", "NATS cluster name")
	f.StringArrayVar(&routes, "routes", nil, "cluster routes, e.g. nats://127.0.0.1:6223 (repeatable)")
	f.StringVar(&jsDir, "jetstream", "", "enable JetStream with its store in this directory")
	f.StringVar(&tlsCert, "tls-cert", "", "serve clients over TLS with this certificate (PEM)")
	f.StringVar(&tlsKey, "tls-key", "", "private key of --tls-cert (PEM)")
	f.StringVar(&tlsClientCA, "tls-client-ca", "", "require client certificates signed by this CA (PEM)")
	f.StringVar(&authFile, "auth", "", "nats-server configuration that makes the broker trust pulse's issuer (`pulse keys server-config` writes it): every client must then log in with issued credentials")
	logs.register(f, "info")
	return cmd
}

func splitListen(s string) (string, int, error) {
	i := strings.LastIndex(s, ":")
	if i < 0 {
		return "", 0, fmt.Errorf("listen address %q must be host:port", s)
	}
	var port int
	if _, err := fmt.Sscanf(s[i+1:], "%d", &port); err != nil || port < -1 || port > 65535 {
		return "", 0, fmt.Errorf("listen address %q has a bad port", s)
	}
	return s[:i], port, nil
}
