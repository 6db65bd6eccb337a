package collector

import "github.com/pulseops/pulse/internal/protocol"

// Tally is the fleet counted at one moment, for the history the web view
// draws: checks by state (stale ones as their last state), and each
// probe's cumulative runs and failures on each node.
type Tally struct {
	// Checks counts check results by state: OK, WARNING, CRITICAL,
	// UNKNOWN.
	Checks [4]int
	// Probes is probe → node → its agent's cumulative counters.
	Probes map[string]map[string]ProbeCount
}

// ProbeCount is one probe's cumulative counters on one node.
type ProbeCount struct{ Runs, Failures uint64 }

// Tally counts the fleet now.
func (c *Collector) Tally() Tally {
	t := Tally{Probes: map[string]map[string]ProbeCount{}}
	c.mu.RLock()
	defer c.mu.RUnlock()
	for _, n := range c.state.nodes {
		for _, e := range n.entries {
			if e.kind == "probe" {
				p := t.Probes[e.name]
				if p == nil {
					p = map[string]ProbeCount{}
					t.Probes[e.name] = p
				}
				p[n.id] = ProbeCount{Runs: e.res.ProbeRuns, Failures: e.res.ProbeFailures}
				continue
			}
			st := e.res.Status
			if st < protocol.StateOK || st > protocol.StateUnknown {
				st = protocol.StateUnknown
			}
			t.Checks[st]++
		}
	}
	return t
}
