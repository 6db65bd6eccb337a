package demo

import (
	"context"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"
)

// serviceLoad is how many runnable tasks a running service adds to a
// simulated node's load, on average.
var serviceLoad = map[string]float64{
	"cron":         0.02,
	"sshd":         0.01,
	"nginx":        0.35,
	"httpd":        0.55,
	"haproxy":      0.3,
	"postgresql":   0.8,
	"redis-server": 0.25,
}

// loadTick is how often simulated load averages move.
const loadTick = time.Second

// simLoad is one node's load average, computed as the kernel does: an
// exponentially damped mean of the runnable tasks over 1, 5 and 15
// minutes. The tasks are a small base of the node's own, what runs on it
// (each running service adds its weight) and some noise, so every node's
// load differs, moves, and rises over a minute when a service is started on
// it. It is written to the node's own proc/loadavg, which the real
// check_load builtin reads.
type simLoad struct {
	root string
	base float64
	avg  [3]float64
	rng  *rand.Rand
}

func newSimLoad(root, identity string) *simLoad {
	h := fnv.New64a()
	h.Write([]byte(identity))
	seed := h.Sum64()
	return &simLoad{root: root, base: 0.05 + float64(seed%20)/100, avg: [3]float64{-1, -1, -1}, rng: rand.New(rand.NewPCG(seed, 1))}
}

// writeCPUs writes the node's online CPU list, which check_load -r divides
// by, from its processorcount fact.
func (l *simLoad) writeCPUs(n int) error {
	return writeFile(filepath.Join(l.root, "sys", "devices", "system", "cpu", "online"), fmt.Sprintf("0-%d\n", max(n, 1)-1))
}

// step advances the averages by dt for the tasks running now and writes
// them out.
func (l *simLoad) step(dt time.Duration, running func(string) bool) error {
	tasks := l.base + (l.rng.Float64()-0.5)*0.3
	for name, w := range serviceLoad {
		if running(name) {
			tasks += w
		}
	}
	tasks = max(tasks, 0)
	for i, window := range [3]time.Duration{time.Minute, 5 * time.Minute, 15 * time.Minute} {
		if l.avg[i] < 0 {
			// Start as if the node had been running like this for long.
			l.avg[i] = tasks
			continue
		}
		e := math.Exp(-dt.Seconds() / window.Seconds())
		l.avg[i] = l.avg[i]*e + tasks*(1-e)
	}
	return writeFile(filepath.Join(l.root, "proc", "loadavg"),
		fmt.Sprintf("%.2f %.2f %.2f %d/%d %d\n", l.avg[0], l.avg[1], l.avg[2], 1+int(tasks), 90+l.rng.IntN(20), 1000+l.rng.IntN(30000)))
}

// runLoad moves every node's load each loadTick until ctx ends.
func runLoad(ctx context.Context, nodes []*simNode, log func(error)) {
	t := time.NewTicker(loadTick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, n := range nodes {
			if err := n.load.step(loadTick, n.services.Running); err != nil {
				log(err)
			}
		}
	}
}

// writeFile replaces path's content whole, so a reader never sees half of
// it.
func writeFile(path, content string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
