package faults

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/pulseops/pulse/internal/testkit"
)

// TestCollectorSurvivesItsBrokerCrash kills (SIGKILL, no goodbye) the
// broker process the collector is connected to, in a three-member
// JetStream cluster, and wants the collector to apply results again. A
// crashed member stays "online" to the others for minutes, so a consumer
// the collector recreates right after the crash may be placed on the dead
// member; the collector must not wait on it forever.
func TestCollectorSurvivesItsBrokerCrash(t *testing.T) {
	bin := pulseBinary(t)
	dir := t.TempDir()
	const n = 3
	ports, cports := make([]int, n), make([]int, n)
	var urls []string
	for i := range ports {
		ports[i], cports[i] = testkit.FreePort(t), testkit.FreePort(t)
		urls = append(urls, fmt.Sprintf("nats://127.0.0.1:%d", ports[i]))
	}
	var brokers []*proc
	for i := range n {
		args := []string{"broker", "--name", fmt.Sprintf("c%d", i), "--listen", fmt.Sprintf("127.0.0.1:%d", ports[i]),
			"--cluster", fmt.Sprintf("127.0.0.1:%d", cports[i]), "--cluster-name", "crash",
			"--jetstream", filepath.Join(dir, fmt.Sprintf("js-%d", i)), "--log-level", "warn"}
		for j := range n {
			if j != i {
				args = append(args, "--routes", fmt.Sprintf("nats://127.0.0.1:%d", cports[j]))
			}
		}
		brokers = append(brokers, start(t, fmt.Sprintf("broker c%d", i), bin, nil, args...))
	}
	// The collector knows only the victim; it learns the others from the
	// cluster, as a client does.
	const victim = 0
	col := startCollector(t, urls[victim:victim+1], 3, nil)
	var fleet []*node
	for i := range 3 {
		fleet = append(fleet, startNode(t, fmt.Sprintf("node-%d", i), nodeOptions{urls: urls[1:], checkIv: 200 * time.Millisecond, register: time.Second}))
	}
	// runs counts the results applied for id while it is up (registrations
	// come through a stream of their own).
	runs := func(id string) uint64 {
		v, ok := col.Node(id)
		if !ok || !v.Up || len(v.Checks) == 0 {
			return 0
		}
		var r uint64
		for _, c := range v.Checks[0].Runs {
			r += c
		}
		return r
	}
	eventually(t, 30*time.Second, "the collector applies every node's results", func() (bool, string) {
		for _, nd := range fleet {
			if runs(nd.id) < 5 {
				return false, nd.id
			}
		}
		return true, ""
	})
	brokers[victim].kill()
	killed := time.Now()
	want := map[string]int64{}
	for _, nd := range fleet {
		want[nd.id] = nd.seq.last.Load() + 10
	}
	eventually(t, 60*time.Second, "the collector applies registrations and results published after the crash", func() (bool, string) {
		for _, nd := range fleet {
			if r := runs(nd.id); int64(r) < want[nd.id] {
				return false, fmt.Sprintf("%s: %d runs applied while up, want %d", nd.id, r, want[nd.id])
			}
		}
		return true, ""
	})
	t.Logf("results applied again %v after the crash", time.Since(killed).Round(100*time.Millisecond))
}
