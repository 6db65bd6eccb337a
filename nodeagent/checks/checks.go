// Package checks runs nrpe-style checks: Nagios plugins executed from an
// argument vector, native builtins such as check_load that read procfs
// through a configurable root, the parsing of plugin output and perfdata,
// and the loading of nrpe.cfg command definitions.
//
// It must never run anything through a shell: command lines are split into
// argument vectors here, arguments from the network are validated against
// an allow-list and substituted inside single argv elements, and a command
// line that needs a shell to mean what it says is rejected when it is loaded.
package checks

import (
	"time"

	"github.com/pulseops/pulse/internal/protocol"
)

// DefaultMaxOutput bounds how much plugin output is kept, as NRPE 3/4 does
// with its 64 KiB packet buffer; a runaway plugin cannot fill memory.
const DefaultMaxOutput = 64 << 10

// DefaultTimeout is the check timeout when none is given, as NRPE's
// command_timeout default.
const DefaultTimeout = 60 * time.Second

// Outcome is the result of one check run. Status is one of
// protocol.StateOK..protocol.StateUnknown.
type Outcome struct {
	Status     int
	Output     string
	LongOutput string
	Perfdata   []protocol.Perf
	Duration   time.Duration
}

// unknown builds an UNKNOWN outcome, used for every failure to run a check
// at all, as Nagios does.
func unknown(output string) Outcome {
	return Outcome{Status: protocol.StateUnknown, Output: output}
}
