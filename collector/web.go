package collector

// The web view: a static page embedded in the binary, the event websocket
// and one JSON endpoint shaped for the page. The page only reads; it must
// never offer actions, so a browser left open on a wall screen cannot
// change the fleet.

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"sort"
	"time"

	"github.com/pulseops/pulse/internal/filter"
	"github.com/pulseops/pulse/internal/protocol"
)

//go:embed web
var webFiles embed.FS

// WebOptions configure the web view and the event websocket.
type WebOptions struct {
	// AllowedOrigins lists browser origins allowed to open the event
	// websocket besides the collector's own address (see HubOptions).
	AllowedOrigins []string
	// QueueSize is each websocket client's send queue (256 events).
	QueueSize int
	// PingInterval is the websocket keepalive period (25s).
	PingInterval time.Duration
	// Context, when set, closes every websocket with "going away" when it
	// ends; pass the context whose end stops the server, because
	// http.Server.Shutdown does not close upgraded connections.
	Context context.Context
}

// EnableWeb serves the web view at / (and /static/), the event websocket at
// GET /api/v1/events and the page's data at GET /api/v1/view. The
// websocket requires the server's ActionToken when one is set. Call it once,
// between NewServer and Start: event listeners are fixed once ingest runs.
func (s *Server) EnableWeb(opts WebOptions) error {
	if s.ln != nil {
		return errors.New("collector: EnableWeb called after Start: call it between NewServer and Start, so the event hub is subscribed before ingest begins")
	}
	hub := NewHub(HubOptions{
		QueueSize: opts.QueueSize, PingInterval: opts.PingInterval, AllowedOrigins: opts.AllowedOrigins,
		Token: s.opts.ActionToken, Lookup: s.Col.filterTarget, Registerer: s.Col.Registry(),
		Logger: s.opts.Collector.Logger,
	})
	s.OnEvent(hub.Publish)
	s.hub = hub
	if opts.Context != nil {
		go func() {
			<-opts.Context.Done()
			hub.Close()
		}()
	}
	static, err := fs.Sub(webFiles, "web")
	if err != nil {
		return fmt.Errorf("collector: embedded web files: %w", err)
	}
	files := http.FileServerFS(static)
	s.Handle("GET /api/v1/events", hub.Handler())
	s.Handle("GET /api/v1/view", http.HandlerFunc(s.Col.serveView))
	s.Handle("GET /static/", http.StripPrefix("/static/", noCache(files)))
	s.Handle("GET /{$}", noCache(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeFileFS(w, r, static, "index.html")
	})))
	return nil
}

// noCache makes browsers revalidate, so a collector upgrade is never
// shown with the previous version's script.
func noCache(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		h.ServeHTTP(w, r)
	})
}

// specFromQuery reads the CLI's filters from query parameters: filter (a
// -W expression, repeatable), fact, class, identity, agent (repeatable),
// and select or compound (a -S expression). It is shared by every endpoint
// that takes a filter, so the web view, the websocket and the CLI speak one
// language. It also returns the compiled filter, nil when the spec is empty
// (a nil filter matches every node).
func specFromQuery(q url.Values) (filter.Spec, *filter.Filter, error) {
	spec := filter.Spec{Fact: q["fact"], Class: q["class"], Identity: q["identity"], Agent: q["agent"]}
	for _, w := range q["filter"] {
		if err := spec.AddWith(w); err != nil {
			return filter.Spec{}, nil, err
		}
	}
	sel, comp := q.Get("select"), q.Get("compound")
	if sel != "" && comp != "" {
		return filter.Spec{}, nil, errors.New("both select and compound are set: they are the same -S expression, send one")
	}
	spec.Compound = sel + comp
	if spec.Empty() {
		return spec, nil, nil
	}
	f, err := filter.Compile(spec)
	if err != nil {
		return filter.Spec{}, nil, err
	}
	return spec, f, nil
}

// filterTarget is the hub's view of one node for filtered subscriptions.
// The facts map is shared with the state and only read.
func (c *Collector) filterTarget(id string) (*filter.Target, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	n, ok := c.state.nodes[id]
	if !ok {
		return nil, false
	}
	return target(n), true
}

// zoneLabel and zoneFact name where the page finds a node's zone: the
// exported label first, so a relabelled fleet groups as its metrics do.
const (
	zoneLabel = "az"
	zoneFact  = "ec2_placement_availability_zone"
)

// FleetView is what the web page shows: nodes grouped by zone.
type FleetView struct {
	Total int        `json:"total"` // nodes known, before the filter
	Shown int        `json:"shown"` // nodes matching the filter
	Zones []ZoneView `json:"zones"`
}

// ZoneView is one zone's rows; Zone is empty for nodes without one.
type ZoneView struct {
	Zone  string    `json:"zone"`
	Nodes []RowView `json:"nodes"`
}

// RowView is one table row: facts are left out (the page fetches them
// from /api/v1/nodes/{identity} when a row is opened), so the first load
// of a large fleet stays small.
type RowView struct {
	Identity string            `json:"identity"`
	Up       bool              `json:"up"`
	LastSeen time.Time         `json:"last_seen,omitzero"`
	Labels   map[string]string `json:"labels"`
	Checks   []CellView        `json:"checks"`
	Probes   []CellView        `json:"probes"`
}

// CellView is one check or probe cell.
type CellView struct {
	Name   string `json:"name"`
	Status int    `json:"status"`
	State  string `json:"state"`
	Stale  bool   `json:"stale"`
	Output string `json:"output"`
}

// serveView answers GET /api/v1/view with the fleet grouped by zone,
// narrowed by the filter query parameters of specFromQuery.
func (c *Collector) serveView(w http.ResponseWriter, r *http.Request) {
	_, f, err := specFromQuery(r.URL.Query())
	if err != nil {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("bad filter: %v", err))
		return
	}
	nodes := c.Nodes()
	zones := map[string]*ZoneView{}
	view := FleetView{Total: len(nodes), Zones: []ZoneView{}}
	for _, n := range nodes {
		if f != nil && !f.Match(&filter.Target{Identity: n.Identity, Facts: n.Facts, Classes: n.Classes, Agents: n.Agents}) {
			continue
		}
		view.Shown++
		zone := n.Labels[zoneLabel]
		if zone == "" {
			zone, _ = n.Facts[zoneFact].(string)
		}
		z := zones[zone]
		if z == nil {
			z = &ZoneView{Zone: zone}
			zones[zone] = z
		}
		row := RowView{Identity: n.Identity, Up: n.Up, LastSeen: n.LastSeen, Labels: n.Labels, Checks: []CellView{}, Probes: []CellView{}}
		for _, ch := range n.Checks {
			row.Checks = append(row.Checks, CellView{Name: ch.Name, Status: ch.Status, State: ch.State, Stale: ch.Stale, Output: ch.Output})
		}
		for _, p := range n.Probes {
			row.Probes = append(row.Probes, CellView{Name: p.Name, Status: p.Status, State: protocol.StateName(p.Status), Stale: p.Stale, Output: p.Output})
		}
		z.Nodes = append(z.Nodes, row)
	}
	for _, z := range zones {
		view.Zones = append(view.Zones, *z)
	}
	// Zoneless nodes sort last; nodes within a zone stay in identity order.
	sort.Slice(view.Zones, func(i, j int) bool {
		a, b := view.Zones[i].Zone, view.Zones[j].Zone
		if (a == "") != (b == "") {
			return b == ""
		}
		return a < b
	})
	writeJSON(w, http.StatusOK, view)
}
