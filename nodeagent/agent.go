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
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/pulseops/pulse/internal/buildinfo"
	"github.com/pulseops/pulse/internal/filter"
	"github.com/pulseops/pulse/internal/protocol"
	"github.com/pulseops/pulse/internal/ratelog"
	"github.com/pulseops/pulse/internal/registry"
	"github.com/pulseops/pulse/internal/security"
	"github.com/pulseops/pulse/nodeagent/actions"
)

// Version is reported in inventories and registrations: the build's own
// (internal/buildinfo).
var Version = buildinfo.Get().Version

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
	// WatchPackages are packages whose installed version every heartbeat
	// reports, read through PackageVersion (at most MaxWatchPackages).
	WatchPackages  []string
	PackageVersion func(ctx context.Context, name string) (string, error)
	// Signer signs replies, registrations and results when set. Without it
	// they still carry their time, sequence and protocol version.
	Signer *protocol.Signer
	// Verify, when set, checks a request's envelope (signature, signer and
	// the caller's credentials) before its body is read and returns who the
	// request comes from (nil for an unsigned request it lets through); a
	// request it rejects is audited and dropped. security.Verifier is one.
	Verify func(env *protocol.Envelope) (*protocol.Principal, error)
	// Open, when set, reports whether the policy lets anyone run every
	// action of an agent (security.Policy.Open). It is asked about rpcutil,
	// the agent that changes nothing: when anyone may ask it, an rpcutil
	// broadcast is answered without checking its signature, on the word of
	// the broker, whose subject names its caller. Discovery is then as
	// cheap as on an open bus; everything else is verified.
	Open func(agent string) bool
	// Authorize, when set, decides whether a verified request may run on
	// this node; it returns the reason (naming the rule) when it refuses.
	Authorize func(req *protocol.Request, node *filter.Target) (ok bool, reason string)
	// Skew is how far in the future a request may be dated (default 5s).
	Skew time.Duration
	// MaxConcurrent bounds actions running at once (default 16); a request
	// beyond it is answered at once with "busy" (status 1) instead of
	// queueing, so a flood cannot pile up goroutines. rpcutil is answered
	// inline and never needs a slot.
	MaxConcurrent int
	// Refresh, when set, runs beside the agent from Start until Stop: the
	// fact gatherer's refresh loop, say. Stop waits for it.
	Refresh func(ctx context.Context)
	// ResultBuffer bounds the results kept until the results stream
	// acknowledges them (DefaultResultBuffer); beyond it the oldest is
	// dropped and counted.
	ResultBuffer int
	// Audit receives one JSON line per request that reaches an action.
	Audit  *Audit
	Logger *slog.Logger
	Now    func() time.Time
}

// Agent is a running node agent.
type Agent struct {
	opts Options
	log  *slog.Logger
	subj protocol.Subjects
	// nodePrefix is what every request directed at this node arrives on
	// before its caller's token, and agentPrefix what every broadcast
	// subject starts with: bound compares with them without building
	// strings.
	nodePrefix  string
	agentPrefix string
	// openPings is set when anyone may ask rpcutil (Options.Open), and
	// pingPrefix is what its broadcasts' subjects start with.
	openPings  bool
	pingPrefix string
	agents     map[string]actions.Agent
	acts       map[string][]string // each agent's Actions, asked once in New rather than per request
	names      []string
	started    time.Time
	sem        chan struct{}
	outbox     *outbox
	stats      Stats
	subs       []*nats.Subscription
	cancel     context.CancelFunc
	// wg counts every goroutine the agent started; Stop waits for it. A
	// NATS callback adds to it only under life while stopping is false,
	// so no Add can race Stop's Wait.
	wg       sync.WaitGroup
	life     sync.Mutex
	stopping bool
	stopOnce sync.Once
	seen     *replayCache
	bad      *ratelog.Logger
	// refusals decides which refusals the audit log gets a line for.
	refusals *ratelog.Logger
	// boot names this run of the agent and seq counts what it published,
	// so the collector can tell every registration and result from an
	// older one, across restarts too (protocol.Stream).
	boot string
	seq  atomic.Uint64
	// fleetOutcome is the last fleet registry write's error ("" for none),
	// so putFleet logs only changes.
	fleetMu      sync.Mutex
	fleetOutcome string
	fleetTried   bool
	// fleetNext is the registration fleetWriter writes next, fleetKick
	// wakes it.
	fleetNext []byte
	fleetKick chan struct{}
	// jobs are the scheduled jobs' states, which the health agent reads
	// and kicks; changes counts the changes this run made (changes.go).
	jobs    []*jobState
	changes changeCounter
	regMu   sync.Mutex
}

// Stats are the counters daemon_stats reports.
type Stats struct {
	Requests     atomic.Uint64
	Replies      atomic.Uint64
	Filtered     atomic.Uint64
	Errors       atomic.Uint64
	TTLExpired   atomic.Uint64
	Unauthorized atomic.Uint64
	// Busy counts requests refused because MaxConcurrent actions were
	// running or the agent was stopping.
	Busy atomic.Uint64
	// ResultsPending are results waiting for the results stream to
	// acknowledge them; ResultsRetried counts attempts it did not, and
	// ResultsDropped results given up: the oldest when the buffer was
	// full, or one the stream refused.
	ResultsPending atomic.Uint64
	ResultsRetried atomic.Uint64
	ResultsDropped atomic.Uint64
	// Malformed counts dropped messages by protocol reason (oversized,
	// unversioned, version, envelope, kind, decode, invalid); they are
	// also in Errors.
	Malformed map[string]*atomic.Uint64
}

// malformedReasons are the reasons Stats.Malformed counts.
var malformedReasons = []string{protocol.ReasonOversized, protocol.ReasonUnversioned, protocol.ReasonVersion,
	protocol.ReasonEnvelope, protocol.ReasonKind, protocol.ReasonDecode, "invalid"}

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
	if opts.ResultBuffer <= 0 {
		opts.ResultBuffer = DefaultResultBuffer
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
	if len(opts.WatchPackages) > MaxWatchPackages {
		return nil, fmt.Errorf("%d packages to watch; at most %d", len(opts.WatchPackages), MaxWatchPackages)
	}
	if len(opts.WatchPackages) > 0 && opts.PackageVersion == nil {
		return nil, errors.New("packages to watch, but no way to read their versions (Options.PackageVersion)")
	}
	a := &Agent{
		opts:        opts,
		log:         opts.Logger.With("component", "agent", "identity", opts.Identity),
		subj:        protocol.Subjects{Collective: opts.Collective},
		nodePrefix:  protocol.Subjects{Collective: opts.Collective}.Node(opts.Identity, ""),
		agentPrefix: strings.TrimSuffix(protocol.Subjects{Collective: opts.Collective}.AgentAll(""), ".*"),
		agents:      map[string]actions.Agent{},
		sem:         make(chan struct{}, opts.MaxConcurrent),
		seen:        newReplayCache(),
		boot:        newBootID(),
	}
	a.openPings = opts.Open != nil && opts.Open("rpcutil")
	a.pingPrefix = a.agentPrefix + "rpcutil."
	a.bad = ratelog.New(a.log, time.Minute)
	a.refusals = ratelog.New(nil, time.Minute)
	a.outbox = newOutbox(a)
	a.stats.Malformed = make(map[string]*atomic.Uint64, len(malformedReasons))
	for _, r := range malformedReasons {
		a.stats.Malformed[r] = new(atomic.Uint64)
	}
	a.agents["rpcutil"] = &rpcutil{a: a}
	a.agents["health"] = &health{a: a}
	for _, j := range opts.Jobs {
		a.jobs = append(a.jobs, newJobState(j))
	}
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
	subjects := []string{a.subj.NodeAll(a.opts.Identity)}
	for _, name := range a.names {
		subjects = append(subjects, a.subj.AgentAll(name))
	}
	for _, subject := range subjects {
		s, err := nc.Subscribe(subject, a.onMessage)
		if err != nil {
			return fmt.Errorf("subscribe %s: %w", subject, err)
		}
		a.subs = append(a.subs, s)
	}
	if err := nc.Flush(); err != nil {
		return fmt.Errorf("flush subscriptions: %w", err)
	}
	// The first registration also lands in the fleet registry before Start
	// returns, so a client that reads the registry right after finds the
	// node there.
	if b := a.register(); b != nil {
		a.putFleet(b)
	}
	a.fleetKick = make(chan struct{}, 1)
	a.wg.Add(2)
	go a.heartbeat(ctx)
	go a.fleetWriter(ctx)
	a.wg.Go(func() { a.outbox.run(ctx) })
	for i, j := range a.opts.Jobs {
		a.wg.Add(1)
		go a.schedule(ctx, j, a.jobs[i])
	}
	if a.opts.Refresh != nil {
		a.wg.Go(func() { a.opts.Refresh(ctx) })
	}
	a.log.Info("agent started", "agents", a.names, "jobs", len(a.opts.Jobs))
	return nil
}

// Stop unsubscribes, waits for running work (an action already started
// runs to its end) and closes the connection. It is safe to call more than
// once.
func (a *Agent) Stop() {
	a.stopOnce.Do(func() {
		a.life.Lock()
		a.stopping = true
		a.life.Unlock()
		if a.cancel != nil {
			a.cancel()
		}
		for _, s := range a.subs {
			_ = s.Unsubscribe()
		}
		a.wg.Wait()
		a.opts.Conn.Close()
	})
}

// begin reserves a slot and a place in wg for one action, or says why it
// cannot run now. It never blocks: the NATS callback that calls it also
// delivers this node's other requests.
func (a *Agent) begin() (ok bool, why string) {
	select {
	case a.sem <- struct{}{}:
	default:
		return false, fmt.Sprintf("busy: %d actions are already running on %s; try again when they have finished", cap(a.sem), a.opts.Identity)
	}
	a.life.Lock()
	defer a.life.Unlock()
	if a.stopping {
		<-a.sem
		return false, fmt.Sprintf("%s is shutting down", a.opts.Identity)
	}
	a.wg.Add(1)
	return true, ""
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
			if b := a.register(); b != nil {
				a.queueFleet(b)
			}
			t.Reset(a.opts.RegisterInterval)
		}
	}
}

// newBootID names one run of the agent: 64 random bits, so a restarted
// agent's messages are never mistaken for its previous run's.
func newBootID() string {
	return strconv.FormatUint(rand.Uint64(), 36)
}

// stream is the place of the next registration or result in this run.
func (a *Agent) stream() protocol.Stream {
	return protocol.Stream{Boot: a.boot, Seq: a.seq.Add(1)}
}

// register publishes a registration on the node's registry subject and
// returns it, or nil when it could not be encoded.
func (a *Agent) register() []byte {
	// One registration at a time: one sent right after a change must not
	// be overtaken by a heartbeat that read the versions before it.
	a.regMu.Lock()
	defer a.regMu.Unlock()
	reg := protocol.Registration{
		Identity: a.opts.Identity,
		RegistrationBody: protocol.RegistrationBody{
			Collective: a.opts.Collective,
			Facts:      a.opts.Facts.Facts(),
			Classes:    a.opts.Classes,
			Agents:     a.names,
			Version:    Version,
			Started:    a.started,
			Interval:   a.opts.RegisterInterval.Seconds(),
			Packages:   a.packageVersions(),
		},
		Time:   a.opts.Now().UTC(),
		Stream: a.stream(),
	}
	b, err := protocol.EncodeRegistration(&reg, a.opts.Signer)
	if err != nil {
		a.log.Error("encode registration", "err", err)
		return nil
	}
	if err := a.opts.Conn.Publish(a.subj.Registry(a.opts.Identity), b); err != nil {
		a.log.Warn("publish registration", "err", err)
	}
	return b
}

// queueFleet hands registration b to fleetWriter, replacing one it has not
// written yet: a put waits for the server's answer, and a slow one (a
// JetStream leader being elected) must not hold up the heartbeats.
func (a *Agent) queueFleet(b []byte) {
	a.fleetMu.Lock()
	a.fleetNext = b
	a.fleetMu.Unlock()
	select {
	case a.fleetKick <- struct{}{}:
	default:
	}
}

// fleetWriter writes the newest queued registration to the fleet registry.
func (a *Agent) fleetWriter(ctx context.Context) {
	defer a.wg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.fleetKick:
		}
		a.fleetMu.Lock()
		b := a.fleetNext
		a.fleetNext = nil
		a.fleetMu.Unlock()
		if b != nil {
			a.putFleet(b)
		}
	}
}

// putFleet writes registration b, as published, under the node's key of
// the fleet registry, kept for registry.Beats heartbeats. A bus without the
// bucket is normal (clients then discover by broadcast), so the outcome is
// logged only when it changes, not on every heartbeat.
func (a *Agent) putFleet(b []byte) {
	iv := a.opts.RegisterInterval
	err := registry.Put(a.opts.Conn, a.opts.Collective, a.opts.Identity, b, registry.TTL(iv), min(2*time.Second, iv))
	outcome := ""
	if err != nil {
		outcome = err.Error()
	}
	a.fleetMu.Lock()
	changed := outcome != a.fleetOutcome || !a.fleetTried
	a.fleetOutcome, a.fleetTried = outcome, true
	a.fleetMu.Unlock()
	switch {
	case !changed:
	case err == nil:
		a.log.Info("registering in the fleet registry", "bucket", registry.Bucket(a.opts.Collective), "ttl", registry.TTL(iv))
	case errors.Is(err, registry.ErrNoBucket):
		a.log.Info("no fleet registry bucket on this bus: registering on the registry subject only, and clients discover this node by broadcast (the collector creates the bucket)",
			"bucket", registry.Bucket(a.opts.Collective))
	default:
		a.log.Warn("could not write the fleet registry; clients may miss this node until it can", "err", err)
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

// drop counts and logs (at most once a minute per reason) a message that
// could not be read.
func (a *Agent) drop(subject string, err error) {
	reason := protocol.ErrorReason(err)
	a.stats.Errors.Add(1)
	if c := a.stats.Malformed[reason]; c != nil {
		c.Add(1)
	}
	a.bad.Warn(reason, "dropped a message that could not be read", "reason", reason, "subject", subject, "err", err)
}

// refuse counts a request this node will not run, audits and logs it, and
// drops it without a reply, so whoever sent it learns nothing.
//
// A flood costs CPU, not disk: the audit log takes one line per reason a
// minute, with the number of like refusals left out since ("suppressed"),
// and the log the same. A request that did not verify is junk anyone can
// make up with new ids at will, so its reason alone is the key; one that
// verified was made by a trusted caller, so each of its ids gets its own
// line and only copies of one request collapse.
func (a *Agent) refuse(counter *atomic.Uint64, req *protocol.Request, status protocol.Status, reason string, err error) {
	counter.Add(1)
	key := reason
	if req.Principal != nil {
		key = reason + "/" + req.ID
	}
	if ok, suppressed := a.refusals.Allow(key); ok {
		a.opts.Audit.write(a.opts.Identity, req, status, "refused: "+err.Error(), 0, suppressed)
	}
	a.bad.Warn("refused/"+reason, "refused a request (the audit log has one line per reason a minute, with the number left out)",
		"reason", reason, "id", req.ID, "caller", req.Caller, "err", err)
}

// refusal names why a request did not verify, for refuse's keys.
func refusal(err error) string {
	switch {
	case errors.Is(err, protocol.ErrUnsigned):
		return "unsigned"
	case errors.Is(err, protocol.ErrBadSignature):
		return "signature"
	case errors.Is(err, security.ErrCallerMismatch):
		return "caller"
	case errors.Is(err, security.ErrUntrustedKey):
		return "untrusted"
	}
	return "unverified"
}

// onMessage checks a request in order, cheapest and surest first, and runs
// it only if every check holds: the envelope (size, version, kind), the
// signature and signer, the body, where it may run (subject and targets),
// when (deadline, clock skew, this run of the agent), that it was not seen
// before, the filter, and the policy.
//
// The checks (admit) and the work (dispatch) are separate calls so that
// their frames never stack: NATS runs this on a goroutine whose stack the
// garbage collector shrinks while it waits, and every message grows it
// again, at a cost that rises with the depth at which it must grow — on
// 10,000 agents of one machine, a tenth of a ping's CPU time.
func (a *Agent) onMessage(m *nats.Msg) {
	a.stats.Requests.Add(1)
	if req := a.admit(m); req != nil {
		a.dispatch(req)
	}
}

// admit returns m's request if this node may run it, or nil after counting,
// logging and, where the request can be named, auditing why not.
func (a *Agent) admit(m *nats.Msg) *protocol.Request {
	env, err := protocol.Open(m.Data)
	if err != nil {
		a.drop(m.Subject, err)
		return nil
	}
	if env.Kind != protocol.KindRequest {
		a.drop(m.Subject, &protocol.WireError{Reason: protocol.ReasonKind, Err: fmt.Errorf("a %s from %s on a request subject", env.Kind, env.From)})
		return nil
	}
	var principal *protocol.Principal
	// Who sends a broadcast to rpcutil does not matter when anyone may;
	// a.bound still holds it to the subject it was sent on.
	unchecked := a.openPings && strings.HasPrefix(m.Subject, a.pingPrefix)
	if a.opts.Verify != nil && !unchecked {
		if principal, err = a.opts.Verify(env); err != nil {
			// Only the envelope is known: the body of a request that did
			// not verify is never read.
			a.refuse(&a.stats.Unauthorized, &protocol.Request{ID: env.ID, Caller: env.From, PublicKey: env.Signer}, protocol.Unauthorized, refusal(err), err)
			return nil
		}
	}
	req, err := env.Request()
	if err == nil {
		err = req.Validate()
	}
	if err != nil {
		a.drop(m.Subject, err)
		return nil
	}
	req.Principal = principal
	if unchecked {
		req.PublicKey = "" // nobody checked it: the audit must not name it
	}
	if reason, err := a.bound(m.Subject, req); err != nil {
		a.refuse(&a.stats.Unauthorized, req, protocol.Unauthorized, reason, err)
		return nil
	}
	now := a.opts.Now()
	if err := req.Expired(now, a.opts.Skew); err != nil {
		a.refuse(&a.stats.TTLExpired, req, protocol.Aborted, "expired", err)
		return nil
	}
	// A request made before this agent started was meant for its previous
	// run, whose memory of request ids is gone: running it could run it
	// twice.
	if req.Time.Before(a.started) {
		a.refuse(&a.stats.TTLExpired, req, protocol.Aborted, "before_start", fmt.Errorf("request %s was made %s before this agent started; a request from before a restart may already have run",
			req.ID, a.started.Sub(req.Time).Round(time.Millisecond)))
		return nil
	}
	if !a.seen.firstSeen(req.ID, now, req.Deadline) {
		a.refuse(&a.stats.Unauthorized, req, protocol.Unauthorized, "replay", errors.New("request id seen before (replay)"))
		return nil
	}
	return req
}

// dispatch runs an admitted request if the filter selects this node and the
// policy allows it, and replies.
func (a *Agent) dispatch(req *protocol.Request) {
	var node *filter.Target
	// Most requests (ping, directed requests) carry no filter; they skip
	// compiling one.
	if !req.Filter.Empty() {
		f, err := filter.Compile(req.Filter)
		if err != nil {
			a.drop(a.subj.Node(a.opts.Identity, req.Caller), fmt.Errorf("request %s has a bad filter: %w", req.ID, err))
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
		if ok, reason := a.opts.Authorize(req, node); !ok {
			a.stats.Unauthorized.Add(1)
			a.opts.Audit.Write(a.opts.Identity, req, protocol.Unauthorized, reason, 0)
			a.reply(req, actions.Fail(protocol.Unauthorized, reason))
			return
		}
	}
	ag, ok := a.agents[req.Agent]
	if !ok {
		a.reply(req, actions.Fail(protocol.UnknownAction, fmt.Sprintf("unknown agent %q on %s", req.Agent, a.opts.Identity)))
		return
	}
	if !slices.Contains(a.acts[req.Agent], req.Action) {
		a.reply(req, actions.Fail(protocol.UnknownAction, fmt.Sprintf("unknown action %s#%s (known: %v)", req.Agent, req.Action, a.acts[req.Agent])))
		return
	}
	if req.Agent == "rpcutil" {
		a.reply(req, a.run(req, ag))
		return
	}
	if ok, why := a.begin(); !ok {
		a.stats.Busy.Add(1)
		a.opts.Audit.Write(a.opts.Identity, req, protocol.Aborted, "refused: "+why, 0)
		a.reply(req, actions.Fail(protocol.Aborted, why))
		return
	}
	go func() {
		defer a.wg.Done()
		defer func() { <-a.sem }()
		a.reply(req, a.run(req, ag))
	}()
}

// bound checks that req may run here, where it arrived: a directed request
// only on this node's own subject and only if this node is among its
// targets; a broadcast only on the subject it was signed for, which must be
// its agent's subject in this collective. Either subject ends in the caller
// the request claims, which a broker that derives permissions from
// identities lets no one else publish under. A request captured and
// published again elsewhere (a directed one onto the broadcast subject or
// another node's, one batch's onto the next batch's nodes, anyone's under
// another caller's name) fails here. Nothing is built for the comparisons:
// this runs for every request on every node.
func (a *Agent) bound(subject string, req *protocol.Request) (reason string, err error) {
	if len(req.Targets) > 0 {
		// subject == a.subj.Node(identity, req.Caller)
		if caller, ok := strings.CutPrefix(subject, a.nodePrefix); !ok || caller != req.Caller {
			return "elsewhere", fmt.Errorf("request %s from %s is directed at %s but arrived on %s: it was published again where it was not sent", req.ID, req.Caller, targetList(req.Targets), subject)
		}
		if !slices.Contains(req.Targets, a.opts.Identity) {
			return "not_targeted", fmt.Errorf("request %s is directed at %s, not at %s: it was published again where it was not sent", req.ID, targetList(req.Targets), a.opts.Identity)
		}
		return "", nil
	}
	if subject != req.Subject {
		return "elsewhere", fmt.Errorf("request %s was sent on %s but arrived on %s: it was published again where it was not sent", req.ID, req.Subject, subject)
	}
	// req.Subject == a.subj.Agent(req.Agent, req.Caller)
	rest, ok := strings.CutPrefix(req.Subject, a.agentPrefix)
	n := len(req.Agent)
	if !ok || len(rest) != n+1+len(req.Caller) || rest[:n] != req.Agent || rest[n] != '.' || rest[n+1:] != req.Caller {
		return "elsewhere", fmt.Errorf("request %s from %s for %s#%s was sent on %s, not on that agent's subject for its caller %s", req.ID, req.Caller, req.Agent, req.Action, req.Subject, a.subj.Agent(req.Agent, req.Caller))
	}
	return "", nil
}

// targetList names a request's targets for a log line: the first few.
func targetList(t []string) string {
	if len(t) <= 3 {
		return strings.Join(t, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(t[:3], ", "), len(t)-3)
}

// minActionTime is how long a started action may take at least. The
// deadline says when a node may still start a request (its client stops
// waiting then); an action already running, such as a package install, is
// not cut off half-way because the client stopped listening.
const minActionTime = time.Minute

// run calls the action and audits what it did; the caller replies.
func (a *Agent) run(req *protocol.Request, ag actions.Agent) actions.Result {
	if req.Agent == "rpcutil" {
		// Answered inline from memory, on every agent of every ping: no
		// deadline timer to set up and tear down, nothing to audit.
		return callSafely(context.Background(), ag, actions.Request{ID: req.ID, Caller: req.Caller, Action: req.Action, Data: req.Data})
	}
	start := time.Now()
	ctx, cancel := context.WithDeadline(context.Background(), later(req.Deadline, start.Add(minActionTime)))
	defer cancel()
	res := callSafely(ctx, ag, actions.Request{ID: req.ID, Caller: req.Caller, Action: req.Action, Data: req.Data})
	a.opts.Audit.Write(a.opts.Identity, req, res.Status, res.Message, time.Since(start))
	// The change event goes out before the reply, so whoever waits for
	// the reply (a rollout) finds the event on the bus by then.
	if res.Change != nil {
		a.publishChange(req, res, time.Since(start))
	}
	return res
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
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

// reply answers req on the subject its signed fields name (its caller and
// id, and this node), never on the message's reply subject, which anyone
// who published the request again could have chosen.
func (a *Agent) reply(req *protocol.Request, res actions.Result) {
	rep := protocol.Reply{
		RequestID: req.ID,
		Identity:  a.opts.Identity,
		ReplyBody: protocol.ReplyBody{Agent: req.Agent, Action: req.Action, Status: res.Status, StatusMsg: res.Message},
		Time:      a.opts.Now().UTC(),
	}
	if rep.StatusMsg == "" {
		rep.StatusMsg = res.Status.String()
	}
	switch d := res.Data.(type) {
	case nil:
	case json.RawMessage: // already JSON: EncodeReply checks it
		rep.Data = d
	default:
		b, err := json.Marshal(d)
		if err != nil {
			rep.Status, rep.StatusMsg = protocol.UnknownError, "encode reply data: "+err.Error()
		} else {
			rep.Data = b
		}
	}
	// Publish copies the reply into the connection's buffer, so the
	// buffer goes back to the pool as soon as it returns: every ping of
	// every agent writes into memory that is already mapped and cached.
	bp := replyBufs.Get().(*[]byte)
	b, err := protocol.AppendReply(*bp, &rep, a.opts.Signer)
	if err == nil {
		err = a.opts.Conn.Publish(a.subj.Reply(req.Caller, req.ID, a.opts.Identity), b)
		if err != nil {
			a.stats.Errors.Add(1)
			a.log.Warn("publish reply", "err", err)
		}
	} else {
		a.log.Error("encode reply", "err", err)
	}
	if cap(b) <= maxPooledReply && b != nil {
		*bp = b[:0]
	}
	replyBufs.Put(bp)
	if err != nil {
		return
	}
	a.stats.Replies.Add(1)
}

// replyBufs holds the buffers replies are written into; a buffer grown past
// maxPooledReply by a large reply is left to the garbage collector.
var replyBufs = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

const maxPooledReply = 16 << 10
