package facts

import (
	"context"
	"log/slog"
	"maps"
	"sync"
	"time"
)

// DefaultInterval is how often Run refreshes facts when given no interval;
// MCollective's registration interval, since facts mostly change slowly.
const DefaultInterval = 5 * time.Minute

// Gatherer merges its sources' facts in order, later sources overriding
// earlier ones key by key at the top level (a file's "os" replaces the
// system's whole "os" map), and keeps the last merged snapshot.
type Gatherer struct {
	sources []Source
	log     *slog.Logger

	mu     sync.RWMutex // guards facts and errs
	facts  map[string]any
	errs   map[string]error
	gather sync.Mutex // one Gather at a time, so snapshots land in order
}

// NewGatherer returns a Gatherer over sources, in override order.
func NewGatherer(sources []Source, log *slog.Logger) *Gatherer {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Gatherer{
		sources: sources,
		log:     log.With("component", "facts"),
		facts:   map[string]any{},
		errs:    map[string]error{},
	}
}

// Gather asks every source (concurrently; each bounds its own time),
// merges the answers in source order, stores the result as the snapshot and
// returns it. A failing source is logged with its name and its error
// recorded (see Errors); whatever partial facts it returned are kept, and
// the other sources' facts are unaffected.
func (g *Gatherer) Gather(ctx context.Context) map[string]any {
	g.gather.Lock()
	defer g.gather.Unlock()

	type result struct {
		facts map[string]any
		err   error
	}
	results := make([]result, len(g.sources))
	var wg sync.WaitGroup
	for i, s := range g.sources {
		wg.Go(func() {
			results[i].facts, results[i].err = s.Gather(ctx)
		})
	}
	wg.Wait()

	merged := map[string]any{}
	errs := map[string]error{}
	for i, r := range results {
		name := g.sources[i].Name()
		if r.err != nil {
			errs[name] = r.err
			g.log.Warn("fact source failed; keeping the facts it and the other sources returned",
				"source", name, "partial_facts", len(r.facts), "err", r.err)
		}
		maps.Copy(merged, r.facts)
	}

	g.mu.Lock()
	g.facts, g.errs = merged, errs
	g.mu.Unlock()
	return merged
}

// Facts returns the last snapshot, empty before the first Gather. It is
// shared, not copied: callers must treat it as read-only. Gather replaces
// the snapshot rather than changing it, so a caller's copy stays consistent.
func (g *Gatherer) Facts() map[string]any {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return g.facts
}

// Errors returns the per-source errors of the last Gather, keyed by source
// name; empty when every source succeeded.
func (g *Gatherer) Errors() map[string]error {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return maps.Clone(g.errs)
}

// Run gathers at once and then every interval (DefaultInterval when <= 0)
// until ctx is done.
func (g *Gatherer) Run(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = DefaultInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		g.Gather(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
