package rpc

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/pulseops/pulse/internal/filter"
	"github.com/pulseops/pulse/internal/protocol"
	"github.com/pulseops/pulse/internal/registry"
)

// Discovery is a way of finding the nodes a request is for.
type Discovery string

// The discovery methods of a Call.
const (
	// DiscoverBroadcast asks the bus: the request (or a discovery ping)
	// goes to every node, which evaluates the filter itself, and replies
	// are collected until none came for a quiet window.
	DiscoverBroadcast Discovery = ""
	// DiscoverRegistry reads the fleet registry (internal/registry),
	// evaluates the filter against each node's registered facts with the
	// code the agents use, and so knows which nodes must answer: the call
	// ends as soon as they all have. An empty or unreadable registry falls
	// back to broadcast, and Result.Fallback says why.
	DiscoverRegistry Discovery = "registry"
)

// registryTimeout bounds each wait for the registry's answer before
// anything is sent: a server answers a direct get at once, so a second
// means it will not, and broadcast discovery should take over while there
// is time.
func (call *Call) registryTimeout() time.Duration { return min(call.DiscoveryTimeout, time.Second) }

// snapshot is the outcome of reading the registry for one call: the
// nodes that must answer, or why there is no such set.
type snapshot struct {
	expected []string
	all      []string // every identity the registry listed
	fleet    int
	corrupt  []registry.Skipped
	stale    int
	fallback string
	err      error
	took     time.Duration
}

// readRegistry reads the fleet registry and matches spec against it. A
// filter on identities alone (or none) needs only the keys, which cost
// next to nothing to list; any other reads every value and decodes the
// facts. Values that cannot be read or decoded are corrupt.
func (c *Client) readRegistry(ctx context.Context, spec filter.Spec, timeout time.Duration) (out snapshot) {
	start := time.Now()
	defer func() { out.took = time.Since(start) }()
	f, err := filter.Compile(spec)
	if err != nil {
		return snapshot{err: err}
	}
	byName := len(spec.Fact) == 0 && len(spec.Class) == 0 && len(spec.Agent) == 0 && spec.Compound == ""
	type node struct {
		id     string
		target func() (*filter.Target, error)
	}
	var nodes []node
	if byName {
		keys, err := registry.Keys(ctx, c.nc, c.opts.Collective, timeout)
		if err != nil {
			return c.unreadable(ctx, err)
		}
		out.corrupt = keys.Corrupt
		for _, id := range keys.Identities {
			nodes = append(nodes, node{id, func() (*filter.Target, error) { return &filter.Target{Identity: id}, nil }})
		}
	} else {
		snap, err := registry.Read(ctx, c.nc, c.opts.Collective, registry.ReadOptions{Verify: c.opts.VerifyReply, Timeout: timeout})
		if err != nil {
			return c.unreadable(ctx, err)
		}
		out.corrupt, out.stale = snap.Corrupt, snap.Stale
		for _, e := range snap.Entries {
			nodes = append(nodes, node{e.Identity, e.Target})
		}
	}
	for _, n := range nodes {
		t, err := n.target()
		if err != nil {
			out.corrupt = append(out.corrupt, registry.Skipped{Key: n.id, Reason: protocol.ErrorReason(err), Err: err.Error()})
			continue
		}
		out.all = append(out.all, n.id)
		if f.Match(t) {
			out.expected = append(out.expected, n.id)
		}
	}
	out.fleet = len(out.all)
	for _, s := range out.corrupt {
		c.bad.Warn("registry/"+s.Reason, "skipped a fleet registry entry", "key", s.Key, "reason", s.Reason, "err", s.Err)
	}
	if out.fleet == 0 {
		out.fallback = "the fleet registry is empty"
		if n := len(out.corrupt) + out.stale; n > 0 {
			out.fallback += fmt.Sprintf(" (%d corrupt and %d stale entries skipped)", len(out.corrupt), out.stale)
		}
	}
	return out
}

// unreadable is the snapshot of a registry that could not be read.
func (c *Client) unreadable(ctx context.Context, err error) snapshot {
	switch {
	case errors.Is(err, registry.ErrNoBucket):
		return snapshot{fallback: fmt.Sprintf("no fleet registry on this bus (JetStream is off, or nobody made bucket %s: the collector or pulse demo does)", registry.Bucket(c.opts.Collective))}
	case ctx.Err() != nil:
		return snapshot{err: ctx.Err()}
	}
	c.log.Warn("the fleet registry could not be read", "err", err)
	return snapshot{fallback: err.Error()}
}

// fromRegistry runs call with registry discovery. It returns why it fell
// back, with no result, when the broadcast path must run instead.
func (c *Client) fromRegistry(ctx context.Context, call *Call, start time.Time) (*Result, string, error) {
	if call.readOnlyBroadcast() && call.Filter.Empty() {
		// Nothing to evaluate before sending: the broadcast goes out at
		// once and the registry is read while the replies come. The
		// server answers that read behind the fleet's replies, so it may
		// take as long as broadcast discovery would (10,000 replies on
		// a loaded broker have delayed it past a second), and waiting for
		// it costs nothing while replies arrive.
		ch := make(chan snapshot, 1)
		rctx, cancel := context.WithCancel(ctx)
		defer cancel()
		go func() { ch <- c.readRegistry(rctx, call.Filter, call.DiscoveryTimeout) }()
		res, err := c.expect(ctx, call, ch, start)
		return res, "", err
	}
	snap := c.readRegistry(ctx, call.Filter, call.registryTimeout())
	switch {
	case snap.err != nil:
		return nil, "", snap.err
	case snap.fallback != "":
		return nil, snap.fallback, nil
	}
	if call.Nodes != nil {
		snap.expected = narrowByRegistry(call.Nodes, snap.expected, snap.all)
	}
	res := &Result{Agent: call.Agent, Action: call.Action, Discovery: "registry", Fleet: snap.fleet,
		Corrupt: snap.corrupt, Stale: snap.stale, DiscoveryTime: time.Since(start)}
	if len(snap.expected) == 0 {
		res.Targets, res.NoResponse, res.NoMatch = []string{}, []string{}, true
		res.Duration = time.Since(start)
		return res, "", nil
	}
	if call.readOnlyBroadcast() {
		ch := make(chan snapshot, 1)
		ch <- snap
		res, err := c.expect(ctx, call, ch, start)
		return res, "", err
	}
	res, err := c.sendTo(ctx, call, res, snap.expected, start)
	return res, "", err
}

// narrowByRegistry keeps the listed nodes that matched, and those the
// registry does not know: only a registered node that does not match is
// known not to be wanted, and an unknown one is sent to and named when it
// stays silent.
func narrowByRegistry(listed, matched, all []string) []string {
	known := make(map[string]bool, len(all))
	for _, n := range all {
		known[n] = true
	}
	match := make(map[string]bool, len(matched))
	for _, n := range matched {
		match[n] = true
	}
	out := []string{}
	for _, n := range dedupe(listed) {
		if match[n] || !known[n] {
			out = append(out, n)
		}
	}
	return out
}

// expect broadcasts call and collects replies until every node the
// registry expects has answered, or Timeout passed. The expected set
// arrives on snap, before or after the request went out; when it cannot
// be had, the call ends as a broadcast discovery does, on a quiet window
// bounded by DiscoveryTimeout, and Fallback says why. Nodes that answer
// without being expected are kept and named in Unexpected.
func (c *Client) expect(ctx context.Context, call *Call, snap <-chan snapshot, start time.Time) (*Result, error) {
	col, b, err := c.listenBroadcastFor(ctx, call, call.Timeout)
	if err != nil {
		return nil, err
	}
	defer col.close()
	if err := c.nc.Publish(col.req.Subject, b); err != nil {
		return nil, fmt.Errorf("publish request: %w", err)
	}
	if err := c.nc.Flush(); err != nil {
		return nil, fmt.Errorf("flush request (is NATS reachable?): %w", err)
	}
	res := &Result{Agent: call.Agent, Action: call.Action, Discovery: "registry"}
	deadline := time.NewTimer(call.Timeout)
	defer deadline.Stop()
	var quiet <-chan time.Time // set when falling back
	var quietTimer *time.Timer
	var want map[string]bool
	got := 0
	count := func(id string) {
		if want[id] {
			got++
		}
	}
loop:
	for want == nil || got < len(want) {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-deadline.C:
			break loop
		case s := <-snap:
			snap = nil
			if s.err != nil {
				return nil, s.err
			}
			res.Fleet, res.Corrupt, res.Stale, res.DiscoveryTime = s.fleet, s.corrupt, s.stale, s.took
			if s.fallback != "" {
				// As a broadcast discovery: bounded by its timeout from
				// the send, ended by a quiet window.
				res.Discovery, res.Fallback = "broadcast", s.fallback
				deadline.Reset(max(call.DiscoveryTimeout-time.Since(col.sent), 0))
				quietTimer = time.NewTimer(max(call.Quiet, time.Since(col.sent)/4))
				defer quietTimer.Stop()
				quiet = quietTimer.C
				continue
			}
			want = make(map[string]bool, len(s.expected))
			for _, id := range s.expected {
				want[id] = true
			}
			for id := range col.seen {
				count(id)
			}
		case <-quiet:
			if len(col.ch) > 0 || len(col.raw) > 0 {
				quietTimer.Reset(call.Quiet)
				continue
			}
			break loop
		case m := <-col.ch:
			if !col.take(m) {
				continue
			}
			count(m.Identity)
			if quietTimer != nil {
				quietTimer.Reset(max(call.Quiet, time.Since(col.sent)/4))
			}
		}
	}
	// Replies decoded already are kept: they cost no waiting.
	for drained := false; !drained; {
		select {
		case m := <-col.ch:
			col.take(m)
		default:
			drained = true
		}
	}
	sortReplies(col.replies)
	res.Replies, res.Forged, res.NoResponse = col.replies, int(col.forged.Load()), []string{}
	if want == nil {
		// Fell back, or the registry did not answer before the timeout:
		// the nodes that answered are the targets.
		res.Targets = identities(col.replies)
		if res.Fallback == "" {
			res.Discovery, res.Fallback = "broadcast", "the fleet registry did not answer before the replies' timeout"
		}
	} else {
		res.Targets = make([]string, 0, len(want))
		for id := range want {
			res.Targets = append(res.Targets, id)
			if !col.seen[id] {
				res.NoResponse = append(res.NoResponse, id)
			}
		}
		for _, r := range col.replies {
			if !want[r.Identity] {
				res.Unexpected = append(res.Unexpected, r.Identity)
			}
		}
		sort.Strings(res.Targets)
		sort.Strings(res.NoResponse)
	}
	res.Duration = time.Since(start)
	return res, nil
}
