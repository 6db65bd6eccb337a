package api

import (
	"time"

	"github.com/pulseops/pulse/internal/protocol"
)

// NodeView is what the API shows of one node (GET /api/v1/nodes and
// /api/v1/nodes/{identity}). Facts is shared with the collector's state and
// must not be modified.
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

// FleetView is what the web page shows (GET /api/v1/view): nodes grouped
// by zone.
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
