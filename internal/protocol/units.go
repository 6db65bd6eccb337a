package protocol

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// PerfUnits are the units of measurement the Nagios plugin guidelines allow
// in perfdata, as they spell them. Agents accept only these from plugins.
var PerfUnits = []string{"", "s", "ms", "us", "%", "B", "KB", "MB", "GB", "TB", "c"}

// PerfFamily is what a perfdata unit measures, and so which metric family
// the collector exposes a value in.
type PerfFamily uint8

const (
	// PerfPlain values have no unit, or count things ("c").
	PerfPlain PerfFamily = iota
	// PerfSeconds are durations: s, ms, us.
	PerfSeconds
	// PerfBytes are sizes: B, KB, MB, GB, TB.
	PerfBytes
	// PerfRatio is a percentage as a 0–1 ratio.
	PerfRatio
)

// PerfFamilies lists every family, in a fixed order.
var PerfFamilies = []PerfFamily{PerfPlain, PerfSeconds, PerfBytes, PerfRatio}

// Suffix is the family's unit suffix for a metric name ("" for plain), as
// Prometheus names base units.
func (f PerfFamily) Suffix() string {
	return [...]string{"", "_seconds", "_bytes", "_ratio"}[f]
}

func (f PerfFamily) String() string {
	return [...]string{"plain", "seconds", "bytes", "ratio"}[f]
}

type perfUnit struct {
	family PerfFamily
	scale  float64
}

// unitScale is the one table of perfdata units: the family of each and the
// factor that brings a value to Prometheus base units — seconds, bytes,
// and 0–1 ratios for percentages. Keys are lower case, and besides the
// guidelines' units hold the spellings other plugins use (µs, ns, KiB...).
// Nagios plugins mean 1024 by KB, MB, GB and TB (check_disk, check_swap),
// so the binary factors are used for both spellings. A counter ("c"), a
// plain number and an unknown unit pass through unchanged.
var unitScale = map[string]perfUnit{
	"s":   {PerfSeconds, 1},
	"ms":  {PerfSeconds, 1e-3},
	"us":  {PerfSeconds, 1e-6},
	"µs":  {PerfSeconds, 1e-6},
	"ns":  {PerfSeconds, 1e-9},
	"b":   {PerfBytes, 1},
	"kb":  {PerfBytes, 1 << 10},
	"mb":  {PerfBytes, 1 << 20},
	"gb":  {PerfBytes, 1 << 30},
	"tb":  {PerfBytes, 1 << 40},
	"kib": {PerfBytes, 1 << 10},
	"mib": {PerfBytes, 1 << 20},
	"gib": {PerfBytes, 1 << 30},
	"tib": {PerfBytes, 1 << 40},
	"%":   {PerfRatio, 0.01},
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
	v, _ := PerfBase(p.Value, p.UOM)
	return v
}

// PerfBase is value, in uom, in its family's base unit, and the family. An
// unknown unit leaves the value as it is, plain.
func PerfBase(value float64, uom string) (float64, PerfFamily) {
	u, ok := unitScale[strings.ToLower(uom)]
	switch {
	case !ok:
		return value, PerfPlain
	case u.family == PerfRatio:
		// Dividing gives 0.95 for 95%, where multiplying by 0.01 gives
		// 0.9500000000000001.
		return value / 100, PerfRatio
	}
	return value * u.scale, u.family
}

// PerfRange is a Nagios threshold range, "[@][start:][end]": a value
// outside start..end alerts (inside it, with "@"). A bound left out or
// written "~" is open.
type PerfRange struct {
	Lower, Upper       float64
	HasLower, HasUpper bool
	// Inside is "@": the value alerts when inside the range.
	Inside bool
}

// ParsePerfRange reads a threshold as the plugin guidelines define it:
// "10" alerts above 10 (and below the implied start 0, which is not kept:
// the values plugins report do not go below 0), "10:" below 10, "~:10"
// above 10, "10:20" outside 10..20 and "@10:20" inside it. An empty
// threshold is no range.
func ParsePerfRange(s string) (PerfRange, bool, error) {
	if s == "" {
		return PerfRange{}, false, nil
	}
	orig := s
	var r PerfRange
	if rest, ok := strings.CutPrefix(s, "@"); ok {
		r.Inside, s = true, rest
	}
	start, end, colon := strings.Cut(s, ":")
	if !colon {
		start, end = "", s
	}
	num := func(t string) (float64, error) {
		v, err := strconv.ParseFloat(t, 64)
		if err != nil || math.IsInf(v, 0) || math.IsNaN(v) || strings.ContainsAny(t, "xXpPiInN_") {
			return 0, fmt.Errorf("threshold %q: %q is not a number", orig, t)
		}
		return v, nil
	}
	var err error
	if start != "" && start != "~" {
		if r.Lower, err = num(start); err != nil {
			return PerfRange{}, false, err
		}
		r.HasLower = true
	}
	if end != "" {
		if r.Upper, err = num(end); err != nil {
			return PerfRange{}, false, err
		}
		r.HasUpper = true
	}
	if !r.HasLower && !r.HasUpper {
		return PerfRange{}, false, fmt.Errorf("threshold %q has no bound", orig)
	}
	if r.HasLower && r.HasUpper && r.Lower > r.Upper {
		return PerfRange{}, false, fmt.Errorf("threshold %q: start %v is above end %v", orig, r.Lower, r.Upper)
	}
	return r, true, nil
}
