// Package nodeagent is the daemon every node runs: it holds a NATS session,
// answers requests addressed to the RPC agents it hosts when the request's
// filter matches the node, heartbeats its facts, and runs scheduled checks
// and probes. It never runs anything through a shell and never lets a bad
// message stop it: malformed input is logged, counted and dropped.
package nodeagent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/pulseops/pulse/internal/filter"
	"github.com/pulseops/pulse/internal/protocol"
	"github.com/pulseops/pulse/nodeagent/actions"
)

// Version is reported in inventories and registrations.
var Version = "0.1.0"

// FactSource supplies the node's current facts; facts.Gatherer is one.
type FactSource interface {
	Facts() map[string]any
}

// Options configure one agent.
type Options struct {
	Identity   string
	Collective string
	// Conn is an established NATS connection the agent uses and closes on
	// Stop. Callers build it with bus.Connect so reconnect behaviour is pulse's.
	Conn    *nats.Conn
	Facts   FactSource
	Classes []string
	// Agents are the RPC agents hosted besides rpcutil.
	Agents []actions.Agent
	// RegisterInterval is the heartbeat period (default 30s).
	RegisterInterval time.Duration
	// Jobs are scheduled checks and probes.
	Jobs []Job
	// Signer signs replies, registrations and results when set.
	Signer *protocol.Signer
	// Verify, when set, checks a request's signature and signer before
	// anything else looks at it; a request it rejects is audited and dropped.
	Verify func(req *protocol.Request) error
	// Authorize, when set, decides whether a verified request may run on
	// this node; it returns the reason (naming the rule) when it refuses.
	Authorize func(req *protocol.Request, node *filter.Target) (ok bool, reason string)
	// Skew is how far in the future a request may claim to be (default 5s).
	Skew time.Duration
	// MaxConcurrent bounds actions running at once (default 16); rpcutil
	// is answered inline and never waits for a slot.
	MaxConcurrent int
	// Audit receives one JSON line per request that reaches an action.
	Audit  *Audit
	Logger *slog.Logger
	Now    func() time.Time
}

// Agent is a running node agent.
type Agent struct {
	opts    Options
	log     *slog.Logger
	subj    protocol.Subjects
	agents  map[string]actions.Agent
	acts    map[string][]string // each agent's Actions, asked once in New rather than per request
	names   []string
	started time.Time
	sem     chan struct{}
	stats   Stats
	subs    []*nats.Subscription
	wg      sync.WaitGroup
	cancel  context.CancelFunc
	seen    *replayCache
}

// Stats are the counters daemon_stats reports.
type Stats struct {
	Requests     atomic.Uint64
	Replies      atomic.Uint64
	Filtered     atomic.Uint64
	Errors       atomic.Uint64
	TTLExpired   atomic.Uint64
	Unauthorized atomic.Uint64
}

// New validates opts and builds an agent; Start connects it to the bus.
func New(opts Options) (*Agent, error) {
	if !protocol.ValidToken(opts.Identity) {
		return nil, fmt.Errorf("identity %q is not usable as a NATS subject token (no dots, spaces or wildcards)", opts.Identity)
	}
	if opts.Collective == "" {
		opts.Collective = "pulse"
	}
	if !protocol.ValidToken(opts.Collective) {
		return nil, fmt.Errorf("collective %q is not usable as a NATS subject token", opts.Collective)
	}
	if opts.Conn == nil {
		return nil, errors.New("nodeagent: no NATS connection")
	}
	if opts.RegisterInterval <= 0 {
		opts.RegisterInterval = 30 * time.Second
	}
	if opts.Skew <= 0 {
		opts.Skew = 5 * time.Second
	}
	if opts.MaxConcurrent <= 0 {
		opts.MaxConcurrent = 16
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Facts == nil {
		opts.Facts = staticFacts{}
	}
	a := &Agent{
		opts:   opts,
		log:    opts.Logger.With("component", "agent", "identity", opts.Identity),
		subj:   protocol.Subjects{Collective: opts.Collective},
		agents: map[string]actions.Agent{},
		sem:    make(chan struct{}, opts.MaxConcurrent),
		seen:   newReplayCache(),
	}
	a.agents["rpcutil"] = &rpcutil{a: a}
	for _, ag := range opts.Agents {
		if _, dup := a.agents[ag.Name()]; dup {
			return nil, fmt.Errorf("agent %q is configured twice", ag.Name())
		}
		a.agents[ag.Name()] = ag
	}
	a.acts = make(map[string][]string, len(a.agents))
	for n, ag := range a.agents {
		a.names = append(a.names, n)
		a.acts[n] = ag.Actions()
	}
	sort.Strings(a.names)
	return a, nil
}

type staticFacts map[string]any

func (s staticFacts) Facts() map[string]any { return s }

// Start subscribes to the agent's subjects, publishes its first registration
// and starts heartbeats and scheduled jobs. It returns once the
// subscriptions are in place.
func (a *Agent) Start(ctx context.Context) error {
	ctx, a.cancel = context.WithCancel(ctx)
	a.started = a.opts.Now()
	nc := a.opts.Conn
	for _, name := range a.names {
		s, err := nc.Subscribe(a.subj.Agent(name), a.onMessage)
		if err != nil {
			return fmt.Errorf("subscribe %s: %w", a.subj.Agent(name), err)
		}
		a.subs = append(a.subs, s)
	}
	s, err := nc.Subscribe(a.subj.Node(a.opts.Identity), a.onMessage)
	if err != nil {
		return fmt.Errorf("subscribe %s: %w", a.subj.Node(a.opts.Identity), err)
	}
	a.subs = append(a.subs, s)
	if err := nc.Flush(); err != nil {
		return fmt.Errorf("flush subscriptions: %w", err)
	}
	a.register()
	a.wg.Add(1)
	go a.heartbeat(ctx)
	for _, j := range a.opts.Jobs {
		a.wg.Add(1)
		go a.schedule(ctx, j)
	}
	a.log.Info("agent started", "agents", a.names, "jobs", len(a.opts.Jobs))
	return nil
}

// Stop unsubscribes, waits for running work and closes the connection.
func (a *Agent) Stop() {
	if a.cancel != nil {
		a.cancel()
	}
	for _, s := range a.subs {
		_ = s.Unsubscribe()
	}
	a.wg.Wait()
	a.opts.Conn.Close()
}

// Identity is the node's name on the bus.
func (a *Agent) Identity() string { return a.opts.Identity }

// Stats exposes the agent's request counters.
func (a *Agent) Stats() *Stats { return &a.stats }

func (a *Agent) heartbeat(ctx context.Context) {
	defer a.wg.Done()
	// Splay the first beat so a fleet started together does not beat
	// together forever.
	first := time.Duration(rand.Int64N(int64(a.opts.RegisterInterval)))
	t := time.NewTimer(first)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			a.register()
			t.Reset(a.opts.RegisterInterval)
		}
	}
}

func (a *Agent) register() {
	reg := protocol.Registration{
		Identity:   a.opts.Identity,
		Collective: a.opts.Collective,
		Facts:      a.opts.Facts.Facts(),
		Classes:    a.opts.Classes,
		Agents:     a.names,
		Version:    Version,
		Started:    a.started,
		Interval:   a.opts.RegisterInterval.Seconds(),
		Time:       a.opts.Now().UTC(),
	}
	if a.opts.Signer != nil {
		if err := a.opts.Signer.SignRegistration(&reg); err != nil {
			a.log.Error("sign registration", "err", err)
			return
		}
	}
	b, err := json.Marshal(reg)
	if err != nil {
		a.log.Error("encode registration", "err", err)
		return
	}
	if err := a.opts.Conn.Publish(a.subj.Registry(a.opts.Identity), b); err != nil {
		a.log.Warn("publish registration", "err", err)
	}
}

// target is the node as filters see it.
func (a *Agent) target() *filter.Target {
	return &filter.Target{
		Identity: a.opts.Identity,
		Facts:    a.opts.Facts.Facts(),
		Classes:  a.opts.Classes,
		Agents:   a.names,
	}
}

func (a *Agent) onMessage(m *nats.Msg) {
	a.stats.Requests.Add(1)
	var req protocol.Request
	if err := protocol.Decode(m.Data, &req); err != nil {
		a.stats.Errors.Add(1)
		a.log.Warn("dropped malformed request", "subject", m.Subject, "bytes", len(m.Data), "err", err)
		return
	}
	if err := req.Validate(); err != nil {
		a.stats.Errors.Add(1)
		a.log.Warn("dropped invalid request", "subject", m.Subject, "err", err)
		return
	}
	if a.opts.Verify != nil {
		if err := a.opts.Verify(&req); err != nil {
			a.stats.Unauthorized.Add(1)
			a.opts.Audit.Write(a.opts.Identity, &req, protocol.Unauthorized, "refused: "+err.Error(), 0)
			a.log.Warn("dropped request that failed verification", "id", req.ID, "caller", req.Caller, "err", err)
			return
		}
	}
	if m.Reply == "" {
		a.stats.Errors.Add(1)
		a.log.Warn("dropped request without a reply subject", "id", req.ID)
		return
	}
	now := a.opts.Now()
	if err := req.Expired(now, a.opts.Skew); err != nil {
		a.stats.TTLExpired.Add(1)
		a.opts.Audit.Write(a.opts.Identity, &req, protocol.Aborted, "refused: "+err.Error(), 0)
		a.log.Info("dropped request", "id", req.ID, "reason", err)
		return
	}
	if !a.seen.firstSeen(req.ID, now, req.Time.Add(time.Duration(req.TTL)*time.Second+a.opts.Skew)) {
		a.stats.Errors.Add(1)
		a.opts.Audit.Write(a.opts.Identity, &req, protocol.Unauthorized, "refused: request id seen before (replay)", 0)
		a.log.Warn("dropped replayed request", "id", req.ID, "caller", req.Caller)
		return
	}
	var node *filter.Target
	// Most requests (ping, directed requests) carry no filter; they skip
	// compiling one.
	if !req.Filter.Empty() {
		f, err := filter.Compile(req.Filter)
		if err != nil {
			a.stats.Errors.Add(1)
			a.log.Warn("dropped request with a bad filter", "id", req.ID, "err", err)
			return
		}
		node = a.target()
		if !f.Match(node) {
			a.stats.Filtered.Add(1)
			return
		}
	}
	if a.opts.Authorize != nil {
		if node == nil {
			node = a.target()
		}
		if ok, reason := a.opts.Authorize(&req, node); !ok {
			a.stats.Unauthorized.Add(1)
			a.opts.Audit.Write(a.opts.Identity, &req, protocol.Unauthorized, reason, 0)
			a.reply(m.Reply, &req, actions.Fail(protocol.Unauthorized, reason))
			return
		}
	}
	ag, ok := a.agents[req.Agent]
	if !ok {
		a.reply(m.Reply, &req, actions.Fail(protocol.UnknownAction, fmt.Sprintf("unknown agent %q on %s", req.Agent, a.opts.Identity)))
		return
	}
	if !slices.Contains(a.acts[req.Agent], req.Action) {
		a.reply(m.Reply, &req, actions.Fail(protocol.UnknownAction, fmt.Sprintf("unknown action %s#%s (known: %v)", req.Agent, req.Action, a.acts[req.Agent])))
		return
	}
	if req.Agent == "rpcutil" {
		a.run(m.Reply, &req, ag)
		return
	}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		a.sem <- struct{}{}
		defer func() { <-a.sem }()
		a.run(m.Reply, &req, ag)
	}()
}

func (a *Agent) run(replyTo string, req *protocol.Request, ag actions.Agent) {
	ctx, cancel := context.WithDeadline(context.Background(), req.Time.Add(time.Duration(req.TTL)*time.Second))
	defer cancel()
	start := time.Now()
	res := callSafely(ctx, ag, actions.Request{ID: req.ID, Caller: req.Caller, Action: req.Action, Data: req.Data})
	if req.Agent != "rpcutil" {
		a.opts.Audit.Write(a.opts.Identity, req, res.Status, res.Message, time.Since(start))
	}
	a.reply(replyTo, req, res)
}

// callSafely turns a panicking action into an error reply so one bad action
// cannot take the agent down.
func callSafely(ctx context.Context, ag actions.Agent, req actions.Request) (res actions.Result) {
	defer func() {
		if r := recover(); r != nil {
			res = actions.Fail(protocol.UnknownError, fmt.Sprintf("action %s#%s panicked: %v", ag.Name(), req.Action, r))
		}
	}()
	return ag.Call(ctx, req)
}

func (a *Agent) reply(to string, req *protocol.Request, res actions.Result) {
	rep := protocol.Reply{
		RequestID: req.ID,
		Identity:  a.opts.Identity,
		Agent:     req.Agent,
		Action:    req.Action,
		Status:    res.Status,
		StatusMsg: res.Message,
		Time:      a.opts.Now().UTC(),
	}
	if rep.StatusMsg == "" {
		rep.StatusMsg = res.Status.String()
	}
	if res.Data != nil {
		b, err := json.Marshal(res.Data)
		if err != nil {
			rep.Status, rep.StatusMsg = protocol.UnknownError, "encode reply data: "+err.Error()
		} else {
			rep.Data = b
		}
	}
	if a.opts.Signer != nil {
		if err := a.opts.Signer.SignReply(&rep); err != nil {
			a.log.Error("sign reply", "err", err)
			return
		}
	}
	b, err := protocol.EncodeReply(&rep)
	if err != nil {
		a.log.Error("encode reply", "err", err)
		return
	}
	if err := a.opts.Conn.Publish(to, b); err != nil {
		a.stats.Errors.Add(1)
		a.log.Warn("publish reply", "err", err)
		return
	}
	a.stats.Replies.Add(1)
}
