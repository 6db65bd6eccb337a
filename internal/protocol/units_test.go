package protocol

import (
	"math"
	"testing"
)

// One table serves the agent and the collector: every guideline unit and
// the spellings other plugins use, to seconds, bytes and 0–1 ratios.
func TestBaseValue(t *testing.T) {
	tests := []struct {
		uom  string
		v    float64
		want float64
	}{
		{"s", 2, 2},
		{"ms", 250, 0.25},
		{"us", 5, 5e-6},
		{"µs", 5, 5e-6},
		{"ns", 5, 5e-9},
		{"B", 10, 10},
		{"KB", 1, 1024},
		{"kB", 2, 2048},
		{"MB", 1, 1 << 20},
		{"GB", 1.5, 1.5 * (1 << 30)},
		{"TB", 1, 1 << 40},
		{"MiB", 1, 1 << 20},
		{"%", 42, 0.42},
		{"%", 85, 0.85},
		{"c", 7, 7},
		{"", 0.5, 0.5},
		{"furlongs", 3, 3},
	}
	for _, tt := range tests {
		got := (Perf{Label: "x", Value: tt.v, UOM: tt.uom}).BaseValue()
		if math.Abs(got-tt.want) > 1e-12*math.Max(1, math.Abs(tt.want)) {
			t.Errorf("BaseValue(%v%s) = %v, want %v", tt.v, tt.uom, got, tt.want)
		}
	}
}

func TestKnownPerfUnit(t *testing.T) {
	for _, u := range PerfUnits {
		if !KnownPerfUnit(u) {
			t.Errorf("%q is a guideline unit", u)
		}
	}
	for _, u := range []string{"kb", "MiB", "µs", "furlongs"} {
		if KnownPerfUnit(u) {
			t.Errorf("%q is not a guideline spelling", u)
		}
	}
}
