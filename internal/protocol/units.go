package protocol

import "strings"

// PerfUnits are the units of measurement the Nagios plugin guidelines allow
// in perfdata, as they spell them. Agents accept only these from plugins.
var PerfUnits = []string{"", "s", "ms", "us", "%", "B", "KB", "MB", "GB", "TB", "c"}

// unitScale is the one table of perfdata units: the factor that brings a
// value to Prometheus base units — seconds, bytes, and 0–1 ratios for
// percentages. Keys are lower case, and besides the guidelines' units hold
// the spellings other plugins use (µs, ns, KiB...). Nagios plugins mean
// 1024 by KB, MB, GB and TB (check_disk, check_swap), so the binary
// factors are used for both spellings. A counter ("c"), a plain number and
// an unknown unit pass through unchanged.
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

// KnownPerfUnit reports whether uom is one of PerfUnits, spelled as the
// guidelines spell it.
func KnownPerfUnit(uom string) bool {
	for _, u := range PerfUnits {
		if u == uom {
			return true
		}
	}
	return false
}

// BaseValue is p's value in base units: seconds, bytes, or a 0–1 ratio for
// a percentage.
func (p Perf) BaseValue() float64 {
	if f, ok := unitScale[strings.ToLower(p.UOM)]; ok {
		return p.Value * f
	}
	return p.Value
}
