package protocol

import "time"

// Nagios plugin states, used by checks, probes and their results.
const (
	StateOK       = 0
	StateWarning  = 1
	StateCritical = 2
	StateUnknown  = 3
)

// StateName is the Nagios name of a state; anything out of range is UNKNOWN.
func StateName(s int) string {
	switch s {
	case StateOK:
		return "OK"
	case StateWarning:
		return "WARNING"
	case StateCritical:
		return "CRITICAL"
	default:
		return "UNKNOWN"
	}
}

// Perf is one parsed perfdata item: 'label'=value[UOM];[warn];[crit];[min];[max].
// Thresholds stay strings because Nagios allows ranges such as "10:20" or "@5:".
type Perf struct {
	Label string  `json:"label"`
	Value float64 `json:"value"`
	UOM   string  `json:"uom,omitempty"`
	Warn  string  `json:"warn,omitempty"`
	Crit  string  `json:"crit,omitempty"`
	Min   string  `json:"min,omitempty"`
	Max   string  `json:"max,omitempty"`
}

// Result is one run of a scheduled check or probe on one node, published on
// Subjects.Results. Counters are cumulative since the agent started
// (Started), so a lost message or a collector restart never skews a rate.
// Identity, Time (when the run started), Boot and Seq travel in the
// envelope.
type Result struct {
	Identity string `json:"identity"`
	ResultBody
	Time time.Time `json:"time"`
	Stream
}

// ResultBody is a result's body on the wire.
type ResultBody struct {
	// Kind is "check" or "probe".
	Kind       string  `json:"kind"`
	Name       string  `json:"name"`
	Status     int     `json:"status"`
	Output     string  `json:"output"`
	LongOutput string  `json:"long_output,omitempty"`
	Perfdata   []Perf  `json:"perfdata,omitempty"`
	Duration   float64 `json:"duration"` // seconds
	Interval   float64 `json:"interval"` // seconds between runs
	// Started is when the agent started: its counters began at zero then.
	Started time.Time `json:"started"`
	// Runs counts runs by state name ("OK", "WARNING", ...) for checks.
	Runs map[string]uint64 `json:"runs,omitempty"`
	// ProbeRuns and ProbeFailures count probe runs and failed runs.
	ProbeRuns     uint64       `json:"probe_runs,omitempty"`
	ProbeFailures uint64       `json:"probe_failures,omitempty"`
	Steps         []StepResult `json:"steps,omitempty"`
}

// StepResult is one step of a probe: how long each phase took and, if it
// failed, why.
type StepResult struct {
	Name     string             `json:"name"`
	Duration float64            `json:"duration"`
	Phases   map[string]float64 `json:"phases,omitempty"` // dns, connect, tls, ttfb, transfer: seconds
	Error    string             `json:"error,omitempty"`
	// StatusCode is the HTTP status of the step's final response, when one
	// came; CertExpiry the Unix time at which the first of the server's
	// certificates expires, when the response came over TLS (as
	// blackbox_exporter's probe_ssl_earliest_cert_expiry).
	StatusCode int     `json:"status_code,omitempty"`
	CertExpiry float64 `json:"cert_expiry,omitempty"`
}
