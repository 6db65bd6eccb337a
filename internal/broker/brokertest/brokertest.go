// Package brokertest starts embedded brokers for tests. Only tests import
// it, so the testing package stays out of the pulse binary.
package brokertest

import (
	"strings"
	"sync"
	"testing"

	"github.com/nats-io/nats.go"

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

// AsyncErrors collects the asynchronous errors a server sends a client,
// where permission violations arrive: give Handler to nats.ErrorHandler.
type AsyncErrors struct {
	mu   sync.Mutex
	errs []string
}

// Handler records err; it is a nats.ErrHandler.
func (a *AsyncErrors) Handler(_ *nats.Conn, _ *nats.Subscription, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.errs = append(a.errs, err.Error())
}

// Has reports whether an error received so far contains substr.
func (a *AsyncErrors) Has(substr string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, e := range a.errs {
		if strings.Contains(e, substr) {
			return true
		}
	}
	return false
}
