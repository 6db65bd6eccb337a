package collector

// An attacker on the bus replays what it captured from a real agent: old
// heartbeats after the agent died, old results after the check changed
// state or the agent restarted. The collector must apply none of it, with
// or without signatures: freshness comes from the signed time and the
// stream's boot and sequence, not from the signature alone.

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/pulseops/pulse/collector/api"
	"github.com/pulseops/pulse/internal/broker"
	"github.com/pulseops/pulse/internal/broker/brokertest"
	"github.com/pulseops/pulse/internal/bus"
	"github.com/pulseops/pulse/internal/protocol"
	"github.com/pulseops/pulse/internal/security"
	"github.com/pulseops/pulse/internal/testkit"
	"github.com/pulseops/pulse/nodeagent"
)

// replayWorld is a broker, a collector and a real agent whose key the
// collector pins when signed is set.
type replayWorld struct {
	t      *testing.T
	br     *broker.Broker
	nc     *nats.Conn
	c      *Collector
	key    *security.Identity
	signed bool
	agent  *nodeagent.Agent
}

func newReplayWorld(t *testing.T, signed bool) *replayWorld {
	w := &replayWorld{t: t, br: brokertest.Start(t), signed: signed}
	w.nc = connect(t, w.br)
	var err error
	if w.key, err = security.GenerateIdentity("web-01"); err != nil {
		t.Fatal(err)
	}
	w.c = startCollector(t, w.nc, func(o *Options) {
		if signed {
			nk, err := security.NewNodeKeys(map[string]string{"web-01": w.key.PublicKey()}, false)
			if err != nil {
				t.Fatal(err)
			}
			o.Verify = nk.Verify
		}
	})
	return w
}

// startAgent runs web-01 with a heartbeat every interval and jobs.
func (w *replayWorld) startAgent(interval time.Duration, jobs ...nodeagent.Job) {
	nc, err := bus.Connect(bus.Config{URLs: []string{w.br.ClientURL()}, Name: "web-01"}, nil)
	if err != nil {
		w.t.Fatal(err)
	}
	opts := nodeagent.Options{Identity: "web-01", Collective: "test", Conn: nc, RegisterInterval: interval, Jobs: jobs, Logger: discardLogger()}
	if w.signed {
		opts.Signer = w.key.Signer
	}
	a, err := nodeagent.New(opts)
	if err != nil {
		w.t.Fatal(err)
	}
	if err := a.Start(context.Background()); err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(a.Stop)
	w.agent = a
}

// tape records every message published on subject, as an eavesdropper.
type tape struct {
	mu   sync.Mutex
	msgs [][]byte
}

func (w *replayWorld) record(subject string) *tape {
	tp := &tape{}
	sub, err := w.nc.Subscribe(subject, func(m *nats.Msg) {
		tp.mu.Lock()
		tp.msgs = append(tp.msgs, m.Data)
		tp.mu.Unlock()
	})
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { _ = sub.Unsubscribe() })
	if err := w.nc.Flush(); err != nil {
		w.t.Fatal(err)
	}
	return tp
}

func (tp *tape) copy() [][]byte {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	return append([][]byte(nil), tp.msgs...)
}

// replay publishes msgs on subject again and again until stop is closed.
func (w *replayWorld) replay(subject string, msgs [][]byte, stop chan struct{}) *sync.WaitGroup {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			for _, m := range msgs {
				select {
				case <-stop:
					return
				default:
				}
				_ = w.nc.Publish(subject, m)
			}
			_ = w.nc.Flush()
			time.Sleep(20 * time.Millisecond) // pacing the attack, not waiting for state
		}
	}()
	return &wg
}

func (w *replayWorld) malformed(kind, reason string) float64 {
	return testutil.ToFloat64(w.c.health.malformed.WithLabelValues(kind, reason))
}

// Heartbeats captured from a live agent and replayed every few
// milliseconds after it is killed: the node goes down when its last real
// heartbeat says it should, and every replay is counted.
func TestReplayedHeartbeatsAfterKill(t *testing.T) {
	for _, signed := range []bool{true, false} {
		t.Run(map[bool]string{true: "signed", false: "unsigned"}[signed], func(t *testing.T) {
			w := newReplayWorld(t, signed)
			beats := w.record("pulse.test.registry.web-01")
			const interval = 200 * time.Millisecond
			w.startAgent(interval)
			testkit.WaitFor(t, 10*time.Second, "web-01 up with a few heartbeats", func() bool {
				v, ok := w.c.Node("web-01")
				return ok && v.Up && len(beats.copy()) >= 3
			})
			w.agent.Stop() // killed: no heartbeat after this one
			if err := w.nc.Flush(); err != nil {
				t.Fatal(err)
			}
			// The tape and the collector agree on the last heartbeat once
			// everything the agent sent has arrived at both.
			var captured [][]byte
			var last *protocol.Envelope
			testkit.WaitFor(t, 5*time.Second, "the last genuine heartbeat applied", func() bool {
				captured = beats.copy()
				var err error
				if last, err = protocol.Open(captured[len(captured)-1]); err != nil {
					t.Fatal(err)
				}
				v, _ := w.c.Node("web-01")
				return v.LastSeen.Equal(last.Time)
			})
			stop := make(chan struct{})
			wg := w.replay("pulse.test.registry.web-01", captured, stop)
			testkit.WaitFor(t, 10*time.Second, "web-01 down despite the replays", func() bool {
				v, _ := w.c.Node("web-01")
				return !v.Up
			})
			testkit.WaitFor(t, 5*time.Second, "replays counted", func() bool {
				return w.malformed("registration", reasonReplayed)+w.malformed("registration", reasonOlder) >= float64(len(captured))
			})
			close(stop)
			wg.Wait()
			v, _ := w.c.Node("web-01")
			if !v.LastSeen.Equal(last.Time) {
				t.Fatalf("last seen %s, but the last genuine heartbeat was sent at %s: a replay moved it", v.LastSeen, last.Time)
			}
			if v.Up {
				t.Fatal("web-01 is up again")
			}
		})
	}
}

// A check that went from OK to CRITICAL, and a probe: the OK results and
// lower counters captured earlier, replayed while the agent runs and after
// it restarted, never bring back the OK state or lower a counter on
// /metrics.
func TestReplayedResultsNeverGoBack(t *testing.T) {
	for _, signed := range []bool{true, false} {
		t.Run(map[bool]string{true: "signed", false: "unsigned"}[signed], func(t *testing.T) {
			w := newReplayWorld(t, signed)
			results := w.record("pulse.test.results.web-01.*")
			var status atomic.Int64 // the check's state, OK until the test says otherwise
			jobs := []nodeagent.Job{
				{Name: "check_app", Kind: "check", Interval: 50 * time.Millisecond,
					Run: func(context.Context) nodeagent.Outcome {
						return nodeagent.Outcome{Status: int(status.Load()), Output: "app"}
					}},
				{Name: "login", Kind: "probe", Interval: 50 * time.Millisecond,
					Run: func(context.Context) nodeagent.Outcome {
						return nodeagent.Outcome{Status: protocol.StateOK, Output: "login OK"}
					}},
			}
			w.startAgent(time.Hour, jobs...)
			check := func() (api.CheckView, bool) {
				v, _ := w.c.Node("web-01")
				for _, c := range v.Checks {
					if c.Name == "check_app" {
						return c, true
					}
				}
				return api.CheckView{}, false
			}
			testkit.WaitFor(t, 10*time.Second, "a few OK runs of check_app", func() bool {
				c, ok := check()
				return ok && c.Runs["OK"] >= 3
			})
			oldOK := results.copy()
			status.Store(protocol.StateCritical)
			testkit.WaitFor(t, 10*time.Second, "check_app CRITICAL", func() bool {
				c, _ := check()
				return c.Status == protocol.StateCritical && c.Runs["CRITICAL"] >= 2
			})

			// Counters on /metrics only ever grow, sampled while the old
			// results are replayed.
			high := map[string]float64{}
			sample := func(when string) {
				t.Helper()
				text, err := scrapeText(w.c.Handler())
				if err != nil {
					t.Fatal(err)
				}
				for _, prefix := range []string{"pulse_check_runs_total{", "pulse_probe_runs_total{", "pulse_probe_failures_total{"} {
					for _, line := range series(text, prefix) {
						i := strings.LastIndexByte(line, ' ')
						v, _ := strconv.ParseFloat(line[i+1:], 64)
						if v < high[line[:i]] {
							t.Fatalf("%s: %s went back from %v to %v", when, line[:i], high[line[:i]], v)
						}
						high[line[:i]] = v
					}
				}
				if c, _ := check(); c.Status != protocol.StateCritical {
					t.Fatalf("%s: check_app shows %s again", when, c.State)
				}
			}
			bySubject := func(msgs [][]byte) map[string][][]byte {
				out := map[string][][]byte{}
				for _, m := range msgs {
					env, err := protocol.Open(m)
					if err != nil {
						t.Fatal(err)
					}
					res, err := env.Result()
					if err != nil {
						t.Fatal(err)
					}
					s := "pulse.test.results.web-01." + res.Name
					out[s] = append(out[s], m)
				}
				return out
			}
			attack := func(msgs [][]byte, when string) {
				stop := make(chan struct{})
				var wgs []*sync.WaitGroup
				for subject, m := range bySubject(msgs) {
					wgs = append(wgs, w.replay(subject, m, stop))
				}
				before := w.malformed("result", reasonReplayed) + w.malformed("result", reasonOlder)
				testkit.WaitFor(t, 20*time.Second, "every old result replayed twice, "+when, func() bool {
					sample(when)
					return w.malformed("result", reasonReplayed)+w.malformed("result", reasonOlder) >= before+float64(2*len(msgs))
				})
				close(stop)
				for _, wg := range wgs {
					wg.Wait()
				}
				sample(when)
			}
			sample("before the replay")
			attack(oldOK, "while the agent runs")

			// The agent restarts: its counters start again from zero,
			// which Prometheus reads as a reset; the previous run's
			// results, replayed, are older than the new run's.
			oldRun := results.copy()
			w.agent.Stop()
			stopped := time.Now() // every result of the old run was sent before this
			w.startAgent(time.Hour, jobs...)
			probe := func() (api.ProbeView, bool) {
				v, _ := w.c.Node("web-01")
				for _, p := range v.Probes {
					if p.Name == "login" {
						return p, true
					}
				}
				return api.ProbeView{}, false
			}
			// Both jobs' counters restart from zero: sampling before the
			// new run's probe result arrived would take the old run's
			// probe counter as the high mark and see the reset as going
			// back.
			var restarted time.Time
			testkit.WaitFor(t, 10*time.Second, "the new run's first results of the check and the probe", func() bool {
				c, ok := check()
				restarted = c.LastRun
				p, pok := probe()
				return ok && c.Runs["CRITICAL"] >= 1 && c.Runs["OK"] == 0 && pok && p.LastRun.After(stopped)
			})
			high = map[string]float64{}
			sample("after the restart")
			attack(oldRun, "after the restart")
			if c, _ := check(); c.Runs["OK"] != 0 || c.LastRun.Before(restarted) {
				t.Fatalf("the previous run's results came back: %+v", c)
			}
		})
	}
}

// A heartbeat dated beyond the allowed skew is refused: a node cannot be
// kept up by a message claiming to come from the future.
func TestHeartbeatFromTheFutureRefused(t *testing.T) {
	c, clk, _ := newDirect(t, nil)
	r := registration("web-1", nil)
	r.Time, r.Stream = clk.Now().Add(time.Hour), protocol.Stream{Boot: "b", Seq: 1}
	c.handle(c.subj.Registry("web-1"), wire(t, r), clk.Now())
	if _, ok := c.Node("web-1"); ok {
		t.Fatal("a heartbeat from the future created the node")
	}
	if got := testutil.ToFloat64(c.health.malformed.WithLabelValues("registration", reasonFuture)); got != 1 {
		t.Fatalf("future heartbeats counted %v, want 1", got)
	}
	// Within the skew it is taken, and counts as seen now.
	r.Time, r.Seq = clk.Now().Add(3*time.Second), 2
	c.handle(c.subj.Registry("web-1"), wire(t, r), clk.Now())
	if v, ok := c.Node("web-1"); !ok || !v.LastSeen.Equal(clk.Now()) {
		t.Fatalf("a heartbeat 3s ahead: %+v", v)
	}
}

// The broker's storage time is not liveness: a heartbeat stored now but
// sent ten minutes ago (captured and published again into an empty
// collector) does not make a node up.
func TestStorageTimeIsNotLiveness(t *testing.T) {
	c, clk, _ := newDirect(t, nil)
	r := registration("web-1", nil)
	r.Time = clk.Now().Add(-10 * time.Minute)
	c.handle(c.subj.Registry("web-1"), wire(t, r), clk.Now())
	if v, _ := c.Node("web-1"); v.Up || !v.LastSeen.Equal(r.Time) {
		t.Fatalf("a ten-minute-old heartbeat stored now: %+v", v)
	}
}

// Messages of pulse's old format and of a newer protocol version are
// refused, counted by reason and logged once a minute per reason with a
// line that names the version, however many arrive; the collector keeps
// ingesting what it can read.
func TestOldAndNewerVersionsRefused(t *testing.T) {
	var log testkit.SyncBuffer
	c, clk, _ := newDirect(t, func(o *Options) { o.Logger = slog.New(slog.NewTextHandler(&log, nil)) })
	old := []byte(`{"identity":"web-1","collective":"test","facts":{},"agents":["rpcutil"],"interval":30,"time":"2025-06-01T12:00:00Z"}`)
	newer := []byte(`{"pulse":2,"kind":"registration","from":"web-1","envelope_v2":{}}`)
	for range 100 {
		c.handle(c.subj.Registry("web-1"), old, clk.Now())
		c.handle(c.subj.Registry("web-1"), newer, clk.Now())
	}
	for reason, want := range map[string]float64{protocol.ReasonUnversioned: 100, protocol.ReasonVersion: 100} {
		if got := testutil.ToFloat64(c.health.malformed.WithLabelValues("registration", reason)); got != want {
			t.Errorf("malformed{registration,%s} = %v, want %v", reason, got, want)
		}
	}
	for _, want := range []string{
		`reason=unversioned subject=pulse.test.registry.web-1 err="message has no protocol version (no \"pulse\" field): it is in the format of pulse before protocol version 1; upgrade the sender"`,
		`reason=version subject=pulse.test.registry.web-1 err="message of protocol version 2: this pulse reads version 1 only; upgrade the reader or downgrade the sender"`,
	} {
		if n := strings.Count(log.String(), want); n != 1 {
			t.Errorf("%d log lines with %s, want 1:\n%s", n, want, log.String())
		}
	}
	feedReg(t, c, registration("web-1", nil), clk.Now())
	if v, ok := c.Node("web-1"); !ok || !v.Up {
		t.Fatal("a current heartbeat after the refused ones was not taken")
	}
}
