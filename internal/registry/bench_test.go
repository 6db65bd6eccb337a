package registry

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/pulseops/pulse/internal/broker/brokertest"
)

// registry10000 is an embedded broker whose bucket holds 10,000 nodes,
// each registered with 32 facts (about 1.6 KB a value, as the demo's).
func registry10000(b *testing.B) *nats.Conn {
	nc := dial(b, brokertest.Start(b).ClientURL())
	ensure(b, nc)
	facts := map[string]any{}
	for i := range 32 {
		facts[fmt.Sprintf("fact_%02d", i)] = fmt.Sprintf("value of fact %d, about forty bytes long", i)
	}
	now := time.Now()
	for i := range 10000 {
		id := fmt.Sprintf("node-%05d", i)
		if err := Put(nc, "pulse", id, registration(b, id, now, nil, facts), time.Hour, 5*time.Second); err != nil {
			b.Fatal(err)
		}
	}
	return nc
}

// cpu is this process's CPU time: the client's and the embedded broker's,
// what a read costs whatever else the machine runs.
func cpu() time.Duration {
	var r syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &r)
	return time.Duration(r.Utime.Nano() + r.Stime.Nano())
}

// BenchmarkRead10000 reads every value: what a filter on facts costs.
func BenchmarkRead10000(b *testing.B) {
	nc := registry10000(b)
	b.ResetTimer()
	c0 := cpu()
	for range b.N {
		s, err := Read(context.Background(), nc, "pulse", ReadOptions{})
		if err != nil || len(s.Entries) != 10000 {
			b.Fatalf("read %d entries: %v", len(s.Entries), err)
		}
	}
	b.ReportMetric(float64(cpu()-c0)/float64(b.N)/1e6, "cpu-ms/op")
}

// BenchmarkKeys10000 lists the keys: what a ping without a filter costs.
func BenchmarkKeys10000(b *testing.B) {
	nc := registry10000(b)
	b.ResetTimer()
	c0 := cpu()
	for range b.N {
		k, err := Keys(context.Background(), nc, "pulse", 5*time.Second)
		if err != nil || len(k.Identities) != 10000 {
			b.Fatalf("%d keys: %v", len(k.Identities), err)
		}
	}
	b.ReportMetric(float64(cpu()-c0)/float64(b.N)/1e6, "cpu-ms/op")
}
