package broker

import (
	"testing"
)

// StartTest runs a broker on a free loopback port for the life of t.
// JetStream is on, stored in t.TempDir().
func StartTest(t testing.TB) *Broker {
	t.Helper()
	b, err := Start(Options{Port: -1, JetStreamDir: t.TempDir()})
	if err != nil {
		t.Fatalf("start broker: %v", err)
	}
	t.Cleanup(b.Shutdown)
	return b
}
