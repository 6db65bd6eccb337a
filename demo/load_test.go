package demo

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pulseops/pulse/nodeagent/checks"
)

// A node's simulated load is its own, read by the real check_load, and
// rises over a minute when a service starts on it.
func TestSimulatedLoad(t *testing.T) {
	dir := t.TempDir()
	running := map[string]bool{"cron": true, "sshd": true}
	isRunning := func(s string) bool { return running[s] }
	a, b := newSimLoad(filepath.Join(dir, "a"), "ip-10-0-1-10"), newSimLoad(filepath.Join(dir, "b"), "ip-10-0-1-11")
	for _, l := range []*simLoad{a, b} {
		if err := l.writeCPUs(2); err != nil {
			t.Fatal(err)
		}
		if err := l.step(0, isRunning); err != nil {
			t.Fatal(err)
		}
	}
	if a.avg == b.avg {
		t.Fatalf("two nodes have the same load %v", a.avg)
	}
	idle := a.avg
	running["httpd"] = true
	for range 60 {
		if err := a.step(time.Second, isRunning); err != nil {
			t.Fatal(err)
		}
	}
	// After a minute the 1-minute average has taken about 1-1/e of httpd's
	// 0.55 tasks, the 15-minute one much less; noise is ±0.15 a tick.
	if rise := a.avg[0] - idle[0]; rise < 0.25 || rise > 0.5 {
		t.Errorf("1-minute load rose by %.2f after httpd ran a minute (from %v to %v)", rise, idle, a.avg)
	}
	if a.avg[2]-idle[2] >= a.avg[0]-idle[0] {
		t.Errorf("15-minute load rose as fast as the 1-minute one: %v -> %v", idle, a.avg)
	}
	r := checks.NewRunner(checks.RunnerOptions{Root: a.root, Commands: map[string][]string{"load": {"check_load", "-r", "-w", "4,3,2", "-c", "8,6,4"}}})
	o, err := r.Run(context.Background(), "load", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("total load average: %.2f, %.2f, %.2f", a.avg[0], a.avg[1], a.avg[2])
	if o.Status != 0 || !strings.Contains(o.Output, want) || !strings.Contains(o.Output, "scaled load average: ") {
		t.Fatalf("check_load said %d %q; want OK with %q over 2 CPUs", o.Status, o.Output, want)
	}
	b2, err := os.ReadFile(filepath.Join(a.root, "proc", "loadavg"))
	if err != nil || len(strings.Fields(string(b2))) != 5 {
		t.Fatalf("proc/loadavg %q, %v", b2, err)
	}
}
