// Package collectortest builds collectors for the tests of the packages
// around the collector (the hub, the web view): a collector fed through
// Ingest, never through a broker, and the messages to feed it. Only tests
// import it.
package collectortest

import (
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/pulseops/pulse/collector"
	"github.com/pulseops/pulse/internal/protocol"
)

// T0 is the fixed time of the test fleet's messages and the clock of a
// Direct collector unless changed.
var T0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// Collective is the collective of a Direct collector.
const Collective = "test"

// Direct builds a collector that is fed through Ingest; its connection is
// never dialled. mod may change the options first.
func Direct(t testing.TB, mod func(*collector.Options)) *collector.Collector {
	t.Helper()
	opts := collector.Options{Conn: &nats.Conn{}, Collective: Collective, Now: func() time.Time { return T0 }, Logger: slog.New(slog.DiscardHandler)}
	if mod != nil {
		mod(&opts)
	}
	c, err := collector.New(opts)
	if err != nil {
		t.Fatalf("collector.New: %v", err)
	}
	return c
}

// Registration is a heartbeat of node id with facts, sent at T0.
func Registration(id string, facts map[string]any) protocol.Registration {
	return protocol.Registration{
		Identity: id, Time: T0,
		RegistrationBody: protocol.RegistrationBody{Collective: Collective, Facts: facts, Agents: []string{"rpcutil"},
			Version: "1.0.0", Started: T0.Add(-time.Hour), Interval: 30},
	}
}

// CheckResult is a result of check name on node id with status, run at at.
func CheckResult(id, name string, status int, at time.Time) protocol.Result {
	return protocol.Result{
		Identity: id, Time: at,
		ResultBody: protocol.ResultBody{Kind: "check", Name: name, Status: status,
			Output: protocol.StateName(status) + " - " + name, Duration: 0.012, Interval: 60,
			Started: T0.Add(-time.Hour), Runs: map[string]uint64{"OK": 10, protocol.StateName(status): 11}},
	}
}

var subjects = protocol.Subjects{Collective: Collective}

// FeedReg ingests r as if the broker had stored it at stored.
func FeedReg(t testing.TB, c *collector.Collector, r protocol.Registration, stored time.Time) {
	t.Helper()
	c.Ingest(subjects.Registry(r.Identity), Wire(t, r), stored)
}

// FeedResult ingests r as if the broker had stored it at stored.
func FeedResult(t testing.TB, c *collector.Collector, r protocol.Result, stored time.Time) {
	t.Helper()
	c.Ingest(subjects.Results(r.Identity, r.Name), Wire(t, r), stored)
}

// seq places every message Wire seals after the one before.
var seq atomic.Uint64

// Wire seals a registration or result as an agent does, unsigned; one
// without a place in its node's stream gets the next one of boot "test".
func Wire(t testing.TB, v any) []byte {
	t.Helper()
	var b []byte
	var err error
	switch m := v.(type) {
	case protocol.Registration:
		if m.Seq == 0 {
			m.Stream = protocol.Stream{Boot: "test", Seq: seq.Add(1)}
		}
		b, err = protocol.EncodeRegistration(&m, nil)
	case protocol.Result:
		if m.Seq == 0 {
			m.Stream = protocol.Stream{Boot: "test", Seq: seq.Add(1)}
		}
		b, err = protocol.EncodeResult(&m, nil)
	default:
		t.Fatalf("Wire does not seal %T", v)
	}
	if err != nil {
		t.Fatal(err)
	}
	return b
}
