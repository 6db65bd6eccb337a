package nodeagent

import (
	"context"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/pulseops/pulse/internal/protocol"
	"github.com/pulseops/pulse/nodeagent/actions"
)

// MaxWatchPackages bounds the packages a node reports versions of: each is
// a series per node in the collector.
const MaxWatchPackages = 16

// changeCounter counts the changes one run of the agent made, by
// "kind/result", as probe counters count runs: every change event carries
// all of them, so the collector's pulse_changes_total survives lost events
// and its own restarts.
type changeCounter struct {
	mu     sync.Mutex
	counts map[string]uint64
}

// add counts one change and returns a copy of every count.
func (c *changeCounter) add(key string) map[string]uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.counts == nil {
		c.counts = map[string]uint64{}
	}
	c.counts[key]++
	return maps.Clone(c.counts)
}

// publishChange announces what a changing action did to this node on its
// changes subject, whatever the action's result.
func (a *Agent) publishChange(req *protocol.Request, res actions.Result, took time.Duration) {
	ch := res.Change
	result := protocol.ChangeOK
	switch {
	case res.Status != protocol.OK:
		result = protocol.ChangeFailed
	case ch.Unchanged:
		result = protocol.ChangeUnchanged
	}
	c := protocol.Change{
		Identity: a.opts.Identity,
		ChangeBody: protocol.ChangeBody{
			Kind: ch.Kind, Action: req.Action, Name: ch.Name, From: ch.From, To: ch.To, Result: result,
			Caller: req.Caller, Request: req.ID, Origin: req.Origin, Duration: took.Seconds(),
			Started: a.started.UTC(), Counts: a.changes.add(ch.Kind + "/" + result),
		},
		Time:   a.opts.Now().UTC(),
		Stream: a.stream(),
	}
	if result == protocol.ChangeFailed {
		c.Error = res.Message
	}
	b, err := protocol.EncodeChange(&c, a.opts.Signer)
	if err != nil {
		a.log.Error("encode change", "kind", ch.Kind, "name", ch.Name, "err", err)
		return
	}
	if err := a.opts.Conn.Publish(a.subj.Changes(a.opts.Identity), b); err != nil {
		a.log.Warn("publish change", "kind", ch.Kind, "name", ch.Name, "err", err)
	}
	// A watched package's new version is news now, not at the next
	// heartbeat: dashboards and rollout gates split by it.
	if ch.Kind == "package" && slices.Contains(a.opts.WatchPackages, ch.Name) && result == protocol.ChangeOK {
		if b := a.register(); b != nil {
			a.queueFleet(b)
		}
	}
}

// packageVersions reads the installed version of every watched package;
// one that cannot be read is left out, and logged.
func (a *Agent) packageVersions() map[string]string {
	if len(a.opts.WatchPackages) == 0 {
		return nil
	}
	out := make(map[string]string, len(a.opts.WatchPackages))
	for _, name := range a.opts.WatchPackages {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		v, err := a.opts.PackageVersion(ctx, name)
		cancel()
		if err != nil {
			a.bad.Warn("watch/"+name, "cannot read the version of a watched package", "package", name, "err", err)
			continue
		}
		out[name] = v
	}
	return out
}
