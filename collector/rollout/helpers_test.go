package rollout_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pulseops/pulse/collector/api"
	"github.com/pulseops/pulse/collector/rollout"
	"github.com/pulseops/pulse/internal/broker"
	"github.com/pulseops/pulse/internal/broker/brokertest"
	"github.com/pulseops/pulse/internal/bus"
	"github.com/pulseops/pulse/internal/protocol"
	"github.com/pulseops/pulse/internal/rpc"
	"github.com/pulseops/pulse/internal/testkit"
	"github.com/pulseops/pulse/nodeagent"
	"github.com/pulseops/pulse/nodeagent/actions"
)

// fleet is n real agents on an embedded broker, each with a simulated
// package manager holding shop, a check that is always OK and a probe that
// fails while the node runs a bad shop version, as the demo's login does.
type fleet struct {
	t      testing.TB
	b      *broker.Broker
	nc     *nats.Conn
	js     jetstream.JetStream
	client *rpc.Client
	ids    []string
	pkgs   map[string]*actions.SimPackageProvider
	agents map[string]*nodeagent.Agent

	mu  sync.Mutex
	bad map[string]bool // shop versions whose probe fails
}

type fleetOptions struct {
	nodes int
	// installed is each node's shop version (default 1.0.0).
	installed string
	// catalogue is the repository's shop versions (default 1.0.0, 1.0.1,
	// 1.1.0).
	catalogue []string
	// probes is how many probe jobs a node runs (1; 0 for none).
	probes int
}

func newFleet(t testing.TB, o fleetOptions) *fleet {
	t.Helper()
	if o.installed == "" {
		o.installed = "1.0.0"
	}
	if o.catalogue == nil {
		o.catalogue = []string{"1.0.0", "1.0.1", "1.1.0"}
	}
	f := &fleet{t: t, b: brokertest.Start(t), pkgs: map[string]*actions.SimPackageProvider{}, agents: map[string]*nodeagent.Agent{},
		bad: map[string]bool{"1.1.0": true}}
	var err error
	if f.nc, err = bus.Dial(bus.Config{URLs: []string{f.b.ClientURL()}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.nc.Close)
	if f.js, err = jetstream.New(f.nc); err != nil {
		t.Fatal(err)
	}
	f.client = rpc.New(f.nc, rpc.Options{Caller: "user=alice"})
	for i := range o.nodes {
		id := fmt.Sprintf("web-%03d", i)
		f.ids = append(f.ids, id)
		pkgs := actions.NewSimPackageProvider(actions.SimPackageOptions{
			Catalogue: map[string][]string{"shop": o.catalogue}, Installed: map[string]string{"shop": o.installed}, Delay: -1,
		})
		f.pkgs[id] = pkgs
		pa := actions.NewPackageAgent(pkgs, nil)
		jobs := []nodeagent.Job{{Name: "check_shop", Kind: "check", Interval: time.Hour, Run: func(context.Context) nodeagent.Outcome {
			return nodeagent.Outcome{Status: protocol.StateOK, Output: "SHOP OK"}
		}}}
		for p := range o.probes {
			jobs = append(jobs, nodeagent.Job{Name: fmt.Sprintf("login%d", p), Kind: "probe", Interval: time.Hour, Run: func(ctx context.Context) nodeagent.Outcome {
				v, _ := pa.Version(ctx, "shop")
				if f.isBad(v) {
					return nodeagent.Outcome{Status: protocol.StateCritical, Output: "PROBE CRITICAL - login failed at submit: status 500, want 200 (shop " + v + ")"}
				}
				return nodeagent.Outcome{Status: protocol.StateOK, Output: "PROBE OK - login"}
			}})
		}
		anc, err := bus.Connect(bus.Config{URLs: []string{f.b.ClientURL()}, Name: id}, nil)
		if err != nil {
			t.Fatal(err)
		}
		a, err := nodeagent.New(nodeagent.Options{Identity: id, Conn: anc, RegisterInterval: time.Hour, Agents: []actions.Agent{pa}, Jobs: jobs,
			WatchPackages: []string{"shop"}, PackageVersion: pa.Version})
		if err != nil {
			t.Fatal(err)
		}
		if err := a.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		f.agents[id] = a
		t.Cleanup(a.Stop)
	}
	return f
}

func (f *fleet) isBad(v string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.bad[v]
}

// runner is a rollout runner as the CLI makes one, recording into recs.
func (f *fleet) runner(prom string, lines *[]string) (*rollout.Runner, *rollout.Store) {
	f.t.Helper()
	ctx := context.Background()
	locks, err := rollout.OpenLocks(ctx, f.js, "pulse", nil)
	if err != nil {
		f.t.Fatal(err)
	}
	store := rollout.NewStore(nil, nil)
	stop, err := store.Follow(ctx, f.js, "pulse", 1)
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(stop)
	var mu sync.Mutex
	r, err := rollout.New(rollout.Options{
		Client: f.client, Caller: "user=alice", Via: protocol.ViaCLI, Prometheus: prom, Locks: locks,
		Publish: rollout.NewRecorder(f.js, "pulse", "user=alice", nil).Publish,
		Progress: func(l string) {
			if lines != nil {
				mu.Lock()
				*lines = append(*lines, l)
				mu.Unlock()
			}
		},
		Timeout: 20 * time.Second,
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return r, store
}

// versions is every node's installed shop version, as its package manager
// says.
func (f *fleet) versions() map[string]string {
	out := map[string]string{}
	for id, p := range f.pkgs {
		st, _ := p.Status(context.Background(), "shop")
		out[id] = st.Ensure
	}
	return out
}

func (f *fleet) allAt(v string) error {
	for id, got := range f.versions() {
		if got != v {
			return fmt.Errorf("%s runs shop %s, want %s", id, got, v)
		}
	}
	return nil
}

func nodeStates(rec api.Rollout) map[api.NodeState]int {
	out := map[api.NodeState]int{}
	for _, n := range rec.Nodes {
		out[n.State]++
	}
	return out
}

// request is a rollout of shop on every node of the fleet.
func (f *fleet) request(version string) api.RolloutRequest {
	return api.RolloutRequest{Package: "shop", Version: version, Nodes: slices.Clone(f.ids), EvidenceWait: api.Duration(10 * time.Second)}
}

// startPrometheus runs the real Prometheus, scraping itself every second,
// and returns its URL.
func startPrometheus(t *testing.T) string {
	t.Helper()
	bin := testkit.RealPart(t, "prometheus")
	dir := t.TempDir()
	addr := fmt.Sprintf("127.0.0.1:%d", testkit.FreePort(t))
	cfg := fmt.Sprintf("global: {scrape_interval: 1s, evaluation_interval: 1s}\nscrape_configs:\n  - job_name: prometheus\n    static_configs: [{targets: [%q]}]\n", addr)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--config.file="+filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+addr)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	url := "http://" + addr
	testkit.WaitFor(t, 60*time.Second, "Prometheus to have scraped itself", func() bool {
		resp, err := http.Get(url + "/api/v1/query?query=up")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var b strings.Builder
		buf := make([]byte, 4096)
		n, _ := resp.Body.Read(buf)
		b.Write(buf[:n])
		return strings.Contains(b.String(), `"job":"prometheus"`)
	})
	return url
}
