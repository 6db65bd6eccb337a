package collector

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/pulseops/pulse/internal/broker/brokertest"
	"github.com/pulseops/pulse/internal/protocol"
)

// change is a package change of node id, the n-th of its boot "b1".
func change(id string, n uint64, from, to, result string, at time.Time) protocol.Change {
	return protocol.Change{
		Identity: id, Time: at, Stream: protocol.Stream{Boot: "b1", Seq: n},
		ChangeBody: protocol.ChangeBody{Kind: "package", Action: "install", Name: "shop", From: from, To: to, Result: result,
			Caller: "user=alice", Request: fmt.Sprintf("req-%d", n), Origin: &protocol.Origin{Via: protocol.ViaRollout, ID: "r-1"},
			Started: t0.Add(-time.Hour), Counts: map[string]uint64{"package/" + result: n}},
	}
}

func sealChange(t testing.TB, c protocol.Change) []byte {
	t.Helper()
	b, err := protocol.EncodeChange(&c, nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Changes the nodes announce become their change counters (cumulative as
// the agent counts them), the time of their last change, events and the
// recent list; the versions a node watches become pulse_package_info. A
// restarted collector rebuilds all of it from the bounded stream, without
// raising events for history.
func TestChangesBecomeMetricsAndSurviveRestart(t *testing.T) {
	b := brokertest.Start(t)
	nc := connect(t, b)
	evs := &events{}
	c1 := startCollector(t, nc, func(o *Options) { o.OnEvent = evs.add; o.ChangesMaxMsgs = 50 })
	s := protocol.Subjects{Collective: "test"}
	now := time.Now().UTC()
	reg := registration("web-01", map[string]any{"ec2_placement_availability_zone": "eu-west-1a", "role": "web"})
	reg.Time, reg.Packages = now, map[string]string{"shop": "1.1.0", "nginx": "1.22.1-9"}
	for subject, msg := range map[string][]byte{
		s.Registry("web-01"): wire(t, reg),
		s.Changes("web-01"):  sealChange(t, change("web-01", 1, "1.0.0", "1.1.0", protocol.ChangeOK, now)),
	} {
		if err := nc.Publish(subject, msg); err != nil {
			t.Fatal(err)
		}
	}
	// Labels in name order, as the exposition writes them.
	node := `az="eu-west-1a",cluster="",identity="web-01"`
	want := []string{
		`pulse_changes_total{` + node + `,kind="package",result="ok",role="web"} 1`,
		`pulse_changes_total{` + node + `,kind="package",result="failed",role="web"} 0`,
		`pulse_changes_total{` + node + `,kind="service",result="unchanged",role="web"} 0`,
		fmt.Sprintf(`pulse_node_last_change_timestamp_seconds{%s,role="web"} %s`, node, string(appendFloat(nil, unix(now)))),
		`pulse_package_info{` + node + `,package="shop",role="web",version="1.1.0"} 1`,
		`pulse_package_info{` + node + `,package="nginx",role="web",version="1.22.1-9"} 1`,
		`pulse_collector_messages_total{kind="change"} 1`,
	}
	shown := func(c *Collector) func() error {
		return func() error {
			text := scrape(t, c.Handler())
			for _, w := range want {
				if !strings.Contains(text, w+"\n") {
					return fmt.Errorf("/metrics lacks %s", w)
				}
			}
			return nil
		}
	}
	eventually(t, 10*time.Second, shown(c1))
	if got := evs.take(); !slices.Contains(got, "change web-01") {
		t.Fatalf("events: %v", got)
	}
	var recent []protocol.Change
	if code := getJSON(t, c1.Handler(), "/api/v1/changes?identity=web-01", &recent); code != 200 || len(recent) != 1 || recent[0].To != "1.1.0" || recent[0].Origin.ID != "r-1" {
		t.Fatalf("GET /api/v1/changes: %d %+v", code, recent)
	}
	if want := "package install shop 1.0.0 → 1.1.0 on web-01 by user=alice (rollout r-1): ok"; ChangeSentence(&recent[0]) != want {
		t.Fatalf("sentence %q, want %q", ChangeSentence(&recent[0]), want)
	}
	if code := getJSON(t, c1.Handler(), "/api/v1/changes?limit=0", &map[string]any{}); code != 400 {
		t.Fatalf("limit=0 answered %d", code)
	}
	c1.Stop()

	want[len(want)-1] = `pulse_collector_messages_total{kind="change"} 1` // the replay of the one change
	c2 := startCollector(t, nc, func(o *Options) { o.OnEvent = evs.add; o.ChangesMaxMsgs = 50 })
	eventually(t, 10*time.Second, shown(c2))
	if got := evs.take(); slices.Contains(got, "change web-01") {
		t.Fatalf("history raised events: %v", got)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	st, err := js.Stream(context.Background(), "PULSE_CHANGES_test")
	if err != nil {
		t.Fatal(err)
	}
	if cfg := st.CachedInfo().Config; cfg.MaxMsgs != 50 || cfg.MaxAge != defaultChangesMaxAge || cfg.MaxBytes != changesMaxBytes || cfg.Discard != jetstream.DiscardOld {
		t.Fatalf("changes stream is not bounded as configured: %+v", cfg)
	}
}

// A change is a node's word about itself: one published on another node's
// subject, replayed, made up or dated in the future is refused and counted.
func TestChangesRefused(t *testing.T) {
	c, clk, evs := newDirect(t, nil)
	feed := func(subject string, ch protocol.Change) {
		c.handle(subject, sealChange(t, ch), clk.Now())
	}
	s := c.subj
	good := change("web-01", 5, "1.0.0", "1.1.0", protocol.ChangeOK, t0)
	feed(s.Changes("web-01"), good)
	feed(s.Changes("web-02"), good)                                                       // web-01's change on web-02's subject
	feed(s.Changes("web-01"), good)                                                       // replayed
	feed(s.Changes("web-01"), change("web-01", 4, "0.9", "1.0.0", protocol.ChangeOK, t0)) // older
	bad := change("web-01", 6, "1.1.0", "1.0.0", "maybe", t0)
	feed(s.Changes("web-01"), bad)
	bad = change("web-01", 7, "1.1.0", "1.0.0", protocol.ChangeOK, t0)
	bad.Counts = map[string]uint64{"package/ok": 1, "rm -rf/ok": 9}
	feed(s.Changes("web-01"), bad)
	feed(s.Changes("web-01"), change("web-01", 8, "1.1.0", "1.0.0", protocol.ChangeOK, t0.Add(time.Hour)))
	text := scrape(t, c.Handler())
	for _, w := range []string{
		`pulse_collector_malformed_messages_total{kind="change",reason="identity_mismatch"} 1`,
		`pulse_collector_malformed_messages_total{kind="change",reason="replayed"} 1`,
		`pulse_collector_malformed_messages_total{kind="change",reason="older"} 1`,
		`pulse_collector_malformed_messages_total{kind="change",reason="invalid"} 2`,
		`pulse_collector_malformed_messages_total{kind="change",reason="future"} 1`,
		`pulse_changes_total{az="",cluster="",identity="web-01",kind="package",result="ok",role=""} 5`,
	} {
		if !strings.Contains(text, w+"\n") {
			t.Errorf("/metrics lacks %s", w)
		}
	}
	if got := c.Changes("", 0); len(got) != 1 || got[0].Seq != 5 {
		t.Fatalf("recent changes: %+v", got)
	}
	if got := evs.take(); len(got) != 1 {
		t.Fatalf("events: %v", got)
	}
}
