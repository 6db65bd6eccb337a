// Package web is the collector's web view: a static page embedded in the
// binary and one JSON endpoint shaped for it (GET /api/v1/view). Live
// updates come from the event websocket (collector/hub), mounted beside it.
// The page only reads; it must never offer actions, so a browser left open
// on a wall screen cannot change the fleet.
package web

import (
	"embed"
	"fmt"
	"net/http"
	"sort"

	"github.com/pulseops/pulse/collector/api"
	"github.com/pulseops/pulse/internal/filter"
	"github.com/pulseops/pulse/internal/protocol"
)

//go:embed index.html style.css *.js
var files embed.FS

// Fleet is where the view reads the nodes from; *collector.Collector is
// one.
type Fleet interface {
	Nodes() []api.NodeView
}

// Register serves the page at / (and /static/) and its data at GET
// /api/v1/view on mux.
func Register(mux *http.ServeMux, fleet Fleet) {
	static := http.FileServerFS(files)
	mux.Handle("GET /api/v1/view", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { serveView(w, r, fleet) }))
	mux.Handle("GET /static/", http.StripPrefix("/static/", noCache(static)))
	mux.Handle("GET /{$}", noCache(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeFileFS(w, r, files, "index.html")
	})))
}

// noCache makes browsers revalidate, so a collector upgrade is never
// shown with the previous version's script.
func noCache(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		h.ServeHTTP(w, r)
	})
}

// zoneLabel and zoneFact name where the page finds a node's zone: the
// exported label first, so a relabelled fleet groups as its metrics do.
const (
	zoneLabel = "az"
	zoneFact  = "ec2_placement_availability_zone"
)

// serveView answers GET /api/v1/view with the fleet grouped by zone,
// narrowed by the filter query parameters of api.SpecFromQuery.
func serveView(w http.ResponseWriter, r *http.Request, fleet Fleet) {
	_, f, err := api.SpecFromQuery(r.URL.Query())
	if err != nil {
		api.WriteError(w, http.StatusBadRequest, fmt.Sprintf("bad filter: %v", err))
		return
	}
	nodes := fleet.Nodes()
	zones := map[string]*api.ZoneView{}
	view := api.FleetView{Total: len(nodes), Zones: []api.ZoneView{}}
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
			z = &api.ZoneView{Zone: zone}
			zones[zone] = z
		}
		row := api.RowView{Identity: n.Identity, Up: n.Up, LastSeen: n.LastSeen, Labels: n.Labels, Checks: []api.CellView{}, Probes: []api.CellView{}}
		for _, ch := range n.Checks {
			row.Checks = append(row.Checks, api.CellView{Name: ch.Name, Status: ch.Status, State: ch.State, Stale: ch.Stale, Output: ch.Output})
		}
		for _, p := range n.Probes {
			row.Probes = append(row.Probes, api.CellView{Name: p.Name, Status: p.Status, State: protocol.StateName(p.Status), Stale: p.Stale, Output: p.Output})
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
	api.WriteJSON(w, http.StatusOK, view)
}
