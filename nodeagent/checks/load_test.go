package checks

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/pulseops/pulse/internal/protocol"
	"github.com/pulseops/pulse/internal/testkit"
)

func TestCheckLoadFixture(t *testing.T) {
	tests := []struct {
		name   string
		root   string
		args   []string
		status int
		output string
		perf   string
	}{
		{"triplet warning", "testdata/root", []string{"-w", "5,4,3", "-c", "10,8,6"}, protocol.StateWarning,
			"LOAD WARNING - total load average: 1.50, 0.75, 3.20",
			"load1=1.500;5.000;10.000;0; load5=0.750;4.000;8.000;0; load15=3.200;3.000;6.000;0; "},
		{"short flag with = is not a value", "testdata/root", []string{"-w5", "-c=10"}, protocol.StateUnknown,
			"Critical threshold must be float or float triplet!", ""},
		{"single values", "testdata/root", []string{"--warning=5", "--critical", "10"}, protocol.StateOK,
			"LOAD OK - total load average: 1.50, 0.75, 3.20",
			"load1=1.500;5.000;10.000;0; load5=0.750;5.000;10.000;0; load15=3.200;5.000;10.000;0; "},
		{"critical stops", "testdata/root", []string{"-w", "1,0.5,1", "-c", "1.2,5,5"}, protocol.StateCritical,
			"LOAD CRITICAL - total load average: 1.50, 0.75, 3.20",
			"load1=1.500;1.000;1.200;0; load5=0.750;0.500;5.000;0; load15=3.200;1.000;5.000;0; "},
		{"equal is not above", "testdata/root", []string{"-w", "1.5,0.75,3.2", "-c", "9"}, protocol.StateOK,
			"LOAD OK - total load average: 1.50, 0.75, 3.20",
			"load1=1.500;1.500;9.000;0; load5=0.750;0.750;9.000;0; load15=3.200;3.200;9.000;0; "},
		{"per cpu sysfs", "testdata/root", []string{"-r", "-w", "1", "-c", "2"}, protocol.StateOK,
			"LOAD OK - scaled load average: 0.38, 0.19, 0.80 - total load average: 1.50, 0.75, 3.20",
			"load1=1.500;;;0; scaled_load1=0.375;1.000;2.000;0; load5=0.750;;;0; scaled_load5=0.188;1.000;2.000;0; load15=3.200;;;0; scaled_load15=0.800;1.000;2.000;0; "},
		{"per cpu proc stat", "testdata/rootstat", []string{"-r", "-w", "0.1", "-c", "0.15"}, protocol.StateCritical,
			"LOAD CRITICAL - scaled load average: 0.20, 0.10, 0.05 - total load average: 0.40, 0.20, 0.10",
			"load1=0.400;;;0; scaled_load1=0.200;0.100;0.150;0; load5=0.200;;;0; scaled_load5=0.100;0.100;0.150;0; load15=0.100;;;0; scaled_load15=0.050;0.100;0.150;0; "},
		{"no args", "testdata/root", nil, protocol.StateUnknown, "check_load: Could not parse arguments", ""},
		{"bad warn", "testdata/root", []string{"-w", "a", "-c", "4"}, protocol.StateUnknown, "Warning threshold must be float or float triplet!", ""},
		{"warn above crit", "testdata/root", []string{"-w", "5", "-c", "4"}, protocol.StateUnknown, `Parameter inconsistency: 1-minute "warning load" is greater than "critical load"`, ""},
		{"warn above crit 15", "testdata/root", []string{"-w", "1,1,5", "-c", "4"}, protocol.StateUnknown, `Parameter inconsistency: 15-minute "warning load" is greater than "critical load"`, ""},
		{"unknown flag", "testdata/root", []string{"-x"}, protocol.StateUnknown, "check_load: unrecognized option '-x'", ""},
		{"missing procfs", "testdata/nonexistent", []string{"-w", "1", "-c", "2"}, protocol.StateUnknown, "LOAD UNKNOWN - cannot read load average: open testdata/nonexistent/proc/loadavg: no such file or directory", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := checkLoad(tc.root, tc.args)
			if o.Status != tc.status || o.Output != tc.output {
				t.Fatalf("checkLoad(%q) = %d %q, want %d %q", tc.args, o.Status, o.Output, tc.status, tc.output)
			}
			if tc.perf == "" {
				return
			}
			want, err := ParsePerfdata(tc.perf)
			if err != nil {
				t.Fatal(err)
			}
			if len(o.Perfdata) != len(want) {
				t.Fatalf("perfdata = %+v, want %+v", o.Perfdata, want)
			}
			for i := range want {
				if o.Perfdata[i] != want[i] {
					t.Errorf("perfdata[%d] = %+v, want %+v", i, o.Perfdata[i], want[i])
				}
			}
		})
	}
}

var number = regexp.MustCompile(`[0-9]+(\.[0-9]+)?`)

// mask replaces every number by N, so outputs taken a moment apart compare.
func mask(s string) string { return number.ReplaceAllString(s, "N") }

// TestCheckLoadMatchesPlugin runs the real plugin and the builtin on this
// machine with the same flags: once numbers are masked, the text and the
// perfdata must be identical.
func TestCheckLoadMatchesPlugin(t *testing.T) {
	plugin := pluginDir + "/check_load"
	testkit.NeedBinary(t, plugin, "monitoring-plugins-basic")
	for _, args := range [][]string{
		{"-w", "5,4,3", "-c", "10,8,6"},
		{"-w", "100", "-c", "200"},
		{"-r", "-w", "50,40,30", "-c", "100,80,60"},
		{"-r", "-w", ".15,.10,.05", "-c", ".30,.25,.20"},
		{"-w", "0,0,0", "-c", "0,0,0"},
		{"-w", "5", "-c", "4"},
		{"-w", "x", "-c", "4"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			real := RunPlugin(context.Background(), append([]string{plugin}, args...), 0)
			mine := checkLoad("/", args)
			if mask(real.Output) != mask(mine.Output) {
				t.Errorf("output differs:\nplugin:  %q\nbuiltin: %q", real.Output, mine.Output)
			}
			if len(real.Perfdata) != len(mine.Perfdata) {
				t.Fatalf("perfdata differs:\nplugin:  %+v\nbuiltin: %+v", real.Perfdata, mine.Perfdata)
			}
			for i := range real.Perfdata {
				r, m := real.Perfdata[i], mine.Perfdata[i]
				// Thresholds are flags, not measurements: they must match exactly.
				if r.Label != m.Label || r.UOM != m.UOM || r.Warn != m.Warn || r.Crit != m.Crit || r.Min != m.Min || r.Max != m.Max {
					t.Errorf("perfdata[%d]: plugin %+v, builtin %+v", i, r, m)
				}
			}
			// Fixed thresholds far from the load give the same state.
			if args[1] != "5,4,3" && args[1] != ".15,.10,.05" && real.Status != mine.Status {
				t.Errorf("status: plugin %d, builtin %d", real.Status, mine.Status)
			}
		})
	}
}

func BenchmarkBuiltinCheckLoad(b *testing.B) {
	r := NewRunner(RunnerOptions{Commands: map[string][]string{"load": {"check_load", "-w", "5,4,3", "-c", "10,8,6"}}})
	ctx := context.Background()
	for b.Loop() {
		if o, err := r.Run(ctx, "load", nil, 0); err != nil || o.Status == protocol.StateUnknown {
			b.Fatalf("%v %+v", err, o)
		}
	}
}

func BenchmarkPluginCheckLoad(b *testing.B) {
	plugin := pluginDir + "/check_load"
	testkit.NeedBinary(b, plugin, "monitoring-plugins-basic")
	r := NewRunner(RunnerOptions{Commands: map[string][]string{"load": {plugin, "-w", "5,4,3", "-c", "10,8,6"}}})
	ctx := context.Background()
	for b.Loop() {
		if o, err := r.Run(ctx, "load", nil, 0); err != nil || o.Status == protocol.StateUnknown {
			b.Fatalf("%v %+v", err, o)
		}
	}
}
