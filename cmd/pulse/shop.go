//go:build !agentonly

package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/pulseops/pulse/demo/shop"
)

// newShopCmd serves the demo web shop alone, for docker-compose and for
// probes against a shop on another host.
func newShopCmd() *cobra.Command {
	var (
		o      shop.Options
		listen string
		logs   logFlags
	)
	cmd := &cobra.Command{
		Use:   "shop",
		Short: "Serve the demo web shop (login page with fault injection) that the login probe checks",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if o.FailureRate < 0 || o.FailureRate > 1 {
				return usage("--login-failure-rate must be between 0 and 1")
			}
			log, err := logs.logger()
			if err != nil {
				return err
			}
			o.Logger = log.With("component", "shop")
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return usage("shop address %s is not free (use --listen): %v", listen, err)
			}
			srv := &http.Server{Handler: shop.New(o).Handler(), ReadHeaderTimeout: 5 * time.Second}
			go func() {
				<-c.Context().Done()
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				_ = srv.Shutdown(ctx)
			}()
			fmt.Fprintf(c.OutOrStdout(), "demo shop on http://%s/login (alice / wonderland; faults at /admin/fault)\n", ln.Addr())
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&listen, "listen", "127.0.0.1:9781", "HTTP listen address")
	f.Float64Var(&o.FailureRate, "login-failure-rate", 0, "fraction of logins that fail (0..1)")
	f.DurationVar(&o.Latency, "login-latency", 0, "latency added to every login")
	logs.register(f, "info")
	return cmd
}
