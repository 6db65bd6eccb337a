// Package agentapi is the contract of pulse's RPC agents with whoever calls
// them: each agent's actions and the data its replies carry. The agents
// (nodeagent and nodeagent/actions) answer with these types and the CLI
// reads them, so the two cannot drift apart. Changing a JSON name here is a
// protocol change: older CLIs read the old name.
//
// It holds types only: no behaviour, and no import beyond the wire types.
package agentapi

import "github.com/pulseops/pulse/internal/protocol"

// PackageActions are the package agent's actions.
var PackageActions = []string{"install", "uninstall", "purge", "update", "status", "checkupdates"}

// PackageStatus is the package agent's reply data.
type PackageStatus struct {
	// Package is the name that was asked about.
	Package string `json:"package"`
	// Ensure is the installed version, or Absent.
	Ensure string `json:"ensure"`
	Arch   string `json:"arch"`
	// Name is the name the package manager reports.
	Name string `json:"name"`
}

// Absent is PackageStatus.Ensure for a package that is not installed.
const Absent = "absent"

// OutdatedPackage is one entry of checkupdates.
type OutdatedPackage struct {
	Package   string `json:"package"`
	Current   string `json:"current"`
	Available string `json:"available"`
}

// CheckUpdatesResult is the reply data of checkupdates.
type CheckUpdatesResult struct {
	OutdatedPackages []OutdatedPackage `json:"outdated_packages"`
	Count            int               `json:"count"`
}

// ServiceActions are the service agent's actions.
var ServiceActions = []string{"start", "stop", "restart", "reload", "status"}

// ServiceStatus is the service agent's reply data.
type ServiceStatus struct {
	Service string `json:"service"`
	// Status is ServiceRunning or ServiceStopped.
	Status string `json:"status"`
	// Enabled says whether the service starts at boot; nil when the init
	// system cannot tell (sysv), so the field is left out.
	Enabled *bool `json:"enabled,omitempty"`
}

// The values of ServiceStatus.Status.
const (
	ServiceRunning = "running"
	ServiceStopped = "stopped"
)

// NRPERunReply is the data of an nrpe runcommand reply.
type NRPERunReply struct {
	Command    string          `json:"command"`
	ExitCode   int             `json:"exitcode"`
	Status     string          `json:"status"`
	Output     string          `json:"output"`
	LongOutput string          `json:"long_output"`
	Perfdata   []protocol.Perf `json:"perfdata"`
	Duration   float64         `json:"duration"` // seconds
}

// NRPEListReply is the data of an nrpe list reply.
type NRPEListReply struct {
	Commands []string `json:"commands"`
}

// RPCUtilActions are the actions of rpcutil, the agent every node hosts.
var RPCUtilActions = []string{"agent_inventory", "daemon_stats", "get_fact", "get_facts", "inventory", "ping"}

// Pong is rpcutil#ping's reply data: the node's time, Unix seconds.
type Pong struct {
	Pong int64 `json:"pong"`
}

// Inventory is rpcutil#inventory's reply data.
type Inventory struct {
	Agents  []string       `json:"agents"`
	Facts   map[string]any `json:"facts"`
	Classes []string       `json:"classes"`
	Version string         `json:"version"`
	// BuildInfo is what pulse_build_info labels the collector's own series
	// with (version, revision, goversion, goos, goarch).
	BuildInfo      map[string]string `json:"build_info,omitempty"`
	MainCollective string            `json:"main_collective"`
	Collectives    []string          `json:"collectives"`
	Started        int64             `json:"started"` // Unix seconds
	Uptime         int64             `json:"uptime"`  // seconds
}

// Fact is rpcutil#get_fact's reply data: the fact and its value (nil when
// the node does not have it).
type Fact struct {
	Fact  string `json:"fact"`
	Value any    `json:"value"`
}

// Facts is rpcutil#get_facts's reply data.
type Facts struct {
	Values map[string]any `json:"values"`
}

// AgentActions names one agent a node hosts and its actions.
type AgentActions struct {
	Agent   string   `json:"agent"`
	Actions []string `json:"actions"`
}

// AgentInventory is rpcutil#agent_inventory's reply data.
type AgentInventory struct {
	Agents []AgentActions `json:"agents"`
}

// DaemonStats is rpcutil#daemon_stats's reply data: the agent's request
// counters since it started.
type DaemonStats struct {
	// Malformed counts dropped messages by protocol reason.
	Malformed    map[string]uint64 `json:"malformed"`
	Requests     uint64            `json:"requests"`
	Replies      uint64            `json:"replies"`
	Filtered     uint64            `json:"filtered"`
	Errors       uint64            `json:"errors"`
	TTLExpired   uint64            `json:"ttlexpired"`
	Unauthorized uint64            `json:"unauthorized"`
	// Busy counts requests refused because every action slot was taken
	// or the agent was stopping.
	Busy uint64 `json:"busy"`
	// Results waiting for the results stream's acknowledgement, attempts
	// it did not acknowledge, and results given up (the oldest when the
	// agent's buffer was full, or refused by the stream).
	ResultsPending uint64 `json:"results_pending"`
	ResultsRetried uint64 `json:"results_retried"`
	ResultsDropped uint64 `json:"results_dropped"`
	Started        int64  `json:"started"` // Unix seconds
	Uptime         int64  `json:"uptime"`  // seconds
	Version        string `json:"version"`
	PID            int    `json:"pid"`
}
