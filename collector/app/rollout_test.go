package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/pulseops/pulse/collector"
	"github.com/pulseops/pulse/collector/api"
	"github.com/pulseops/pulse/collector/app"
	"github.com/pulseops/pulse/collector/rollout"
	"github.com/pulseops/pulse/internal/broker/brokertest"
	"github.com/pulseops/pulse/internal/bus"
	"github.com/pulseops/pulse/internal/protocol"
	"github.com/pulseops/pulse/internal/testkit"
	"github.com/pulseops/pulse/nodeagent"
	"github.com/pulseops/pulse/nodeagent/actions"
)

// eventLog keeps the app's events.
type eventLog struct {
	mu  sync.Mutex
	evs []protocol.Event
}

func (l *eventLog) add(e protocol.Event) {
	l.mu.Lock()
	l.evs = append(l.evs, e)
	l.mu.Unlock()
}

func (l *eventLog) find(typ, contains string) (protocol.Event, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range l.evs {
		if e.Type == typ && strings.Contains(e.Message, contains) {
			return e, true
		}
	}
	return protocol.Event{}, false
}

// The action API runs the rollout `pulse rollout` runs, as the collector:
// synchronously or not, refusing bad input and nodes another rollout holds;
// every rollout's record is listed, its moves and the nodes' changes are
// events. A package change through the action API carries its origin.
func TestRolloutThroughTheActionAPI(t *testing.T) {
	br := brokertest.Start(t)
	for i := range 3 {
		id := fmt.Sprintf("web-%02d", i)
		nc, err := bus.Connect(bus.Config{URLs: []string{br.ClientURL()}, Name: id}, nil)
		if err != nil {
			t.Fatal(err)
		}
		pkgs, svcs := actions.NewSimSystem(actions.SimPackageOptions{Installed: map[string]string{"shop": "1.0.0"}, Delay: -1},
			actions.SimServiceOptions{Services: map[string]actions.SimService{}, Delay: -1})
		pa := actions.NewPackageAgent(pkgs, nil)
		a, err := nodeagent.New(nodeagent.Options{Identity: id, Conn: nc, Facts: factMap{"role": "web"},
			Agents: []actions.Agent{pa, actions.NewServiceAgent(svcs, nil)}, WatchPackages: []string{"shop"}, PackageVersion: pa.Version})
		if err != nil {
			t.Fatal(err)
		}
		if err := a.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(a.Stop)
	}
	nc, err := bus.Connect(bus.Config{URLs: []string{br.ClientURL()}, Name: "collector"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	evs := &eventLog{}
	s, err := app.New(app.Options{Listen: "127.0.0.1:0", ActionToken: "human-token", Conn: nc,
		Collector: collector.Options{OnEvent: evs.add}})
	if err != nil {
		t.Fatal(err)
	}
	start(t, s)
	client := &api.Client{Base: "http://" + s.Addr(), Token: "human-token"}

	var rec api.Rollout
	body := map[string]any{"package": "shop", "version": "1.0.1", "filter": map[string]any{"fact": []string{"role=web"}},
		"evidence_wait": "5s", "committed_at": "2026-11-25T10:00:00Z"}
	if err := client.Do("POST", "/api/v1/rollouts", body, &rec); err != nil {
		t.Fatal(err)
	}
	if rec.State != api.RolloutSucceeded || rec.Via != protocol.ViaAPI || rec.StartedBy != "collector" || len(rec.Nodes) != 3 || rec.CommittedAt.IsZero() {
		t.Fatalf("rollout record: %+v", rec)
	}
	testkit.WaitFor(t, 10*time.Second, "the rollout listed and its events", func() bool {
		var list []api.Rollout
		_ = client.Do("GET", "/api/v1/rollouts", nil, &list)
		_, started := evs.find(protocol.EventRollout, "rollout "+rec.ID+" of shop 1.0.1 started by collector on 3 nodes")
		_, ended := evs.find(protocol.EventRollout, "rollout "+rec.ID+" of shop 1.0.1 succeeded on 3 nodes")
		_, changed := evs.find(protocol.EventChange, "package install shop 1.0.0 → 1.0.1 on web-00 by collector (rollout "+rec.ID+"): ok")
		return len(list) == 1 && list[0].ID == rec.ID && list[0].State == api.RolloutSucceeded && started && ended && changed
	})
	var one api.Rollout
	if err := client.Do("GET", "/api/v1/rollouts/"+rec.ID, nil, &one); err != nil || one.ID != rec.ID {
		t.Fatalf("GET one: %v %+v", err, one)
	}

	// Asynchronous: the id at once, the record later.
	var accepted map[string]string
	body["version"], body["async"] = "1.0.0", true
	if err := client.Do("POST", "/api/v1/rollouts", body, &accepted); err != nil || accepted["state"] != "running" {
		t.Fatalf("async: %v %v", err, accepted)
	}
	testkit.WaitFor(t, 20*time.Second, "the async rollout to succeed", func() bool {
		var r api.Rollout
		return client.Do("GET", "/api/v1/rollouts/"+accepted["id"], nil, &r) == nil && r.State == api.RolloutSucceeded
	})

	// Refusals: bad input 400, nodes held by another rollout 409.
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	locks, err := rollout.OpenLocks(context.Background(), js, "pulse", nil)
	if err != nil {
		t.Fatal(err)
	}
	release, err := locks.Acquire(context.Background(), []string{"web-02"}, rollout.Hold{Rollout: "0ther", By: "user=bob", Package: "shop", Version: "1.1.0", Since: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	for _, tc := range []struct {
		body   string
		status int
		want   string
	}{
		{`{"package":"shop","version":"1.0.1","filter":{"fact":["role=web"]}}`, http.StatusConflict, "web-02 is held by rollout 0ther (shop 1.1.0, started by user=bob"},
		{`{"package":"shop","filter":{"fact":["role=web"]}}`, http.StatusBadRequest, "a rollout needs the version to roll out"},
		{`{"package":"shop","version":"1","filter":{}}`, http.StatusBadRequest, "refusing to roll out to the whole fleet"},
		{`{"package":"shop","version":"1","nodes":["web-00"],"surprise":1}`, http.StatusBadRequest, `unknown field \"surprise\"`},
		{`{"package":"shop","version":"1","nodes":["web-00"],"gates":[{"name":"g","query":"up","success":"result > 0"}]}`, http.StatusBadRequest, "PromQL gates need a Prometheus"},
	} {
		resp, b := post(t, "http://"+s.Addr()+"/api/v1/rollouts", "human-token", tc.body)
		if resp.StatusCode != tc.status || !strings.Contains(string(b), tc.want) {
			t.Errorf("%s: %d %s, want %d %q", tc.body, resp.StatusCode, b, tc.status, tc.want)
		}
	}
	if resp, _ := post(t, "http://"+s.Addr()+"/api/v1/rollouts", "", `{}`); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("without the token: %d", resp.StatusCode)
	}

	// A change through the action API is a change event with its origin.
	var act api.ActionRecord
	if err := client.Do("POST", "/api/v1/actions", map[string]any{"agent": "package", "action": "install", "data": map[string]string{"package": "shop", "version": "1.1.0"},
		"nodes": []string{"web-00"}, "committed_at": "2026-11-25T10:00:00Z"}, &act); err != nil || !act.OK {
		t.Fatalf("action: %v %+v", err, act)
	}
	testkit.WaitFor(t, 10*time.Second, "the action's change event", func() bool {
		e, ok := evs.find(protocol.EventChange, "(api "+act.ID+")")
		if !ok {
			return false
		}
		b, _ := json.Marshal(e.Data)
		var ch protocol.Change
		return json.Unmarshal(b, &ch) == nil && ch.From == "1.0.0" && ch.To == "1.1.0" && ch.Origin.CommittedAt.Equal(time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC))
	})
}
