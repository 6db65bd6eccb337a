package checks

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/pulseops/pulse/internal/protocol"
)

func TestParsePerfdata(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []protocol.Perf
		err  string
	}{
		{"empty", "", nil, ""},
		{"full", "load1=0.130;5.000;10.000;0;", []protocol.Perf{{Label: "load1", Value: 0.13, Warn: "5.000", Crit: "10.000", Min: "0"}}, ""},
		{"all five", "time=12ms;100;200;0;1000", []protocol.Perf{{Label: "time", Value: 12, UOM: "ms", Warn: "100", Crit: "200", Min: "0", Max: "1000"}}, ""},
		{"value only", "users=3", []protocol.Perf{{Label: "users", Value: 3}}, ""},
		{"missing middle", "x=1;;5", []protocol.Perf{{Label: "x", Value: 1, Crit: "5"}}, ""},
		{"quoted label with spaces", "'free space'=80%;20;10", []protocol.Perf{{Label: "free space", Value: 80, UOM: "%", Warn: "20", Crit: "10"}}, ""},
		{"quoted escaped quote", "'it''s'=1c", []protocol.Perf{{Label: "it's", Value: 1, UOM: "c"}}, ""},
		{"quoted equals", "'a=b'=2B", []protocol.Perf{{Label: "a=b", Value: 2, UOM: "B"}}, ""},
		{"ranges", "r=5;@10:20;~:5;;", []protocol.Perf{{Label: "r", Value: 5, Warn: "@10:20", Crit: "~:5"}}, ""},
		{"negative exp", "t=-1.5e-3s", []protocol.Perf{{Label: "t", Value: -1.5e-3, UOM: "s"}}, ""},
		{"disk", " /=13756268544B;243497277849;257024904396;0;270552530944", []protocol.Perf{{Label: "/", Value: 13756268544, UOM: "B", Warn: "243497277849", Crit: "257024904396", Min: "0", Max: "270552530944"}}, ""},
		{"several", "a=1 b=2KB\tc=3", []protocol.Perf{{Label: "a", Value: 1}, {Label: "b", Value: 2, UOM: "KB"}, {Label: "c", Value: 3}}, ""},
		{"bad value kept others", "a=1 b=xyz c=3", []protocol.Perf{{Label: "a", Value: 1}, {Label: "c", Value: 3}}, `bad perfdata: item 2 "b=xyz": value "xyz" is not a number`},
		{"no equals", "a=1 junk c=3", []protocol.Perf{{Label: "a", Value: 1}, {Label: "c", Value: 3}}, `bad perfdata: item 2 "junk": no '=' between label and value`},
		{"bad unit", "a=1parsecs", nil, `bad perfdata: item 1 "a=1parsecs": unknown unit "parsecs" (want one of s ms us % B KB MB GB TB c)`},
		{"undetermined", "a=U;1;2", nil, `bad perfdata: item 1 "a=U;1;2": value is undetermined (U)`},
		{"unclosed quote", "'abc=1", nil, `bad perfdata: item 1 "'abc=1": quoted label is not closed`},
		{"empty label", "=1 ''=2", nil, `bad perfdata: item 1 "=1": empty label; item 2 "''=2": empty label`},
		{"bad warn", "a=1;x", nil, `bad perfdata: item 1 "a=1;x": warn "x" is not a threshold range`},
		{"bad max", "a=1;;;;inf", nil, `bad perfdata: item 1 "a=1;;;;inf": max "inf" is not a number`},
		{"too many fields", "a=1;2;3;4;5;6", nil, `bad perfdata: item 1 "a=1;2;3;4;5;6": more than 5 ';'-separated fields`},
		{"nan value", "a=NaN", nil, `bad perfdata: item 1 "a=NaN": value "NaN" is not a number`},
		{"missing value", "a=;1", nil, `bad perfdata: item 1 "a=;1": missing value`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParsePerfdata(tc.in)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ParsePerfdata(%q) = %+v, want %+v", tc.in, got, tc.want)
			}
			gotErr := ""
			if err != nil {
				gotErr = err.Error()
			}
			if gotErr != tc.err {
				t.Errorf("ParsePerfdata(%q) error = %q, want %q", tc.in, gotErr, tc.err)
			}
		})
	}
}

func FuzzParsePerfdata(f *testing.F) {
	for _, s := range []string{
		"load1=0.130;5.000;10.000;0; load5=0.460;4.000;8.000;0;",
		"'free space'=80%;20;10", "'it''s'=1c", "a=U", "x=1;@10:20;~:5;0;100",
		" /=13756268544B;243497277849;257024904396;0;270552530944", "'abc", "=", "a=1e5KB",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		perf, err := ParsePerfdata(s)
		if err == nil && len(perf) == 0 && len(s) > 0 {
			for i := 0; i < len(s); i++ {
				if !isSpace(s[i]) {
					t.Fatalf("ParsePerfdata(%q) returned nothing and no error", s)
				}
			}
		}
		for _, p := range perf {
			if p.Label == "" {
				t.Fatalf("ParsePerfdata(%q) returned an empty label", s)
			}
			if !protocol.KnownPerfUnit(p.UOM) {
				t.Fatalf("ParsePerfdata(%q) returned unit %q", s, p.UOM)
			}
		}
		// Every parsed item must travel as JSON (no NaN or Inf).
		if _, err := json.Marshal(perf); err != nil {
			t.Fatalf("ParsePerfdata(%q) result does not marshal: %v", s, err)
		}
	})
}
