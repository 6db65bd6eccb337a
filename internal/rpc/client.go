// Package rpc is the orchestration client shared by the CLI and the
// collector: it discovers nodes, fans requests out over NATS (broadcast or
// directed, in batches), collects replies and knows who stayed silent. It
// never prints; rendering lives in render.go for the CLI to call.
package rpc

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/pulseops/pulse/internal/filter"
	"github.com/pulseops/pulse/internal/protocol"
	"github.com/pulseops/pulse/internal/ratelog"
	"github.com/pulseops/pulse/internal/registry"
)

// Options configure a Client.
type Options struct {
	Collective string
	// Caller names who is asking, e.g. "user=alice" or "collector". It is
	// a token of the subjects requests go out on and replies come back on,
	// so a broker that derives permissions from identities lets this
	// client use only its own (issuer.CallerToken).
	Caller string
	// Signer signs every request when set.
	Signer *protocol.Signer
	// JWT is the caller's user JWT (from its .creds file), carried in every
	// request so agents can tell who issued Signer's key.
	JWT string
	// VerifyReply, when set, is asked about every reply's envelope before
	// its body is read; a reply it rejects is dropped and counted as
	// forged. The node a reply comes from is the one its subject names,
	// which the broker lets only that node publish on; VerifyReply adds
	// reply signatures for brokers that are not trusted.
	VerifyReply func(*protocol.Envelope) error
	Logger      *slog.Logger
}

// Client sends requests to agents over one NATS connection.
type Client struct {
	nc   *nats.Conn
	opts Options
	subj protocol.Subjects
	log  *slog.Logger
	bad  *ratelog.Logger
}

// New makes a client on nc; the caller owns nc.
func New(nc *nats.Conn, opts Options) *Client {
	if opts.Collective == "" {
		opts.Collective = "pulse"
	}
	if opts.Caller == "" {
		opts.Caller = "user=unknown"
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	log := opts.Logger.With("component", "rpc")
	return &Client{nc: nc, opts: opts, subj: protocol.Subjects{Collective: opts.Collective}, log: log, bad: ratelog.New(log, time.Minute)}
}

// Call describes one request to many nodes.
type Call struct {
	Agent  string
	Action string
	Data   any
	Filter filter.Spec
	// Nodes, when set, is the target set: no broadcast discovery is done and
	// every node in it that does not answer is reported as silent.
	Nodes []string
	// Discovery is how targets are found when Nodes is nil, and how a
	// NarrowNodes list is narrowed: DiscoverBroadcast (the zero value) asks
	// the bus, DiscoverRegistry reads the fleet registry (registry.go).
	Discovery Discovery
	// NarrowNodes says Nodes is a plain list the filter was not applied to
	// (--nodes FILE): with a filter, a discovery round first drops the
	// listed nodes that answer but do not match, so a filter that matches
	// none of them sends nothing instead of waiting for silence. Listed
	// nodes that do not answer discovery stay targets, to be named silent.
	NarrowNodes bool
	// Timeout is how long to wait for replies after the last request of a
	// batch was sent (default 5s). It is also each batch's request
	// deadline: a node that receives a request after it refuses it.
	Timeout time.Duration
	// DiscoveryTimeout bounds broadcast discovery (default 2s), and is a
	// broadcast's deadline; Quiet ends it early once no new node has
	// answered for that long (default 300ms).
	DiscoveryTimeout time.Duration
	Quiet            time.Duration
	// Limit caps the targets: 10, or 10% of the discovered nodes.
	Limit Count
	// Batch sends to this many targets at a time ("2" or "25%"), sleeping
	// BatchSleep between batches; HaltOnFailure stops after a batch with a
	// failed or silent node.
	Batch         Count
	BatchSleep    time.Duration
	HaltOnFailure bool
	// Progress is told about each batch before it is sent.
	Progress func(Progress)
	// OnReply, when set, sees every reply as it arrives.
	OnReply func(*Reply)
	// Origin, when set, travels in the request's body: on whose behalf a
	// change is made, for the change events of the nodes it changes.
	Origin *protocol.Origin
}

// Progress reports a batch about to be sent.
type Progress struct {
	Batch, Batches int
	Nodes          []string
}

// Reply is a node's reply with the time it took to arrive.
type Reply struct {
	protocol.Reply
	RTT time.Duration `json:"rtt_ns"`
}

// DataMap decodes the reply's data as a JSON object (nil when absent).
func (r *Reply) DataMap() map[string]any {
	var m map[string]any
	_ = json.Unmarshal(r.Data, &m)
	return m
}

// Result is what came back from a Call.
type Result struct {
	Agent   string   `json:"agent"`
	Action  string   `json:"action"`
	Replies []*Reply `json:"replies"`
	// Targets are the nodes the request was meant for: discovered or given.
	Targets    []string `json:"targets"`
	NoResponse []string `json:"no_response"`
	// Halted is set when HaltOnFailure stopped a batched run early; Skipped
	// names the nodes never sent to.
	Halted  bool     `json:"halted,omitempty"`
	Skipped []string `json:"skipped,omitempty"`
	Forged  int      `json:"forged,omitempty"`
	// Fleet counts the nodes the fleet registry listed, or with broadcast
	// discovery those that answered the unfiltered ping sent beside a
	// filtered discovery (0 without a filter). NoMatch is set when there
	// was a fleet but none of it matched the filter: no request was sent.
	Fleet   int  `json:"fleet,omitempty"`
	NoMatch bool `json:"no_match,omitempty"`
	// Discovery names how the targets were found: "registry",
	// "broadcast" or "nodes" (given). Fallback says why registry discovery
	// fell back to broadcast.
	Discovery string `json:"discovery"`
	Fallback  string `json:"fallback,omitempty"`
	// Unexpected names the nodes that answered a broadcast the registry
	// did not list (registered since it was read); they are in Replies too.
	Unexpected []string `json:"unexpected,omitempty"`
	// Corrupt are the registry's entries skipped as unreadable, forged or
	// of another protocol version, Stale how many were past their TTL.
	Corrupt       []registry.Skipped `json:"registry_corrupt,omitempty"`
	Stale         int                `json:"registry_stale,omitempty"`
	DiscoveryTime time.Duration      `json:"discovery_ns"`
	Duration      time.Duration      `json:"duration_ns"`
	// heard holds the nodes that answered the unfiltered ping.
	heard map[string]bool
}

// OK reports whether every target answered with status OK.
func (r *Result) OK() bool {
	if len(r.NoResponse) > 0 || r.Halted || len(r.Skipped) > 0 {
		return false
	}
	for _, rep := range r.Replies {
		if rep.Status != protocol.OK {
			return false
		}
	}
	return true
}

// Failed counts replies whose status is not OK.
func (r *Result) Failed() int {
	n := 0
	for _, rep := range r.Replies {
		if rep.Status != protocol.OK {
			n++
		}
	}
	return n
}

func (c *Call) defaults() {
	if c.Timeout <= 0 {
		c.Timeout = 5 * time.Second
	}
	if c.DiscoveryTimeout <= 0 {
		c.DiscoveryTimeout = 2 * time.Second
	}
	if c.Quiet <= 0 {
		c.Quiet = 300 * time.Millisecond
	}
}

// Discover finds the nodes matching spec by broadcasting rpcutil#ping and
// collecting replies until none arrived for quiet, bounded by timeout.
func (c *Client) Discover(ctx context.Context, spec filter.Spec, timeout, quiet time.Duration) ([]string, error) {
	res, err := c.discover(ctx, spec, timeout, quiet)
	if err != nil {
		return nil, err
	}
	return res.Targets, nil
}

func (c *Client) discover(ctx context.Context, spec filter.Spec, timeout, quiet time.Duration) (*Result, error) {
	call := Call{Agent: "rpcutil", Action: "ping", Filter: spec, DiscoveryTimeout: timeout, Quiet: quiet}
	call.defaults()
	// broadcast sorts its replies, so Targets is already in order.
	return c.broadcast(ctx, &call)
}

// Do runs call: discovery (unless Nodes is set or the call is a ping),
// then the request, in batches when asked. When nodes answered discovery
// but none matched the filter, the Result has NoMatch set and no request
// was sent.
func (c *Client) Do(ctx context.Context, call Call) (*Result, error) {
	call.defaults()
	if _, err := filter.Compile(call.Filter); err != nil {
		return nil, err
	}
	start := time.Now()
	var fallback string
	if call.Discovery == DiscoverRegistry && (call.Nodes == nil || call.NarrowNodes && !call.Filter.Empty()) {
		res, why, err := c.fromRegistry(ctx, &call, start)
		if err != nil || why == "" {
			return res, err
		}
		fallback = why
	}
	res, err := c.doBroadcast(ctx, call, start)
	if err != nil {
		return nil, err
	}
	res.Fallback = fallback
	return res, nil
}

// readOnlyBroadcast reports whether call goes out as one broadcast rather
// than to each target: rpcutil only reads, so without a target list,
// limit or batches it needs no per-node addressing.
func (call *Call) readOnlyBroadcast() bool {
	return call.Agent == "rpcutil" && call.Nodes == nil && call.Limit.IsZero() && call.Batch.IsZero()
}

// doBroadcast runs call with broadcast discovery, or on the nodes it
// names.
func (c *Client) doBroadcast(ctx context.Context, call Call, start time.Time) (*Result, error) {
	// rpcutil only reads, so without a target list, limit or batches its
	// requests need no discovery round: one broadcast ends on the quiet
	// window, as ping does. Everything else discovers first and then
	// addresses each node, so silent nodes can be named.
	if call.readOnlyBroadcast() {
		res, err := c.broadcast(ctx, &call)
		if err != nil {
			return nil, err
		}
		res.Discovery = "broadcast"
		res.Duration = time.Since(start)
		res.DiscoveryTime = res.Duration
		res.NoMatch = len(res.Replies) == 0 && res.Fleet > 0
		return res, nil
	}
	targets, fleet, how := call.Nodes, 0, "nodes"
	if targets == nil || call.NarrowNodes && !call.Filter.Empty() {
		how = "broadcast"
	}
	switch {
	case targets == nil:
		d, err := c.discover(ctx, call.Filter, call.DiscoveryTimeout, call.Quiet)
		if err != nil {
			return nil, fmt.Errorf("discovery: %w", err)
		}
		targets, fleet = d.Targets, d.Fleet
	case call.NarrowNodes && !call.Filter.Empty():
		d, err := c.discover(ctx, call.Filter, call.DiscoveryTimeout, call.Quiet)
		if err != nil {
			return nil, fmt.Errorf("discovery: %w", err)
		}
		targets, fleet = narrow(targets, d), d.Fleet
	}
	res := &Result{Agent: call.Agent, Action: call.Action, Fleet: fleet, Discovery: how, DiscoveryTime: time.Since(start)}
	return c.sendTo(ctx, &call, res, targets, start)
}

// sendTo sends call to targets, directed, in batches when asked, and
// fills res with what came back.
func (c *Client) sendTo(ctx context.Context, call *Call, res *Result, targets []string, start time.Time) (*Result, error) {
	targets = dedupe(targets)
	if !call.Limit.IsZero() {
		if n := call.Limit.Of(len(targets)); n < len(targets) {
			targets = targets[:n]
		}
	}
	res.Targets = targets
	if len(targets) == 0 {
		res.NoMatch = res.Fleet > 0
		res.Duration = time.Since(start)
		return res, nil
	}
	batch := len(targets)
	if !call.Batch.IsZero() {
		batch = max(call.Batch.Of(len(targets)), 1)
	}
	batches := (len(targets) + batch - 1) / batch
	for i := 0; i < batches; i++ {
		nodes := targets[i*batch : min((i+1)*batch, len(targets))]
		if call.Progress != nil && !call.Batch.IsZero() {
			call.Progress(Progress{Batch: i + 1, Batches: batches, Nodes: nodes})
		}
		part, err := c.directed(ctx, call, nodes)
		if err != nil {
			return nil, err
		}
		res.Replies = append(res.Replies, part.Replies...)
		res.NoResponse = append(res.NoResponse, part.NoResponse...)
		res.Forged += part.Forged
		if call.HaltOnFailure && !part.OK() && i < batches-1 {
			res.Halted = true
			res.Skipped = append([]string(nil), targets[(i+1)*batch:]...)
			break
		}
		if i < batches-1 && call.BatchSleep > 0 {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(call.BatchSleep):
			}
		}
	}
	sortReplies(res.Replies)
	sort.Strings(res.NoResponse)
	res.Duration = time.Since(start)
	return res, nil
}

// newRequest builds call's request, due by now+wait or by ctx's deadline if
// that is sooner: the request's deadline is when its client stops waiting.
func (c *Client) newRequest(ctx context.Context, call *Call, wait time.Duration) (*protocol.Request, error) {
	var data json.RawMessage
	if call.Data != nil {
		b, err := json.Marshal(call.Data)
		if err != nil {
			return nil, fmt.Errorf("encode request data: %w", err)
		}
		data = b
	}
	now := time.Now().UTC()
	deadline := now.Add(wait)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d.UTC()
	}
	return &protocol.Request{
		ID: newID(), Caller: c.opts.Caller, Time: now, Deadline: deadline, JWT: c.opts.JWT,
		RequestBody: protocol.RequestBody{Collective: c.opts.Collective, Agent: call.Agent, Action: call.Action, Data: data, Origin: call.Origin},
	}, nil
}

// encode seals req for the bus, signed when the client has a key.
func (c *Client) encode(req *protocol.Request) ([]byte, error) {
	b, err := protocol.EncodeRequest(req, c.opts.Signer)
	if err != nil {
		return nil, fmt.Errorf("encode request: %w", err)
	}
	return b, nil
}

// maxTargetBytes bounds the identities one signed directed request names.
// Every node of a chunk receives the whole list, so a fan-out to N nodes
// costs N × this many bytes on the bus, and one signature per chunk.
const maxTargetBytes = 1024

// chunks splits nodes into runs whose names fit in maxTargetBytes, at least
// one node each.
func chunks(nodes []string) [][]string {
	var out [][]string
	start, size := 0, 0
	for i, n := range nodes {
		if size+len(n)+3 > maxTargetBytes && i > start {
			out = append(out, nodes[start:i])
			start, size = i, 0
		}
		size += len(n) + 3 // quotes and comma
	}
	if start < len(nodes) {
		out = append(out, nodes[start:])
	}
	return out
}

// collector gathers replies to one request id from its reply subjects. Decoding and
// signature checks run on a few workers beside the loop that counts
// replies, so 10,000 replies are verified on every core, not one.
type collector struct {
	c       *Client
	req     *protocol.Request
	sent    time.Time
	sub     *nats.Subscription
	raw     chan *nats.Msg
	ch      chan *Reply // decoded and verified replies
	done    chan struct{}
	wg      sync.WaitGroup
	seen    map[string]bool
	replies []*Reply
	forged  atomic.Int64
	onReply func(*Reply)
}

// listen starts collecting replies to req, on the subjects the nodes
// derive from its caller and id; the caller publishes req and closes col.
func (c *Client) listen(call *Call, req *protocol.Request) (col *collector, err error) {
	// The channels are generous so a burst of 10,000 replies never hits
	// the slow-consumer limit while we decode.
	col = &collector{c: c, req: req, raw: make(chan *nats.Msg, 65536), ch: make(chan *Reply, 1024),
		done: make(chan struct{}), seen: map[string]bool{}, onReply: call.OnReply}
	sub, err := c.nc.ChanSubscribe(c.subj.Replies(req.Caller, req.ID), col.raw)
	if err != nil {
		return nil, fmt.Errorf("subscribe to the replies of request %s: %w", req.ID, err)
	}
	_ = sub.SetPendingLimits(-1, -1)
	col.sub = sub
	// The request is published right after; round trips count from here.
	col.sent = time.Now()
	for i := 0; i < runtime.GOMAXPROCS(0); i++ {
		col.wg.Add(1)
		go col.decode()
	}
	return col, nil
}

// decode turns raw messages into replies to this request; malformed,
// foreign and forged ones are dropped here.
func (col *collector) decode() {
	defer col.wg.Done()
	for {
		var m *nats.Msg
		select {
		case <-col.done:
			return
		case m = <-col.raw:
		}
		rtt := time.Since(col.sent)
		env, err := protocol.Open(m.Data)
		if err != nil {
			reason := protocol.ErrorReason(err)
			col.c.bad.Warn(reason, "dropped a reply that could not be read", "reason", reason, "err", err)
			continue
		}
		if env.Kind != protocol.KindReply || env.ID != col.req.ID {
			continue
		}
		// The subject names the node, and only that node may publish on
		// it: a reply that claims another node is forged.
		if node := protocol.ReplyIdentity(m.Subject); env.From != node {
			col.forged.Add(1)
			col.c.bad.Warn("forged", "dropped a reply that names another node than its subject", "identity", env.From, "subject", m.Subject)
			continue
		}
		if v := col.c.opts.VerifyReply; v != nil {
			if err := v(env); err != nil {
				col.forged.Add(1)
				col.c.bad.Warn("forged", "dropped a reply that failed verification", "identity", env.From, "err", err)
				continue
			}
		}
		rep := &Reply{RTT: rtt}
		if err := env.DecodeReply(&rep.Reply); err != nil {
			reason := protocol.ErrorReason(err)
			col.c.bad.Warn(reason, "dropped a reply that could not be read", "reason", reason, "err", err)
			continue
		}
		select {
		case col.ch <- rep:
		case <-col.done:
			return
		}
	}
}

// take records one decoded reply; it reports whether a new node answered.
func (col *collector) take(rep *Reply) bool {
	if col.seen[rep.Identity] {
		return false // a node is counted once, however often it answers
	}
	col.seen[rep.Identity] = true
	col.replies = append(col.replies, rep)
	if col.onReply != nil {
		col.onReply(rep)
	}
	return true
}

func (col *collector) close() {
	_ = col.sub.Unsubscribe()
	close(col.done)
	col.wg.Wait()
}

// broadcast publishes one request to every agent and collects replies until
// none arrived for Quiet, bounded by DiscoveryTimeout.
//
// Agents that do not match a filter stay silent, so a filter that matches
// nothing looks like a dead bus or an untrusted key, and waits the whole
// DiscoveryTimeout. A filtered request therefore goes out with an
// unfiltered rpcutil#ping beside it: the nodes that answer that are the
// fleet that heard us, their replies keep the quiet window going as
// matching replies do, and the Result counts them in Fleet. Discovery then
// ends a quiet window after the fleet answered, whether or not any node
// matched.
func (c *Client) broadcast(ctx context.Context, call *Call) (*Result, error) {
	col, b, err := c.listenBroadcast(ctx, call)
	if err != nil {
		return nil, err
	}
	defer col.close()
	var fleet *collector
	var fleetMsg []byte
	if !call.Filter.Empty() {
		ping := &Call{Agent: "rpcutil", Action: "ping", DiscoveryTimeout: call.DiscoveryTimeout}
		if fleet, fleetMsg, err = c.listenBroadcast(ctx, ping); err != nil {
			return nil, err
		}
		defer fleet.close()
	}

	if err := c.nc.Publish(col.req.Subject, b); err != nil {
		return nil, fmt.Errorf("publish request: %w", err)
	}
	var fleetCh chan *Reply // nil, so never ready, without a filter
	if fleet != nil {
		if err := c.nc.Publish(fleet.req.Subject, fleetMsg); err != nil {
			return nil, fmt.Errorf("publish discovery ping: %w", err)
		}
		fleetCh = fleet.ch
	}
	if err := c.nc.Flush(); err != nil {
		return nil, fmt.Errorf("flush request (is NATS reachable?): %w", err)
	}
	deadline := time.NewTimer(call.DiscoveryTimeout)
	defer deadline.Stop()
	quiet := time.NewTimer(call.DiscoveryTimeout)
	defer quiet.Stop()
	pending := func() bool {
		return len(col.ch) > 0 || len(col.raw) > 0 || fleet != nil && (len(fleet.ch) > 0 || len(fleet.raw) > 0)
	}
loop:
	for {
		var m *Reply
		var from *collector
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-deadline.C:
			break loop
		case <-quiet.C:
			// A starved client can find the window over while replies
			// wait in its queues; those are not silence.
			if pending() {
				quiet.Reset(call.Quiet)
				continue
			}
			break loop
		case m = <-col.ch:
			from = col
		case m = <-fleetCh:
			from = fleet
		}
		if from.take(m) {
			// The window grows with the time replies have been
			// arriving, so a large fleet answering over seconds on a
			// busy client is not cut off by one short gap.
			quiet.Reset(max(call.Quiet, time.Since(col.sent)/4))
		}
	}
	sortReplies(col.replies)
	res := &Result{Agent: call.Agent, Action: call.Action, Replies: col.replies, Targets: identities(col.replies), NoResponse: []string{}, Forged: int(col.forged.Load())}
	if fleet != nil {
		res.Fleet, res.heard = len(fleet.replies), fleet.seen
		res.Forged += int(fleet.forged.Load())
	}
	return res, nil
}

// listenBroadcast builds call's broadcast request, bound to its agent's
// subject and its filter and due when discovery ends, and starts
// collecting replies to it.
func (c *Client) listenBroadcast(ctx context.Context, call *Call) (*collector, []byte, error) {
	return c.listenBroadcastFor(ctx, call, call.DiscoveryTimeout)
}

// listenBroadcastFor is listenBroadcast with a request due after wait.
func (c *Client) listenBroadcastFor(ctx context.Context, call *Call, wait time.Duration) (*collector, []byte, error) {
	req, err := c.newRequest(ctx, call, wait)
	if err != nil {
		return nil, nil, err
	}
	req.Subject, req.Filter = c.subj.Agent(call.Agent, req.Caller), call.Filter
	b, err := c.encode(req)
	if err != nil {
		return nil, nil, err
	}
	col, err := c.listen(call, req)
	if err != nil {
		return nil, nil, err
	}
	return col, b, nil
}

// directed sends the request to each node's own subject and waits until all
// answered or Timeout passed. The request names its targets, signed, in
// chunks of up to maxTargetBytes of names: a node runs it only when it
// arrives on its own subject and names it, so no copy of it can run
// anywhere else.
func (c *Client) directed(ctx context.Context, call *Call, nodes []string) (*Result, error) {
	want := make(map[string]bool, len(nodes))
	for _, n := range nodes {
		if !protocol.ValidToken(n) {
			return nil, fmt.Errorf("node name %q cannot be addressed (no dots, spaces or wildcards)", n)
		}
		want[n] = true
	}
	req, err := c.newRequest(ctx, call, call.Timeout)
	if err != nil {
		return nil, err
	}
	parts := chunks(nodes)
	msgs := make([][]byte, 0, len(parts))
	for _, part := range parts {
		req.Targets = part
		b, err := c.encode(req)
		if err != nil {
			return nil, err
		}
		msgs = append(msgs, b)
	}
	col, err := c.listen(call, req)
	if err != nil {
		return nil, err
	}
	defer col.close()
	for i, part := range parts {
		for _, n := range part {
			if err := c.nc.Publish(c.subj.Node(n, req.Caller), msgs[i]); err != nil {
				return nil, fmt.Errorf("publish request to %s: %w", n, err)
			}
		}
	}
	if err := c.nc.Flush(); err != nil {
		return nil, fmt.Errorf("flush requests (is NATS reachable?): %w", err)
	}
	timeout := time.NewTimer(call.Timeout)
	defer timeout.Stop()
	got := 0
	for got < len(want) {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-timeout.C:
			goto done
		case m := <-col.ch:
			if col.take(m) && want[m.Identity] {
				got++
			}
		}
	}
done:
	res := &Result{Replies: col.replies, Forged: int(col.forged.Load()), NoResponse: []string{}}
	for _, n := range nodes {
		if !col.seen[n] {
			res.NoResponse = append(res.NoResponse, n)
		}
	}
	return res, nil
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func sortReplies(r []*Reply) {
	sort.Slice(r, func(i, j int) bool { return r[i].Identity < r[j].Identity })
}

func identities(r []*Reply) []string {
	ids := make([]string, len(r))
	for i, rep := range r {
		ids[i] = rep.Identity
	}
	return ids
}

// narrow keeps the listed nodes that matched discovery d, and those that
// did not answer its unfiltered ping at all: only a node that answered and
// did not match is known not to be wanted.
func narrow(nodes []string, d *Result) []string {
	matched := map[string]bool{}
	for _, id := range d.Targets {
		matched[id] = true
	}
	out := []string{}
	for _, n := range nodes {
		if matched[n] || !d.heard[n] {
			out = append(out, n)
		}
	}
	return out
}

func dedupe(s []string) []string {
	seen := map[string]bool{}
	out := make([]string, 0, len(s))
	for _, v := range s {
		if v != "" && !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}
