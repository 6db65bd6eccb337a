package bench

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/pulseops/pulse/demo"
	"github.com/pulseops/pulse/internal/bus"
	"github.com/pulseops/pulse/nodeagent"
	"github.com/pulseops/pulse/nodeagent/actions"
)

// Zones the simulated fleet is spread over.
var benchZones = []string{"eu-west-1a", "eu-west-1b", "eu-west-1c"}

// simAgent is one simulated node: a real agent on its own connection.
type simAgent struct {
	id    string
	nc    *nats.Conn
	agent *nodeagent.Agent
}

// staticFacts serves a node's facts; the demo's facts never change.
type staticFacts map[string]any

func (f staticFacts) Facts() map[string]any { return f }

// fleet is N running simulated agents.
type fleet struct {
	agents []*simAgent
}

// parallelism bounds concurrent dials so the broker's accept loop is not
// swamped and a failure surfaces quickly.
const parallelism = 32

// startFleet connects and starts n agents against url, each with its own
// credentials and believing only the issuer's callers when sec is set.
func startFleet(ctx context.Context, url string, n int, sec *security, log *slog.Logger) (*fleet, error) {
	specs := demo.Fleet(n, benchZones)
	f := &fleet{agents: make([]*simAgent, n)}
	err := forEach(n, func(i int) error {
		spec := specs[i]
		nc, err := bus.Connect(bus.Config{URLs: []string{url}, Name: spec.Identity, Credentials: sec.login(sec.nodeCreds(spec.Identity))}, log)
		if err != nil {
			return err
		}
		web := spec.Role == "web"
		services := actions.NewSimServiceProvider(actions.SimServiceOptions{Delay: -1, Services: map[string]actions.SimService{
			"cron":  {Running: true, Enabled: true},
			"sshd":  {Running: true, Enabled: true},
			"nginx": {Running: web, Enabled: web},
		}})
		packages := actions.NewSimPackageProvider(actions.SimPackageOptions{Delay: -1})
		o := nodeagent.Options{
			Identity: spec.Identity,
			Conn:     nc,
			Facts:    staticFacts(spec.Facts),
			Classes:  spec.Classes,
			Agents:   []actions.Agent{actions.NewPackageAgent(packages, nil), actions.NewServiceAgent(services, nil)},
			// Heartbeats are not what is measured; keep them out of the way.
			RegisterInterval: 10 * time.Minute,
			Logger:           log,
		}
		if sec != nil {
			o.Verify, o.Authorize, o.Open = sec.verify, sec.authorize.Authorize, sec.authorize.Open
		}
		ag, err := nodeagent.New(o)
		if err != nil {
			nc.Close()
			return fmt.Errorf("agent %s: %w", spec.Identity, err)
		}
		if err := ag.Start(ctx); err != nil {
			nc.Close()
			return fmt.Errorf("start agent %s: %w", spec.Identity, err)
		}
		f.agents[i] = &simAgent{id: spec.Identity, nc: nc, agent: ag}
		return nil
	})
	if err != nil {
		f.stop()
		return nil, err
	}
	return f, nil
}

func (f *fleet) stop() {
	_ = forEach(len(f.agents), func(i int) error {
		if a := f.agents[i]; a != nil {
			a.agent.Stop()
		}
		return nil
	})
}

// rawFleet is the baseline: n bare connections that answer one subject.
type rawFleet struct {
	conns   []*nats.Conn
	subject string
}

func startRaw(url string, n int, creds string) (*rawFleet, error) {
	r := &rawFleet{conns: make([]*nats.Conn, n), subject: "bench.raw." + nats.NewInbox()[len("_INBOX."):]}
	answer := []byte(`{"pong":true}`)
	err := forEach(n, func(i int) error {
		opts := []nats.Option{nats.Name(fmt.Sprintf("raw-%d", i))}
		if creds != "" {
			opts = append(opts, nats.UserCredentials(creds))
		}
		nc, err := nats.Connect(url, opts...)
		if err != nil {
			return fmt.Errorf("raw baseline connection %d to %s: %w", i, url, err)
		}
		r.conns[i] = nc
		if _, err := nc.Subscribe(r.subject, func(m *nats.Msg) { _ = m.Respond(answer) }); err != nil {
			return fmt.Errorf("raw baseline subscribe: %w", err)
		}
		return nc.Flush()
	})
	if err != nil {
		r.stop()
		return nil, err
	}
	return r, nil
}

// request publishes one message and waits for n answers; it returns the time
// from publish to the last answer and how many arrived.
func (r *rawFleet) request(nc *nats.Conn, n int, timeout time.Duration) (time.Duration, int, error) {
	inbox := nc.NewRespInbox()
	ch := make(chan *nats.Msg, 65536)
	sub, err := nc.ChanSubscribe(inbox, ch)
	if err != nil {
		return 0, 0, fmt.Errorf("raw baseline inbox: %w", err)
	}
	defer sub.Unsubscribe()
	_ = sub.SetPendingLimits(-1, -1)
	start := time.Now()
	if err := nc.PublishRequest(r.subject, inbox, []byte(`{"ping":true}`)); err != nil {
		return 0, 0, fmt.Errorf("raw baseline publish: %w", err)
	}
	if err := nc.Flush(); err != nil {
		return 0, 0, fmt.Errorf("raw baseline flush: %w", err)
	}
	got, last := 0, time.Duration(0)
	t := time.NewTimer(timeout)
	defer t.Stop()
	for got < n {
		select {
		case <-ch:
			got++
			last = time.Since(start)
		case <-t.C:
			return last, got, nil
		}
	}
	return last, got, nil
}

func (r *rawFleet) stop() {
	_ = forEach(len(r.conns), func(i int) error {
		if c := r.conns[i]; c != nil {
			c.Close()
		}
		return nil
	})
}

// forEach runs fn for 0..n-1 on a few goroutines and returns the first error.
func forEach(n int, fn func(i int) error) error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		next int
		errs error
	)
	for w := 0; w < min(parallelism, n); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				if next >= n || errs != nil {
					mu.Unlock()
					return
				}
				i := next
				next++
				mu.Unlock()
				if err := fn(i); err != nil {
					mu.Lock()
					if errs == nil {
						errs = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	return errs
}
