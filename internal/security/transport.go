package security

import (
	"crypto/tls"
	"fmt"

	"github.com/pulseops/pulse/internal/bus"
)

// ServerTLSConfig is the broker's TLS: its certificate and, when
// clientCAFile is set, a requirement that every client presents a
// certificate signed by that CA. (The client side is internal/bus.)
func ServerTLSConfig(certFile, keyFile, clientCAFile string) (*tls.Config, error) {
	c, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("broker tls certificate %s / %s: %w", certFile, keyFile, err)
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{c}}
	if clientCAFile != "" {
		pool, err := bus.LoadCertPool(clientCAFile)
		if err != nil {
			return nil, err
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}
