package nodeagent

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/pulseops/pulse/internal/broker/brokertest"
	"github.com/pulseops/pulse/internal/bus"
	"github.com/pulseops/pulse/internal/testkit"
)

// outboxAgent is an agent on a real broker whose outbox publishes through
// send, a stand-in for the stream's acknowledgement the test controls.
func outboxAgent(t *testing.T, buffer int, send func(outgoing) error) *Agent {
	t.Helper()
	br := brokertest.Start(t)
	nc, err := bus.Connect(bus.Config{URLs: []string{br.ClientURL()}, Name: "web-01"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	a, err := New(Options{Identity: "web-01", Conn: nc, ResultBuffer: buffer})
	if err != nil {
		t.Fatal(err)
	}
	a.outbox.publish = func(_ context.Context, m outgoing) error { return send(m) }
	return a
}

// TestOutboxKeepsOrderAndBound: results wait, in order, until the stream
// acknowledges them; beyond the buffer the oldest go first, counted.
func TestOutboxKeepsOrderAndBound(t *testing.T) {
	var (
		mu   sync.Mutex
		up   bool
		sent []string
	)
	a := outboxAgent(t, 3, func(m outgoing) error {
		mu.Lock()
		defer mu.Unlock()
		if !up {
			return jetstream.ErrNoStreamResponse // the broker is back, its stream not yet
		}
		sent = append(sent, m.id)
		return nil
	})
	for i := range 5 {
		a.outbox.add(outgoing{subject: "s", id: fmt.Sprint(i)})
	}
	if got := a.stats.ResultsDropped.Load(); got != 2 {
		t.Fatalf("dropped %d, want the 2 oldest", got)
	}
	if got := a.stats.ResultsPending.Load(); got != 3 {
		t.Fatalf("pending %d", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); a.outbox.run(ctx) }()
	testkit.WaitFor(t, 10*time.Second, "a failed send is retried", func() bool { return a.stats.ResultsRetried.Load() > 0 })
	mu.Lock()
	up = true
	mu.Unlock()
	testkit.WaitFor(t, 10*time.Second, "all sent", func() bool { return a.stats.ResultsPending.Load() == 0 })
	a.outbox.add(outgoing{subject: "s", id: "5"})
	testkit.WaitFor(t, 10*time.Second, "a new one sent", func() bool { return a.stats.ResultsPending.Load() == 0 })
	cancel()
	<-done
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(sent, []string{"2", "3", "4", "5"}) {
		t.Fatalf("sent %v, want the three newest in order, then the new one", sent)
	}
}

// TestOutboxWithoutJetStream: where no stream acknowledges results (a
// broker without JetStream, read by core subscriptions), a publish nobody
// acknowledges was still delivered; the outbox publishes plainly from then
// on instead of waiting for each.
func TestOutboxWithoutJetStream(t *testing.T) {
	var calls int
	a := outboxAgent(t, 10, func(outgoing) error {
		calls++
		return context.DeadlineExceeded
	})
	var plain []string
	a.outbox.plainPublish = func(m outgoing) error {
		plain = append(plain, m.id)
		return nil
	}
	for i := range 3 {
		a.outbox.add(outgoing{subject: "s", id: fmt.Sprint(i)})
	}
	for range 3 {
		m, _ := a.outbox.head()
		if !a.outbox.send(context.Background(), m) {
			t.Fatal("a result no stream acknowledges was kept")
		}
	}
	if calls != 1 || !slices.Equal(plain, []string{"1", "2"}) || a.stats.ResultsDropped.Load() != 0 {
		t.Fatalf("acknowledged tries %d, plain %v, dropped %d", calls, plain, a.stats.ResultsDropped.Load())
	}
	// Once a stream has acknowledged, a missing acknowledgement is retried.
	a.outbox.mu.Lock()
	a.outbox.acked = true
	a.outbox.mu.Unlock()
	a.outbox.add(outgoing{subject: "s", id: "3"})
	if m, _ := a.outbox.head(); a.outbox.send(context.Background(), m) {
		t.Fatal("an unacknowledged result was given up after the stream had acknowledged others")
	}
	// A message the stream refuses for good is dropped and counted.
	a.outbox.publish = func(context.Context, outgoing) error {
		return fmt.Errorf("nats: %w", &jetstream.APIError{Code: 400, ErrorCode: 10054, Description: "message size exceeds maximum allowed"})
	}
	if m, _ := a.outbox.head(); !a.outbox.send(context.Background(), m) || a.stats.ResultsDropped.Load() != 1 {
		t.Fatalf("refused result: dropped %d", a.stats.ResultsDropped.Load())
	}
}
