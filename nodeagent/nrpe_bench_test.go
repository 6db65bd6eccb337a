package nodeagent_test

import (
	"context"
	"net"
	"os/exec"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/pulseops/pulse/internal/broker/brokertest"
	"github.com/pulseops/pulse/internal/bus"
	"github.com/pulseops/pulse/internal/rpc"
	"github.com/pulseops/pulse/nodeagent"
	"github.com/pulseops/pulse/nodeagent/actions"
	"github.com/pulseops/pulse/nodeagent/checks"
)

// BenchmarkNRPERoundTripPulse is `pulse nrpe check_load` against one local
// agent: a directed request over NATS, the builtin check_load, the reply.
func BenchmarkNRPERoundTripPulse(b *testing.B) {
	br := brokertest.Start(b)
	nc, err := bus.Connect(bus.Config{URLs: []string{br.ClientURL()}, Name: "bench"}, nil)
	if err != nil {
		b.Fatal(err)
	}
	runner := checks.NewRunner(checks.RunnerOptions{Commands: map[string][]string{"check_load": {"check_load", "-w", "5,4,3", "-c", "10,8,6"}}})
	a, err := nodeagent.New(nodeagent.Options{Identity: "local", Conn: nc, Agents: []actions.Agent{actions.NewNRPEAgent(runner, nil)}, RegisterInterval: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	if err := a.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(a.Stop)
	cnc, err := nats.Connect(br.ClientURL())
	if err != nil {
		b.Fatal(err)
	}
	defer cnc.Close()
	cl := rpc.New(cnc, rpc.Options{})
	call := rpc.Call{Agent: "nrpe", Action: "runcommand", Data: map[string]string{"command": "check_load"}, Nodes: []string{"local"}}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res, err := cl.Do(context.Background(), call)
		if err != nil || len(res.Replies) != 1 || !res.OK() {
			b.Fatalf("round trip: %v %+v", err, res)
		}
	}
}

// BenchmarkNRPERoundTripCheckNRPE is the baseline: Debian's check_nrpe
// against Debian's NRPE daemon on 127.0.0.1:5666 (start it with `service
// nagios-nrpe-server start`), running the check_load plugin.
func BenchmarkNRPERoundTripCheckNRPE(b *testing.B) {
	const checkNRPE = "/usr/lib/nagios/plugins/check_nrpe"
	if _, err := exec.LookPath(checkNRPE); err != nil {
		b.Skip("check_nrpe is not installed (apt-get install nagios-nrpe-plugin)")
	}
	if c, err := net.DialTimeout("tcp", "127.0.0.1:5666", time.Second); err != nil {
		b.Skip("no NRPE daemon on 127.0.0.1:5666 (service nagios-nrpe-server start)")
	} else {
		c.Close()
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		out, err := exec.Command(checkNRPE, "-H", "127.0.0.1", "-c", "check_load").CombinedOutput()
		if err != nil {
			if _, ok := err.(*exec.ExitError); !ok {
				b.Fatalf("check_nrpe: %v %s", err, out)
			}
		}
	}
}
