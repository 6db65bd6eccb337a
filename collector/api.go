package collector

import (
	"fmt"
	"net/http"
	"sort"
	"time"

	"github.com/pulseops/pulse/collector/api"
	"github.com/pulseops/pulse/internal/filter"
	"github.com/pulseops/pulse/internal/protocol"
)

// Nodes returns every known node, sorted by identity.
func (c *Collector) Nodes() []api.NodeView {
	now := c.opts.Now()
	c.mu.RLock()
	out := make([]api.NodeView, 0, len(c.state.nodes))
	for _, n := range c.state.nodes {
		out = append(out, c.state.view(n, now))
	}
	c.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Identity < out[j].Identity })
	return out
}

// Node returns one node and whether it is known.
func (c *Collector) Node(identity string) (api.NodeView, bool) {
	now := c.opts.Now()
	c.mu.RLock()
	defer c.mu.RUnlock()
	n, ok := c.state.nodes[identity]
	if !ok {
		return api.NodeView{}, false
	}
	return c.state.view(n, now), true
}

// Resolve returns the identities of the live nodes spec selects, sorted,
// as discovery would find them. A spec that does not compile selects
// nothing and is logged.
func (c *Collector) Resolve(spec filter.Spec) []string {
	f, err := filter.Compile(spec)
	if err != nil {
		c.log.Warn("resolve: filter does not compile; selecting no nodes", "err", err)
		return nil
	}
	now := c.opts.Now()
	var ids []string
	c.mu.RLock()
	for _, n := range c.state.nodes {
		if c.state.alive(n, now) && f.Match(target(n)) {
			ids = append(ids, n.id)
		}
	}
	c.mu.RUnlock()
	sort.Strings(ids)
	return ids
}

// Target is one node as filters see it, for filtered event subscriptions.
// The facts map is shared with the state and only read.
func (c *Collector) Target(id string) (*filter.Target, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	n, ok := c.state.nodes[id]
	if !ok {
		return nil, false
	}
	return target(n), true
}

func target(n *node) *filter.Target {
	return &filter.Target{Identity: n.id, Facts: n.reg.Facts, Classes: n.reg.Classes, Agents: n.reg.Agents}
}

// view copies n for the API.
func (m *fleetModel) view(n *node, now time.Time) api.NodeView {
	v := api.NodeView{
		Identity:   n.id,
		Up:         m.alive(n, now),
		LastSeen:   n.lastSeen,
		Interval:   n.interval.Seconds(),
		Labels:     make(map[string]string, len(m.cfg.rules)),
		Facts:      n.reg.Facts,
		Classes:    n.reg.Classes,
		Agents:     n.reg.Agents,
		Version:    n.reg.Version,
		Started:    n.reg.Started,
		Registered: n.registered,
		Checks:     []api.CheckView{},
		Probes:     []api.ProbeView{},
	}
	if v.Facts == nil {
		v.Facts = map[string]any{}
	}
	for i, r := range m.cfg.rules {
		v.Labels[r.label] = n.values[i]
	}
	for _, e := range n.entries {
		r := &e.res
		if e.kind == "probe" {
			v.Probes = append(v.Probes, api.ProbeView{
				Name: e.name, Success: r.Status == protocol.StateOK, Status: r.Status, Output: r.Output,
				Truncated: e.truncated, Duration: r.Duration, LastRun: r.Time, Interval: r.Interval,
				Stale: m.stale(e, now), Runs: r.ProbeRuns, Failures: r.ProbeFailures, Steps: r.Steps,
			})
			continue
		}
		v.Checks = append(v.Checks, api.CheckView{
			Name: e.name, Status: r.Status, State: protocol.StateName(r.Status), Output: r.Output,
			LongOutput: r.LongOutput, Truncated: e.truncated, Perfdata: r.Perfdata, Duration: r.Duration,
			LastRun: r.Time, Interval: r.Interval, Stale: m.stale(e, now), Runs: r.Runs,
		})
	}
	sort.Slice(v.Checks, func(i, j int) bool { return v.Checks[i].Name < v.Checks[j].Name })
	sort.Slice(v.Probes, func(i, j int) bool { return v.Probes[i].Name < v.Probes[j].Name })
	return v
}

// Handler serves the collector's read API alone: /metrics,
// /api/v1/nodes, /api/v1/nodes/{identity} and /healthz.
func (c *Collector) Handler() http.Handler {
	mux := http.NewServeMux()
	c.Register(mux)
	return mux
}

// Register mounts the read API on mux, beside the routes of other parts
// that one listener serves.
func (c *Collector) Register(mux *http.ServeMux) {
	mux.Handle("GET /metrics", c.notBeforeReady(c.metricsHTTP))
	mux.HandleFunc("GET /-/ready", c.serveReady)
	mux.HandleFunc("GET /api/v1/nodes", c.serveNodes)
	mux.HandleFunc("GET /api/v1/nodes/{identity}", c.serveNode)
	mux.HandleFunc("GET /api/v1/changes", c.serveChanges)
	mux.HandleFunc("GET /healthz", c.serveHealth)
}

// serveNodes lists nodes, optionally narrowed by the CLI's filters as query
// parameters: fact, class, identity, agent (repeatable) and compound; up=true
// or up=false narrows by liveness.
func (c *Collector) serveNodes(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	_, f, err := api.SpecFromQuery(q)
	if err != nil {
		api.WriteError(w, http.StatusBadRequest, fmt.Sprintf("bad filter: %v", err))
		return
	}
	up := q.Get("up")
	if up != "" && up != "true" && up != "false" {
		api.WriteError(w, http.StatusBadRequest, fmt.Sprintf("up=%q: use up=true or up=false", up))
		return
	}
	now := c.opts.Now()
	c.mu.RLock()
	out := []api.NodeView{}
	for _, n := range c.state.nodes {
		if f != nil && !f.Match(target(n)) {
			continue
		}
		if up != "" && c.state.alive(n, now) != (up == "true") {
			continue
		}
		out = append(out, c.state.view(n, now))
	}
	c.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Identity < out[j].Identity })
	api.WriteJSON(w, http.StatusOK, out)
}

func (c *Collector) serveNode(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("identity")
	v, ok := c.Node(id)
	if !ok {
		api.WriteError(w, http.StatusNotFound, fmt.Sprintf("node %q is not known: it has sent no heartbeat or result", id))
		return
	}
	api.WriteJSON(w, http.StatusOK, v)
}

// serveHealth answers 200 while the NATS connection is up and ingest runs.
func (c *Collector) serveHealth(w http.ResponseWriter, _ *http.Request) {
	running := c.running.Load()
	mode, _ := c.mode.Load().(string)
	c.mu.RLock()
	nodes := len(c.state.nodes)
	c.mu.RUnlock()
	status, code := "ok", http.StatusOK
	switch {
	case !running:
		status, code = "not ingesting: the collector is stopped", http.StatusServiceUnavailable
	case !c.opts.Conn.IsConnected():
		status, code = "not ingesting: NATS connection is "+c.opts.Conn.Status().String(), http.StatusServiceUnavailable
	}
	api.WriteJSON(w, code, map[string]any{"status": status, "mode": mode, "nodes": nodes})
}
