package rpc_test

import (
	"context"
	"fmt"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/pulseops/pulse/internal/broker"
	"github.com/pulseops/pulse/internal/broker/brokertest"
	"github.com/pulseops/pulse/internal/bus"
	"github.com/pulseops/pulse/internal/issuer"
	"github.com/pulseops/pulse/internal/protocol"
	"github.com/pulseops/pulse/internal/rpc"
	"github.com/pulseops/pulse/internal/security"
	"github.com/pulseops/pulse/nodeagent"
)

type facts map[string]any

func (f facts) Facts() map[string]any { return f }

// startAgents runs n real agents, each on its own connection.
func startAgents(b testing.TB, url string, n int) {
	startSecuredAgents(b, url, n, nil)
}

// startSecuredAgents runs n agents; with sec set each logs in with its own
// issued credentials and believes requests only from the issuer's users,
// under a policy of rules, as a production agent does. Replies are not
// signed: the broker lets only their node publish them.
func startSecuredAgents(b testing.TB, url string, n int, sec *issuer.Local, rules ...security.RuleSpec) {
	var verify func(*protocol.Envelope) (*protocol.Principal, error)
	var pol *security.Policy
	if sec != nil {
		t := sec.TrustedIssuers()
		is, err := security.NewIssuers([]string{t[issuer.RoleUser]}, []string{t[issuer.RoleCollector]})
		if err != nil {
			b.Fatal(err)
		}
		verify = (&security.Verifier{Issuers: is, Require: true}).Verify
		if pol, err = security.NewPolicy("bench policy", security.PolicyFile{Rules: rules}, nil); err != nil {
			b.Fatal(err)
		}
	}
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("node-%05d", i)
		c := bus.Config{URLs: []string{url}, Name: id}
		if sec != nil {
			c.CredsFile = sec.Nodes[id]
		}
		nc, err := bus.Connect(c, nil)
		if err != nil {
			b.Fatal(err)
		}
		opts := nodeagent.Options{Identity: id, Conn: nc, Facts: facts{"role": "web"}, RegisterInterval: time.Hour}
		if sec != nil {
			opts.Verify, opts.Authorize, opts.Open = verify, pol.Authorize, pol.Open
		}
		a, err := nodeagent.New(opts)
		if err != nil {
			b.Fatal(err)
		}
		if err := a.Start(context.Background()); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(a.Stop)
	}
}

// BenchmarkPingFanout1000 is `pulse ping` against 1,000 in-process agents:
// one broadcast, replies collected until the fleet has answered. ns/op
// includes the 1 s quiet window that ends the broadcast; the figure to
// compare is the time to the last reply (see reportLast).
func BenchmarkPingFanout1000(b *testing.B) {
	const n = 1000
	br := brokertest.Start(b)
	startAgents(b, br.ClientURL(), n)
	nc, err := nats.Connect(br.ClientURL())
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	cl := rpc.New(nc, rpc.Options{})
	var lasts, cpus []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c0 := cpuTime()
		lasts = append(lasts, pingLastReply(b, cl, n))
		cpus = append(cpus, cpuTime()-c0)
	}
	reportLast(b, lasts, cpus)
}

// cpuTime is the CPU time this process (broker, agents and client) has
// used. A round's share of it is what the fan-out cost whatever else the
// machine runs, where its wall time grows with every other process that
// wants the same cores.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// pingLastReply runs one ping against the fleet of n nodes and returns the
// time until its last reply arrived.
func pingLastReply(b *testing.B, cl *rpc.Client, n int) time.Duration {
	res, err := cl.Do(context.Background(), rpc.Call{Agent: "rpcutil", Action: "ping", Quiet: time.Second, DiscoveryTimeout: 10 * time.Second,
		OnReply: func(*rpc.Reply) {}})
	if err != nil {
		b.Fatal(err)
	}
	if len(res.Replies) != n || res.Forged != 0 {
		b.Fatalf("%d replies (%d forged), want %d", len(res.Replies), res.Forged, n)
	}
	var last time.Duration
	for _, r := range res.Replies {
		last = max(last, r.RTT)
	}
	return last
}

// reportLast reports the median and worst time until the last reply
// arrived, the figure comparable across pulse and the raw baseline (ns/op
// of the pulse benchmark also holds the quiet window that ends discovery),
// and the median CPU time of a round.
func reportLast(b *testing.B, lasts, cpus []time.Duration) {
	slices.Sort(lasts)
	slices.Sort(cpus)
	b.ReportMetric(float64(lasts[len(lasts)/2])/float64(time.Millisecond), "ms-median-last-reply")
	b.ReportMetric(float64(lasts[len(lasts)-1])/float64(time.Millisecond), "ms-max-last-reply")
	b.ReportMetric(float64(cpus[len(cpus)/2])/float64(time.Millisecond), "ms-median-cpu")
}

// BenchmarkPingFanout1000Signed is BenchmarkPingFanout1000 secured as
// SECURITY.md says: a broker that trusts pulse's issuer and nothing else,
// every agent logged in with its own credentials, the client with a
// user's, the demo's policy (anyone may discover and read). The client
// signs its request and carries its JWT; every reply is authenticated by
// the broker (only its node may publish on the subject that names it), so
// the client verifies no signature. A ping is rpcutil, which the policy
// lets anyone ask, so agents answer it on the broker's word for its caller
// (nodeagent.Options.Open); BenchmarkPingFanout1000Verified has every
// agent check every request's JWT and signature.
func BenchmarkPingFanout1000Signed(b *testing.B) {
	benchSecured(b, security.ReadOnlyRules("*")...)
}

// BenchmarkPingFanout1000Verified is BenchmarkPingFanout1000Signed under a
// policy that lets only ops ask anything, so every agent checks the
// request's JWT (once) and its signature (every time) before it answers.
func BenchmarkPingFanout1000Verified(b *testing.B) {
	benchSecured(b, security.RuleSpec{Name: "ops only", Effect: "allow", Callers: []string{"group:ops"}, Agent: "*"})
}

func benchSecured(b *testing.B, rules ...security.RuleSpec) {
	const n = 1000
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("node-%05d", i)
	}
	sec, err := issuer.NewLocal(b.TempDir(), issuer.LocalOptions{Nodes: ids})
	if err != nil {
		b.Fatal(err)
	}
	br, err := broker.Start(broker.Options{Port: -1, ConfigFile: sec.ServerConfigFile})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(br.Shutdown)
	startSecuredAgents(b, br.ClientURL(), n, sec, rules...)
	user, err := security.LoadCreds(sec.User)
	if err != nil {
		b.Fatal(err)
	}
	nc, err := bus.Dial(bus.Config{URLs: []string{br.ClientURL()}, Credentials: bus.Credentials{CredsFile: sec.User}})
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	cl := rpc.New(nc, rpc.Options{Caller: issuer.CallerToken(issuer.RoleUser, user.Name), Signer: user.Signer, JWT: user.JWT})
	var lasts, cpus []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c0 := cpuTime()
		lasts = append(lasts, pingLastReply(b, cl, n))
		cpus = append(cpus, cpuTime()-c0)
	}
	reportLast(b, lasts, cpus)
}

// BenchmarkRawFanout1000 is the baseline: one request published with plain
// nats.go, 1,000 subscribers on their own connections answering an inbox,
// no pulse code at all.
func BenchmarkRawFanout1000(b *testing.B) {
	const n = 1000
	br := brokertest.Start(b)
	for i := 0; i < n; i++ {
		c, err := nats.Connect(br.ClientURL())
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(c.Close)
		if _, err := c.Subscribe("raw.ping", func(m *nats.Msg) { _ = m.Respond([]byte(`{"pong":1}`)) }); err != nil {
			b.Fatal(err)
		}
		c.Flush()
	}
	nc, err := nats.Connect(br.ClientURL())
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	var lasts, cpus []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c0 := cpuTime()
		start := time.Now()
		inbox := nc.NewRespInbox()
		ch := make(chan *nats.Msg, n)
		sub, err := nc.ChanSubscribe(inbox, ch)
		if err != nil {
			b.Fatal(err)
		}
		if err := nc.PublishRequest("raw.ping", inbox, []byte(`{"ping":1}`)); err != nil {
			b.Fatal(err)
		}
		for got := 0; got < n; got++ {
			select {
			case <-ch:
			case <-time.After(5 * time.Second):
				b.Fatalf("raw fan-out: %d of %d replies", got, n)
			}
		}
		lasts = append(lasts, time.Since(start))
		cpus = append(cpus, cpuTime()-c0)
		sub.Unsubscribe()
	}
	reportLast(b, lasts, cpus)
}
