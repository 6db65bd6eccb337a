package nodeagent

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/pulseops/pulse/internal/broker/brokertest"
	"github.com/pulseops/pulse/internal/protocol"
)

// BenchmarkHandlePing is an agent's own work for one broadcast ping, from
// the message as NATS hands it over to the reply handed to the connection:
// what each agent of `pulse bench` does in a ping round. 1,000 agents take
// turns, each with its own copy of every round's request, as on a fleet
// run in one process. "raw" is the raw baseline's handler, answering the
// message's reply subject, on the same connection. ns/op and cpu-ns/op are
// per request; cpu-ns/op is the figure to compare on a busy machine.
func BenchmarkHandlePing(b *testing.B) {
	const agents, rounds = 1000, 8
	br := brokertest.Start(b)
	nc, err := nats.Connect(br.ClientURL())
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	subj := protocol.Subjects{Collective: "pulse"}
	start := time.Now()
	msgs := make([]*nats.Msg, 0, agents*rounds)
	for r := range rounds {
		now := start.Add(time.Duration(r) * time.Millisecond).UTC()
		req := &protocol.Request{ID: fmt.Sprintf("%032x", r), Caller: "user=bench", Time: now, Deadline: now.Add(time.Hour),
			Subject:     subj.Agent("rpcutil", "user=bench"),
			RequestBody: protocol.RequestBody{Collective: "pulse", Agent: "rpcutil", Action: "ping"}}
		data, err := protocol.EncodeRequest(req, nil)
		if err != nil {
			b.Fatal(err)
		}
		for range agents {
			msgs = append(msgs, &nats.Msg{Subject: req.Subject, Reply: "_INBOX.bench", Data: append([]byte(nil), data...)})
		}
	}
	b.Run("pulse", func(b *testing.B) {
		fleet := make([]*Agent, agents)
		var cpu time.Duration
		for i := 0; i < b.N; i += len(msgs) {
			b.StopTimer()
			for j := range fleet {
				a, err := New(Options{Identity: fmt.Sprintf("node-%05d", j), Conn: nc, Facts: staticFacts{"role": "web"}, RegisterInterval: time.Hour})
				if err != nil {
					b.Fatal(err)
				}
				a.started = start.Add(-time.Second)
				fleet[j] = a
			}
			b.StartTimer()
			c0 := cpuTime()
			j := 0
			for ; j < len(msgs) && i+j < b.N; j++ {
				fleet[j%agents].onMessage(msgs[j])
			}
			cpu += cpuTime() - c0
			// A refused request costs less than an answered one: the
			// figure holds only if every agent answered every ping.
			var replied uint64
			for _, a := range fleet {
				replied += a.stats.Replies.Load()
			}
			if replied != uint64(j) {
				b.Fatalf("%d replies to %d pings", replied, j)
			}
		}
		b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/op")
	})
	b.Run("raw", func(b *testing.B) {
		answer := []byte(`{"pong":true}`)
		c0 := cpuTime()
		for i := 0; i < b.N; i++ {
			if err := nc.Publish(msgs[i%len(msgs)].Reply, answer); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(cpuTime()-c0)/float64(b.N), "cpu-ns/op")
	})
}

// cpuTime is the CPU time this process has used: on a shared machine the
// work a benchmark did, where its wall time also holds the other
// processes'. It includes the embedded broker's and the connection's own
// goroutines, which deliver what the handler publishes.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
