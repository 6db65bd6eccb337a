package collector

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pulseops/pulse/internal/broker"
	"github.com/pulseops/pulse/internal/broker/brokertest"
	"github.com/pulseops/pulse/internal/protocol"
)

func connect(t testing.TB, b *broker.Broker) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(b.ClientURL())
	if err != nil {
		t.Fatalf("connect to %s: %v", b.ClientURL(), err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func startCollector(t testing.TB, nc *nats.Conn, mod func(*Options)) *Collector {
	t.Helper()
	opts := Options{Conn: nc, Collective: "test", Logger: discardLogger()}
	if mod != nil {
		mod(&opts)
	}
	c, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(c.Stop)
	return c
}

// publishFleet publishes, as agents do with plain core NATS, a heartbeat and
// a check_load result for n nodes.
func publishFleet(t testing.TB, nc *nats.Conn, n int, now time.Time) {
	t.Helper()
	s := protocol.Subjects{Collective: "test"}
	for i := range n {
		id := fmt.Sprintf("node-%02d", i)
		r := registration(id, map[string]any{"ec2_placement_availability_zone": fmt.Sprintf("eu-west-1%c", 'a'+i%2)})
		r.Time = now
		if err := nc.Publish(s.Registry(id), wire(t, r)); err != nil {
			t.Fatal(err)
		}
		res := checkResult(id, "check_load", i%3, now)
		if err := nc.Publish(s.Results(id, "check_load"), wire(t, res)); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
}

// fleetShown checks that /metrics shows n nodes up, each with its
// check_load status.
func fleetShown(c *Collector, n int) error {
	text, err := scrapeText(c.Handler())
	if err != nil {
		return err
	}
	up := 0
	for _, l := range series(text, "pulse_node_up{") {
		if strings.HasSuffix(l, " 1") && strings.Contains(l, `identity="node-`) {
			up++
		}
	}
	status := 0
	for _, l := range series(text, `pulse_check_status{`) {
		if strings.Contains(l, `identity="node-`) {
			status++
		}
	}
	if up != n || status != n {
		return fmt.Errorf("/metrics shows %d nodes up and %d check_load results, want %d of each", up, status, n)
	}
	for i := range n {
		want := fmt.Sprintf(`pulse_check_status{az="eu-west-1%c",check="check_load",cluster="",identity="node-%02d",role=""} %d`, 'a'+i%2, i, i%3)
		if !strings.Contains(text, want+"\n") {
			return fmt.Errorf("/metrics lacks %s", want)
		}
	}
	return nil
}

func TestRestartRebuildsFleetFromJetStream(t *testing.T) {
	b := brokertest.Start(t)
	nc := connect(t, b)
	c1 := startCollector(t, nc, nil)
	publishFleet(t, nc, 12, time.Now())
	eventually(t, 10*time.Second, func() error { return fleetShown(c1, 12) })
	c1.Stop()

	// Nothing is published any more: the new collector sees the fleet only
	// through what JetStream kept, all of it by the time Start returns, so
	// nothing it serves shows a fleet half rebuilt.
	c2 := startCollector(t, nc, nil)
	if err := fleetShown(c2, 12); err != nil {
		t.Fatalf("right after Start: %v", err)
	}

	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"PULSE_RESULTS_test", "PULSE_REGISTRY_test"} {
		s, err := js.Stream(context.Background(), name)
		if err != nil {
			t.Fatalf("stream %s: %v", name, err)
		}
		cfg := s.CachedInfo().Config
		if cfg.MaxMsgsPerSubject != 1 || cfg.Storage != jetstream.FileStorage || cfg.Replicas != 1 {
			t.Fatalf("stream %s config: %+v", name, cfg)
		}
	}
	var health map[string]any
	if code := getJSON(t, c2.Handler(), "/healthz", &health); code != 200 || health["mode"] != "jetstream" {
		t.Fatalf("healthz: %d %v", code, health)
	}
}

func TestExistingStreamIsBroughtInLine(t *testing.T) {
	b := brokertest.Start(t)
	nc := connect(t, b)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	// An operator made the stream keeping ten messages per subject and a max
	// age; the collector needs one per subject and keeps the max age.
	_, err = js.CreateStream(context.Background(), jetstream.StreamConfig{
		Name: "PULSE_RESULTS_test", Subjects: []string{"pulse.test.results.>"}, MaxMsgsPerSubject: 10, MaxAge: time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	startCollector(t, nc, nil)
	s, err := js.Stream(context.Background(), "PULSE_RESULTS_test")
	if err != nil {
		t.Fatal(err)
	}
	if cfg := s.CachedInfo().Config; cfg.MaxMsgsPerSubject != 1 || cfg.MaxAge != time.Hour || cfg.MaxBytes != DefaultStreamMaxBytes || cfg.Discard != jetstream.DiscardOld {
		t.Fatalf("stream config after start: MaxMsgsPerSubject %d MaxAge %s MaxBytes %d Discard %s", cfg.MaxMsgsPerSubject, cfg.MaxAge, cfg.MaxBytes, cfg.Discard)
	}
}

// However much a node publishes — a flood of results for new checks — the
// streams keep at most their size, and nothing older than their age: a
// restarted collector replays bounded data.
func TestStreamsAreBounded(t *testing.T) {
	b := brokertest.Start(t)
	nc := connect(t, b)
	const maxBytes = 64 << 10
	startCollector(t, nc, func(o *Options) { o.StreamMaxAge, o.StreamMaxBytes = 2*time.Second, maxBytes })
	s := protocol.Subjects{Collective: "test"}
	for i := range 500 {
		res := checkResult("node-00", fmt.Sprintf("junk_%d", i), 0, time.Now())
		res.Output = strings.Repeat("x", 1000)
		if err := nc.Publish(s.Results("node-00", res.Name), wire(t, res)); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	info := func() *jetstream.StreamInfo {
		st, err := js.Stream(context.Background(), s.ResultsStream())
		if err != nil {
			t.Fatal(err)
		}
		i, err := st.Info(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return i
	}
	i := info()
	if i.Config.MaxBytes != maxBytes || i.Config.MaxAge != 2*time.Second || i.Config.Discard != jetstream.DiscardOld {
		t.Fatalf("stream config %+v", i.Config)
	}
	if i.State.Bytes > maxBytes || i.State.Msgs == 0 || i.State.Msgs >= 500 {
		t.Fatalf("after 500 results of 1 KiB: %d messages, %d bytes (limit %d)", i.State.Msgs, i.State.Bytes, maxBytes)
	}
	eventually(t, 10*time.Second, func() error {
		if n := info().State.Msgs; n != 0 {
			return fmt.Errorf("%d messages older than the stream's age remain", n)
		}
		return nil
	})
}

func TestFallbackToCoreWithoutJetStream(t *testing.T) {
	b, err := broker.Start(broker.Options{Port: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Shutdown)
	nc := connect(t, b)
	c := startCollector(t, nc, nil)
	var health map[string]any
	if code := getJSON(t, c.Handler(), "/healthz", &health); code != 200 || health["mode"] != "core" {
		t.Fatalf("healthz: %d %v", code, health)
	}
	publishFleet(t, nc, 3, time.Now())
	eventually(t, 10*time.Second, func() error { return fleetShown(c, 3) })
}

func TestFloodOverNATSKeepsServing(t *testing.T) {
	b := brokertest.Start(t)
	nc := connect(t, b)
	c := startCollector(t, nc, nil)
	s := protocol.Subjects{Collective: "test"}
	now := time.Now()
	flood := wire(t, checkResult("noisy", "check_load", 2, now))
	for range 5000 {
		if err := nc.Publish(s.Results("noisy", "check_load"), flood); err != nil {
			t.Fatal(err)
		}
	}
	// Garbage and impostors in between.
	_ = nc.Publish(s.Results("noisy", "check_load"), []byte("not json"))
	_ = nc.Publish(s.Results("calm", "check_load"), flood)
	publishFleet(t, nc, 2, now)
	eventually(t, 20*time.Second, func() error { return fleetShown(c, 2) })
	eventually(t, 10*time.Second, func() error {
		text, err := scrapeText(c.Handler())
		if err != nil {
			return err
		}
		for _, want := range []string{
			`pulse_collector_malformed_messages_total{kind="result",reason="envelope"} 1`,
			`pulse_collector_malformed_messages_total{kind="result",reason="identity_mismatch"} 1`,
			`pulse_check_status{az="",check="check_load",cluster="",identity="noisy",role=""} 2`,
		} {
			if !strings.Contains(text, want) {
				return fmt.Errorf("/metrics lacks %s", want)
			}
		}
		return nil
	})
}
