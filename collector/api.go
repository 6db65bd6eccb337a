package collector

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"time"

	"github.com/pulseops/pulse/internal/filter"
	"github.com/pulseops/pulse/internal/protocol"
)

// NodeView is what the API shows of one node. Facts is shared with the
// collector's state and must not be modified.
type NodeView struct {
	Identity string            `json:"identity"`
	Up       bool              `json:"up"`
	LastSeen time.Time         `json:"last_seen,omitzero"`
	Interval float64           `json:"interval"` // heartbeat period, seconds
	Labels   map[string]string `json:"labels"`   // allow-listed fact labels as exported
	Facts    map[string]any    `json:"facts"`
	Classes  []string          `json:"classes"`
	Agents   []string          `json:"agents"`
	Version  string            `json:"version,omitempty"`
	Started  time.Time         `json:"started,omitzero"`
	// Registered is false for a node whose results arrived before any
	// heartbeat.
	Registered bool        `json:"registered"`
	Checks     []CheckView `json:"checks"`
	Probes     []ProbeView `json:"probes"`
}

// CheckView is the last result of one check on one node.
type CheckView struct {
	Name       string            `json:"name"`
	Status     int               `json:"status"`
	State      string            `json:"state"`
	Output     string            `json:"output"`
	LongOutput string            `json:"long_output,omitempty"`
	Truncated  bool              `json:"truncated,omitempty"`
	Perfdata   []protocol.Perf   `json:"perfdata,omitempty"`
	Duration   float64           `json:"duration"`
	LastRun    time.Time         `json:"last_run"`
	Interval   float64           `json:"interval"`
	Stale      bool              `json:"stale"`
	Runs       map[string]uint64 `json:"runs,omitempty"`
}

// ProbeView is the last result of one probe on one node, with its steps.
type ProbeView struct {
	Name      string                `json:"name"`
	Success   bool                  `json:"success"`
	Status    int                   `json:"status"`
	Output    string                `json:"output"`
	Truncated bool                  `json:"truncated,omitempty"`
	Duration  float64               `json:"duration"`
	LastRun   time.Time             `json:"last_run"`
	Interval  float64               `json:"interval"`
	Stale     bool                  `json:"stale"`
	Runs      uint64                `json:"runs"`
	Failures  uint64                `json:"failures"`
	Steps     []protocol.StepResult `json:"steps,omitempty"`
}

// Nodes returns every known node, sorted by identity.
func (c *Collector) Nodes() []NodeView {
	now := c.opts.Now()
	c.mu.RLock()
	out := make([]NodeView, 0, len(c.state.nodes))
	for _, n := range c.state.nodes {
		out = append(out, c.view(n, now))
	}
	c.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Identity < out[j].Identity })
	return out
}

// Node returns one node and whether it is known.
func (c *Collector) Node(identity string) (NodeView, bool) {
	now := c.opts.Now()
	c.mu.RLock()
	defer c.mu.RUnlock()
	n, ok := c.state.nodes[identity]
	if !ok {
		return NodeView{}, false
	}
	return c.view(n, now), true
}

// Count returns how many live nodes match spec, as discovery would find
// them. A spec that does not compile matches nothing and is logged.
func (c *Collector) Count(spec filter.Spec) int {
	f, err := filter.Compile(spec)
	if err != nil {
		c.log.Warn("count: filter does not compile; counting no nodes", "err", err)
		return 0
	}
	now := c.opts.Now()
	c.mu.RLock()
	defer c.mu.RUnlock()
	count := 0
	for _, n := range c.state.nodes {
		if c.alive(n, now) && f.Match(target(n)) {
			count++
		}
	}
	return count
}

func target(n *node) *filter.Target {
	return &filter.Target{Identity: n.id, Facts: n.reg.Facts, Classes: n.reg.Classes, Agents: n.reg.Agents}
}

// view copies n for the API. Lock must be held.
func (c *Collector) view(n *node, now time.Time) NodeView {
	v := NodeView{
		Identity:   n.id,
		Up:         c.alive(n, now),
		LastSeen:   n.lastSeen,
		Interval:   n.interval.Seconds(),
		Labels:     make(map[string]string, len(c.rules)),
		Facts:      n.reg.Facts,
		Classes:    n.reg.Classes,
		Agents:     n.reg.Agents,
		Version:    n.reg.Version,
		Started:    n.reg.Started,
		Registered: n.registered,
		Checks:     []CheckView{},
		Probes:     []ProbeView{},
	}
	if v.Facts == nil {
		v.Facts = map[string]any{}
	}
	for i, r := range c.rules {
		v.Labels[r.label] = n.values[i]
	}
	for _, e := range n.entries {
		r := &e.res
		if e.kind == "probe" {
			v.Probes = append(v.Probes, ProbeView{
				Name: e.name, Success: r.Status == protocol.StateOK, Status: r.Status, Output: r.Output,
				Truncated: e.truncated, Duration: r.Duration, LastRun: r.Time, Interval: r.Interval,
				Stale: c.stale(e, now), Runs: r.ProbeRuns, Failures: r.ProbeFailures, Steps: r.Steps,
			})
			continue
		}
		v.Checks = append(v.Checks, CheckView{
			Name: e.name, Status: r.Status, State: protocol.StateName(r.Status), Output: r.Output,
			LongOutput: r.LongOutput, Truncated: e.truncated, Perfdata: r.Perfdata, Duration: r.Duration,
			LastRun: r.Time, Interval: r.Interval, Stale: c.stale(e, now), Runs: r.Runs,
		})
	}
	sort.Slice(v.Checks, func(i, j int) bool { return v.Checks[i].Name < v.Checks[j].Name })
	sort.Slice(v.Probes, func(i, j int) bool { return v.Probes[i].Name < v.Probes[j].Name })
	return v
}

// Handler serves /metrics, /api/v1/nodes, /api/v1/nodes/{identity},
// /healthz and whatever was added with Handle.
func (c *Collector) Handler() http.Handler { return c.mux }

// Handle mounts h on the collector's mux, so one listener serves the API,
// the metrics and the routes other packages add.
func (c *Collector) Handle(pattern string, h http.Handler) { c.mux.Handle(pattern, h) }

func (c *Collector) routes() {
	c.mux.Handle("GET /metrics", &metricsHandler{c: c})
	c.mux.HandleFunc("GET /api/v1/nodes", c.serveNodes)
	c.mux.HandleFunc("GET /api/v1/nodes/{identity}", c.serveNode)
	c.mux.HandleFunc("GET /healthz", c.serveHealth)
}

// serveNodes lists nodes, optionally narrowed by the CLI's filters as query
// parameters: fact, class, identity, agent (repeatable) and compound; up=true
// or up=false narrows by liveness.
func (c *Collector) serveNodes(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	_, f, err := specFromQuery(q)
	if err != nil {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("bad filter: %v", err))
		return
	}
	up := q.Get("up")
	if up != "" && up != "true" && up != "false" {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("up=%q: use up=true or up=false", up))
		return
	}
	now := c.opts.Now()
	c.mu.RLock()
	out := []NodeView{}
	for _, n := range c.state.nodes {
		if f != nil && !f.Match(target(n)) {
			continue
		}
		if up != "" && c.alive(n, now) != (up == "true") {
			continue
		}
		out = append(out, c.view(n, now))
	}
	c.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Identity < out[j].Identity })
	writeJSON(w, http.StatusOK, out)
}

func (c *Collector) serveNode(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("identity")
	v, ok := c.Node(id)
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("node %q is not known: it has sent no heartbeat or result", id))
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// serveHealth answers 200 while the NATS connection is up and ingest runs.
func (c *Collector) serveHealth(w http.ResponseWriter, _ *http.Request) {
	c.runMu.Lock()
	running, mode := c.running, c.mode
	c.runMu.Unlock()
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
	writeJSON(w, code, map[string]any{"status": status, "mode": mode, "nodes": nodes})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}
