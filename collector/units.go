package collector

import (
	"strings"

	"github.com/pulseops/pulse/internal/protocol"
)

// unitScale maps a Nagios unit of measure (lower-cased) to the factor that
// brings it to Prometheus base units: seconds, bytes and ratios. Nagios
// plugins mean 1024 by KB, MB, GB and TB (check_disk, check_swap), so the
// binary factors are used for both spellings.
var unitScale = map[string]float64{
	"s":   1,
	"ms":  1e-3,
	"us":  1e-6,
	"µs":  1e-6,
	"ns":  1e-9,
	"b":   1,
	"kb":  1 << 10,
	"mb":  1 << 20,
	"gb":  1 << 30,
	"tb":  1 << 40,
	"kib": 1 << 10,
	"mib": 1 << 20,
	"gib": 1 << 30,
	"tib": 1 << 40,
	"%":   0.01,
}

// baseValue is a perfdata value in base units: seconds, bytes, or a 0–1 ratio
// for percentages. Counters ("c") and unknown units pass through unchanged.
// It mirrors nodeagent/checks.BaseValue so the collector need not import the
// agent.
func baseValue(p protocol.Perf) float64 {
	if f, ok := unitScale[strings.ToLower(p.UOM)]; ok {
		return p.Value * f
	}
	return p.Value
}
