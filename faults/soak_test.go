package faults

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pulseops/pulse/internal/broker/brokertest"
	"github.com/pulseops/pulse/nodeagent"
)

// soakSetting reads a duration or count from the environment.
func soakSetting[T int | time.Duration](t *testing.T, name string, def T) T {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	var out T
	switch p := any(&out).(type) {
	case *int:
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatalf("%s=%q is not a number", name, v)
		}
		*p = n
	case *time.Duration:
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("%s=%q is not a duration such as 30m", name, v)
		}
		*p = d
	}
	return out
}

type soakSample struct {
	at         time.Duration
	heap       uint64
	goroutines int
	rss        uint64
}

// TestSoak runs 1,000 agents with checks every 10s against an embedded
// broker and a collector in this process for 30 minutes (PULSE_SOAK_NODES,
// PULSE_SOAK_INTERVAL, PULSE_SOAK_DURATION, PULSE_SOAK_SAMPLE change that),
// sampling heap, goroutines and RSS; memory and goroutines must stay flat
// and every published result must reach the collector. `make soak` runs it;
// plain `go test` skips it.
func TestSoak(t *testing.T) {
	if os.Getenv("PULSE_SOAK") != "1" {
		t.Skip("soak runs only with PULSE_SOAK=1 (make soak)")
	}
	nodes := soakSetting(t, "PULSE_SOAK_NODES", 1000)
	interval := soakSetting(t, "PULSE_SOAK_INTERVAL", 10*time.Second)
	duration := soakSetting(t, "PULSE_SOAK_DURATION", 30*time.Minute)
	every := soakSetting(t, "PULSE_SOAK_SAMPLE", time.Minute)

	b := brokertest.Start(t)
	urls := []string{b.ClientURL()}
	col := startCollector(t, urls, 1, nil)
	var published atomic.Int64
	for i := 0; i < nodes; i++ {
		id := fmt.Sprintf("soak-%04d", i)
		nc := connect(t, urls, id)
		a, err := nodeagent.New(nodeagent.Options{
			Identity: id, Conn: nc, RegisterInterval: interval,
			Facts: facts{"role": "web", "ec2_placement_availability_zone": "eu-west-1a"},
			Jobs: []nodeagent.Job{{Name: "check_soak", Kind: "check", Interval: interval, Splay: interval,
				Run: func(context.Context) nodeagent.Outcome {
					published.Add(1)
					return nodeagent.Outcome{Output: "OK - soak"}
				}}},
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := a.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(a.Stop)
	}
	results := func() int64 {
		mfs, err := col.Registry().Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == "pulse_collector_messages_total" {
				for _, m := range mf.GetMetric() {
					if label(m, "kind") == "result" {
						return int64(value(m))
					}
				}
			}
		}
		return 0
	}
	sample := func(start time.Time) soakSample {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		s := soakSample{at: time.Since(start).Round(time.Second), heap: ms.HeapInuse, goroutines: runtime.NumGoroutine(), rss: rssSelf()}
		t.Logf("soak %v: heap in use %.1f MiB, goroutines %d, RSS %.1f MiB, results published %d, applied %d",
			s.at, float64(s.heap)/(1<<20), s.goroutines, float64(s.rss)/(1<<20), published.Load(), results())
		return s
	}
	start := time.Now()
	var samples []soakSample
	tick := time.NewTicker(every)
	defer tick.Stop()
	for time.Since(start) < duration {
		<-tick.C // the soak's own clock: sampling period, not waiting for state
		samples = append(samples, sample(start))
	}
	if len(samples) < 3 {
		t.Fatalf("only %d samples: make PULSE_SOAK_DURATION at least three PULSE_SOAK_SAMPLE periods", len(samples))
	}
	// The first sample is still warming up (splayed first runs, stream
	// growth); compare the rest with the second.
	base, last := samples[1], samples[len(samples)-1]
	if limit := base.heap + base.heap/4 + 16<<20; last.heap > limit {
		t.Errorf("heap grew from %.1f MiB at %v to %.1f MiB at %v (more than 25%% + 16 MiB)", float64(base.heap)/(1<<20), base.at, float64(last.heap)/(1<<20), last.at)
	}
	if limit := base.goroutines + base.goroutines/50 + 10; last.goroutines > limit {
		t.Errorf("goroutines grew from %d at %v to %d at %v", base.goroutines, base.at, last.goroutines, last.at)
	}
	want := published.Load()
	eventually(t, 30*time.Second, "collector applied every published result", func() (bool, string) {
		got := results()
		return got >= want, fmt.Sprintf("%d of %d", got, want)
	})
	t.Logf("soak of %d nodes for %v: %d results published, all applied", nodes, duration, want)
}

func rssSelf() uint64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	var size, res uint64
	if _, err := fmt.Sscan(string(b), &size, &res); err != nil {
		return 0
	}
	return res * uint64(os.Getpagesize())
}
