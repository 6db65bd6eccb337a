package nodeagent_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pulseops/pulse/internal/broker/brokertest"
	"github.com/pulseops/pulse/internal/bus"
	"github.com/pulseops/pulse/internal/protocol"
	"github.com/pulseops/pulse/internal/registry"
	"github.com/pulseops/pulse/internal/testkit"
	"github.com/pulseops/pulse/nodeagent"
)

type factMap map[string]any

func (f factMap) Facts() map[string]any { return f }

// An agent is in the fleet registry once Start returns, refreshes its key
// with every heartbeat (the same envelope it publishes on its registry
// subject), and drops out a few heartbeats after it stops.
func TestAgentKeepsItsFleetRegistryKey(t *testing.T) {
	br := brokertest.Start(t)
	cnc, err := bus.Dial(bus.Config{URLs: []string{br.ClientURL()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cnc.Close)
	js, err := jetstream.New(cnc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := registry.Ensure(context.Background(), js, "pulse", 1); err != nil {
		t.Fatal(err)
	}
	published := make(chan []byte, 16)
	if _, err := cnc.Subscribe("pulse.pulse.registry.web-01", func(m *nats.Msg) { published <- m.Data }); err != nil {
		t.Fatal(err)
	}
	if err := cnc.Flush(); err != nil {
		t.Fatal(err)
	}
	nc, err := bus.Connect(bus.Config{URLs: []string{br.ClientURL()}, Name: "web-01"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, err := nodeagent.New(nodeagent.Options{Identity: "web-01", Conn: nc, Facts: factMap{"role": "web"}, RegisterInterval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	read := func() *registry.Snapshot {
		s, err := registry.Read(context.Background(), cnc, "pulse", registry.ReadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s := read()
	if len(s.Entries) != 1 || s.Entries[0].Identity != "web-01" || s.Entries[0].TTL != 3*time.Second {
		t.Fatalf("right after Start: %+v", s.Entries)
	}
	if tg, err := s.Entries[0].Target(); err != nil || tg.Facts["role"] != "web" || len(tg.Agents) == 0 {
		t.Fatalf("registered target %+v %v", tg, err)
	}
	// The key holds the very envelope the node published on its registry
	// subject: the same sequence, time and body bytes.
	key := s.Entries[0].Envelope
	for same := false; !same; {
		select {
		case b := <-published:
			env, err := protocol.Open(b)
			if err != nil {
				t.Fatal(err)
			}
			same = env.Seq == key.Seq && env.Boot == key.Boot && env.Time.Equal(key.Time) && string(env.Body) == string(key.Body)
		case <-time.After(10 * time.Second):
			t.Fatal("the key's value is not a registration published on the registry subject")
		}
	}
	testkit.WaitFor(t, 10*time.Second, "a heartbeat to refresh the key", func() bool {
		s := read()
		return len(s.Entries) == 1 && s.Entries[0].Envelope.Seq > 1
	})
	a.Stop()
	testkit.WaitFor(t, 15*time.Second, "the stopped node's key to expire", func() bool { return len(read().Entries) == 0 })
}
