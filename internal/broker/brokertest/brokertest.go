// Package brokertest starts embedded brokers for tests. Only tests import
// it, so the testing package stays out of the pulse binary.
package brokertest

import (
	"testing"

	"github.com/pulseops/pulse/internal/broker"
)

// Start runs a broker on a free loopback port for the life of t.
// JetStream is on, stored in t.TempDir().
func Start(t testing.TB) *broker.Broker {
	t.Helper()
	b, err := broker.Start(broker.Options{Port: -1, JetStreamDir: t.TempDir()})
	if err != nil {
		t.Fatalf("start broker: %v", err)
	}
	t.Cleanup(b.Shutdown)
	return b
}
