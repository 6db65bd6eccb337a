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

func TestPerfBaseFamily(t *testing.T) {
	for _, tc := range []struct {
		uom    string
		value  float64
		base   float64
		family PerfFamily
	}{
		{"", 0.42, 0.42, PerfPlain},
		{"c", 12, 12, PerfPlain},
		{"ms", 250, 0.25, PerfSeconds},
		{"KB", 2, 2048, PerfBytes},
		{"%", 95, 0.95, PerfRatio},
		{"furlongs", 3, 3, PerfPlain},
	} {
		got, f := PerfBase(tc.value, tc.uom)
		if got != tc.base || f != tc.family {
			t.Errorf("PerfBase(%v, %q) = %v %v, want %v %v", tc.value, tc.uom, got, f, tc.base, tc.family)
		}
	}
	for f, want := range map[PerfFamily]string{PerfPlain: "", PerfSeconds: "_seconds", PerfBytes: "_bytes", PerfRatio: "_ratio"} {
		if f.Suffix() != want {
			t.Errorf("%v.Suffix() = %q", f, f.Suffix())
		}
	}
}

func TestParsePerfRange(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want PerfRange
		ok   bool
		err  string
	}{
		{in: "", ok: false},
		{in: "10", want: PerfRange{Upper: 10, HasUpper: true}, ok: true},
		{in: "10:", want: PerfRange{Lower: 10, HasLower: true}, ok: true},
		{in: "~:10", want: PerfRange{Upper: 10, HasUpper: true}, ok: true},
		{in: "10:20", want: PerfRange{Lower: 10, Upper: 20, HasLower: true, HasUpper: true}, ok: true},
		{in: "@10:20", want: PerfRange{Lower: 10, Upper: 20, HasLower: true, HasUpper: true, Inside: true}, ok: true},
		{in: "-5:-1.5", want: PerfRange{Lower: -5, Upper: -1.5, HasLower: true, HasUpper: true}, ok: true},
		{in: "20:10", err: `threshold "20:10": start 20 is above end 10`},
		{in: "abc", err: `threshold "abc": "abc" is not a number`},
		{in: "inf", err: `threshold "inf": "inf" is not a number`},
		{in: "~:", err: `threshold "~:" has no bound`},
	} {
		got, ok, err := ParsePerfRange(tc.in)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("ParsePerfRange(%q) error %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || ok != tc.ok || got != tc.want {
			t.Errorf("ParsePerfRange(%q) = %+v, %v, %v; want %+v, %v", tc.in, got, ok, err, tc.want, tc.ok)
		}
	}
}

func FuzzParsePerfRange(f *testing.F) {
	for _, s := range []string{"10", "10:", "~:10", "@10:20", "1e3:2e3", ":", "@"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, ok, err := ParsePerfRange(s)
		if err != nil || !ok {
			return
		}
		if !r.HasLower && !r.HasUpper {
			t.Fatalf("%q: a range with no bound", s)
		}
		if r.HasLower && r.HasUpper && r.Lower > r.Upper {
			t.Fatalf("%q: lower %v above upper %v", s, r.Lower, r.Upper)
		}
	})
}
