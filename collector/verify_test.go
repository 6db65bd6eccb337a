package collector_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/pulseops/pulse/collector"
	"github.com/pulseops/pulse/internal/broker/brokertest"
	"github.com/pulseops/pulse/internal/protocol"
	"github.com/pulseops/pulse/internal/security"
)

// A process on the bus cannot forge a node: a heartbeat or result not
// signed by the node's pinned key is refused and counted.
func TestCollectorRefusesForgedNodeMessages(t *testing.T) {
	br := brokertest.Start(t)
	real, _ := security.GenerateIdentity("node-00")
	forger, _ := security.GenerateIdentity("mallory")
	nk, err := security.NewNodeKeys(map[string]string{"node-00": real.Signer.PublicKey()}, false)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(br.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	col, err := collector.New(collector.Options{Conn: nc, Verify: nk.Verify})
	if err != nil {
		t.Fatal(err)
	}
	if err := col.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer col.Stop()
	subj := protocol.Subjects{Collective: "pulse"}
	var seq uint64
	send := func(s *protocol.Signer, output string) {
		res := protocol.Result{Identity: "node-00", Time: time.Now(), ResultBody: protocol.ResultBody{Kind: "check", Name: "check_x", Status: 2, Output: output, Interval: 10}}
		seq++
		res.Stream = protocol.Stream{Boot: "b", Seq: seq}
		b, err := protocol.EncodeResult(&res, s)
		if err != nil {
			t.Fatal(err)
		}
		if err := nc.Publish(subj.Results("node-00", "check_x"), b); err != nil {
			t.Fatal(err)
		}
	}
	// The stream keeps one result per node and check, so the forged one is
	// refused and counted before the genuine one replaces it.
	send(forger.Signer, "forged")
	const counted = `pulse_collector_malformed_messages_total{kind="result",reason="unverified"} 1`
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(httptestGet(t, col.Handler(), "/metrics"), counted) {
		if time.Now().After(deadline) {
			t.Fatalf("the forged result was not counted:\n%s", grep(httptestGet(t, col.Handler(), "/metrics"), "malformed"))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, ok := col.Node("node-00"); ok {
		t.Fatal("a forged result created node-00")
	}
	send(real.Signer, "genuine")
	for {
		if v, ok := col.Node("node-00"); ok && len(v.Checks) == 1 {
			if v.Checks[0].Output != "genuine" {
				t.Fatalf("collector shows %q", v.Checks[0].Output)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the genuine result never arrived")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func httptestGet(t *testing.T, h http.Handler, path string) string {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	return rec.Body.String()
}

func grep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
