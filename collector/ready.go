package collector

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
)

// Readiness: a collector that has just started rebuilds its fleet from the
// JetStream streams. Until it has applied every message they held when it
// began, what it would serve is a fleet half rebuilt — a node up with its
// counters not back yet, which a scrape would read as a counter reset — so
// /-/ready answers 503 and /metrics is not served. Without JetStream there
// is nothing to replay and it is ready at once.

// replay tracks one stream's replay to the sequence it had at start.
type replay struct {
	stream string
	target uint64        // the stream's last sequence when consuming began
	at     atomic.Uint64 // the highest sequence applied since
}

// readiness is the replay of every stream; ready once all are done. A
// collector never started (fed through Ingest by a tool or a test) has
// nothing to replay and serves what it has.
type readiness struct {
	started atomic.Bool
	mu      sync.Mutex
	replays []*replay
	done    chan struct{}
	once    sync.Once
}

func newReadiness() *readiness { return &readiness{done: make(chan struct{})} }

func (r *readiness) add(p *replay) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.replays = append(r.replays, p)
}

func (r *readiness) ready() { r.once.Do(func() { close(r.done) }) }

func (r *readiness) isReady() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// progress says how far each stream's replay is, for humans.
func (r *readiness) progress() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var parts []string
	for _, p := range r.replays {
		parts = append(parts, fmt.Sprintf("%s at %d of %d", p.stream, min(p.at.Load(), p.target), p.target))
	}
	if len(parts) == 0 {
		return "connecting to the streams"
	}
	return strings.Join(parts, ", ")
}

// Replayed is closed once the collector has applied everything its streams
// held when it started (at once without JetStream).
func (c *Collector) Replayed() <-chan struct{} { return c.readiness.done }

// Ready reports whether the collector ingests and has replayed its
// streams: what it serves is the whole fleet.
func (c *Collector) Ready() bool { return c.running.Load() && c.readiness.isReady() }

// serveReady answers GET /-/ready: 200 once Ready, 503 before, saying why.
func (c *Collector) serveReady(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	switch {
	case !c.running.Load():
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, "not ready: the collector is not ingesting")
	case !c.readiness.isReady():
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, "not ready: replaying the JetStream streams to the sequences they had at start: %s\n", c.readiness.progress())
	default:
		fmt.Fprintln(w, "ready")
	}
}

// replaying reports whether a Start is still replaying the streams.
func (r *readiness) replaying() bool { return r.started.Load() && !r.isReady() }

// notBeforeReady answers 503 instead of h while the collector replays.
func (c *Collector) notBeforeReady(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c.readiness.replaying() {
			http.Error(w, "not ready: the collector is replaying its JetStream streams and serves no partial metrics; see /-/ready", http.StatusServiceUnavailable)
			return
		}
		h.ServeHTTP(w, r)
	})
}
