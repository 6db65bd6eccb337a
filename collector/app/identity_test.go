package app_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/pulseops/pulse/collector"
	"github.com/pulseops/pulse/collector/api"
	"github.com/pulseops/pulse/collector/app"
	"github.com/pulseops/pulse/internal/broker"
	"github.com/pulseops/pulse/internal/bus"
	"github.com/pulseops/pulse/internal/issuer"
	"github.com/pulseops/pulse/internal/security"
	"github.com/pulseops/pulse/internal/testkit"
	"github.com/pulseops/pulse/nodeagent"
	"github.com/pulseops/pulse/nodeagent/actions"
)

// The collector on a broker that trusts pulse's issuer, with nothing but
// its own credentials: it creates and replays its streams through the
// JetStream API its role allows, learns the fleet from the subjects nodes
// may publish only as themselves (no node keys), and its actions run on
// agents that believe its issuer, signed with its credentials' key.
func TestCollectorWithIssuedCredentials(t *testing.T) {
	ids := []string{"node-00", "node-01"}
	sec, err := issuer.NewLocal(t.TempDir(), issuer.LocalOptions{Nodes: ids})
	if err != nil {
		t.Fatal(err)
	}
	br, err := broker.Start(broker.Options{Port: -1, ConfigFile: sec.ServerConfigFile, JetStreamDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(br.Shutdown)
	trusted := sec.TrustedIssuers()
	is, err := security.NewIssuers([]string{trusted[issuer.RoleUser]}, []string{trusted[issuer.RoleCollector]})
	if err != nil {
		t.Fatal(err)
	}
	pol, err := security.NewPolicy("automation restarts", security.PolicyFile{Rules: []security.RuleSpec{
		{Name: "automation", Effect: "allow", Callers: []string{"group:automation"}, Agent: "service"}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	svcs := map[string]*actions.SimServiceProvider{}
	for _, id := range ids {
		nc, err := bus.Connect(bus.Config{URLs: []string{br.ClientURL()}, Credentials: bus.Credentials{CredsFile: sec.Nodes[id]}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		svcs[id] = actions.NewSimServiceProvider(actions.SimServiceOptions{Delay: -1})
		a, err := nodeagent.New(nodeagent.Options{Identity: id, Conn: nc, RegisterInterval: time.Second,
			Agents: []actions.Agent{actions.NewServiceAgent(svcs[id], nil)},
			Verify: (&security.Verifier{Issuers: is, Require: true}).Verify, Authorize: pol.Authorize})
		if err != nil {
			t.Fatal(err)
		}
		if err := a.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(a.Stop)
	}
	id, err := security.LoadCreds(sec.Collector)
	if err != nil {
		t.Fatal(err)
	}
	s, err := app.New(app.Options{Listen: "127.0.0.1:0", ActionToken: "human-token", Identity: id,
		NATS:      bus.Config{URLs: []string{br.ClientURL()}, Credentials: bus.Credentials{CredsFile: sec.Collector}},
		Collector: collector.Options{Collective: "pulse"}})
	if err != nil {
		t.Fatal(err)
	}
	start(t, s)
	testkit.WaitFor(t, 20*time.Second, "the collector to know both nodes", func() bool {
		for _, id := range ids {
			if n, ok := s.Collector().Node(id); !ok || !n.Up {
				return false
			}
		}
		return true
	})
	// Through its streams, not a fallback to core subscriptions: the
	// JetStream API its role allows is enough.
	var health map[string]any
	if err := (&api.Client{Base: "http://" + s.Addr()}).Do("GET", "/healthz", nil, &health); err != nil || health["mode"] != "jetstream" {
		t.Fatalf("healthz: %v %v", health, err)
	}
	resp, b := post(t, "http://"+s.Addr()+"/api/v1/actions", "human-token", `{"agent":"service","action":"stop","data":{"service":"httpd"},"filter":{"agent":["service"]}}`)
	var rec api.ActionRecord
	if err := json.Unmarshal(b, &rec); err != nil || resp.StatusCode != 200 || !rec.OK || len(rec.Result.Replies) != 2 {
		t.Fatalf("action as the collector: %d %s", resp.StatusCode, b)
	}
	for id, svc := range svcs {
		if svc.Running("httpd") {
			t.Errorf("%s: httpd still running", id)
		}
	}
}
