package checks

import (
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/pulseops/pulse/internal/protocol"
)

func TestParseOutput(t *testing.T) {
	tests := []struct {
		name         string
		in           string
		max          int
		output, long string
		perf         []protocol.Perf
	}{
		{"plain", "OK - fine\n", 0, "OK - fine", "", nil},
		{"perf", "LOAD OK - x|load1=1;2;3;0; \n", 0, "LOAD OK - x", "", []protocol.Perf{{Label: "load1", Value: 1, Warn: "2", Crit: "3", Min: "0"}}},
		{"long", "DISK OK\n/ 10%\n/var 20%\n", 0, "DISK OK", "/ 10%\n/var 20%", nil},
		{"plugin api v3", "DISK OK - free space: / 3326 MB (56%); | /=2643MB;5948;5958;0;5968\n/ 15272 MB (77%);\n/boot 68 MB (69%);\n/home 69357 MB (27%);\n/var/log 819 MB (84%); | /boot=68MB;88;93;0;98\n/home=69357MB;253404;253409;0;253414 \n/var/log=818MB;970;975;0;980\n", 0,
			"DISK OK - free space: / 3326 MB (56%);",
			"/ 15272 MB (77%);\n/boot 68 MB (69%);\n/home 69357 MB (27%);\n/var/log 819 MB (84%);",
			[]protocol.Perf{
				{Label: "/", Value: 2643, UOM: "MB", Warn: "5948", Crit: "5958", Min: "0", Max: "5968"},
				{Label: "/boot", Value: 68, UOM: "MB", Warn: "88", Crit: "93", Min: "0", Max: "98"},
				{Label: "/home", Value: 69357, UOM: "MB", Warn: "253404", Crit: "253409", Min: "0", Max: "253414"},
				{Label: "/var/log", Value: 818, UOM: "MB", Warn: "970", Crit: "975", Min: "0", Max: "980"},
			}},
		{"crlf", "WARN x\r\nmore\r\n", 0, "WARN x", "more", nil},
		{"bad perf dropped", "OK|a=1 b=zz", 0, "OK", "", []protocol.Perf{{Label: "a", Value: 1}}},
		{"empty", "", 0, "", "", nil},
		{"truncated", "OK 0123456789\nlong line here", 10, "OK 0123456", "[output truncated after 10 bytes]", nil},
		{"truncated long", "OK\nabcdefghij", 6, "OK", "abc\n[output truncated after 6 bytes]", nil},
		{"truncated at rune", "OK ééé", 6, "OK é", "[output truncated after 6 bytes]", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o, l, p := ParseOutput([]byte(tc.in), tc.max)
			if o != tc.output || l != tc.long || !reflect.DeepEqual(p, tc.perf) {
				t.Errorf("ParseOutput(%q) =\n %q\n %q\n %+v\nwant\n %q\n %q\n %+v", tc.in, o, l, p, tc.output, tc.long, tc.perf)
			}
		})
	}
}

func FuzzParseOutput(f *testing.F) {
	f.Add([]byte("LOAD OK - total load average: 0.12, 0.20, 0.25|load1=0.120;5.000;10.000;0; load5=0.200;4.000;8.000;0; \n"), 0)
	f.Add([]byte("DISK OK\n/ 10%|/=1MB\n/var=2MB\n"), 16)
	f.Add([]byte("\xff\xfe|'x''y'=1\r\n"), 3)
	f.Fuzz(func(t *testing.T, b []byte, max int) {
		if max > 1<<16 || max < -1 {
			max = 0
		}
		o, l, _ := ParseOutput(b, max)
		if !utf8.ValidString(o) || !utf8.ValidString(l) {
			t.Fatalf("ParseOutput(%q) returned invalid UTF-8", b)
		}
		if strings.Contains(o, "\n") {
			t.Fatalf("ParseOutput(%q) output %q spans lines", b, o)
		}
		limit := max
		if limit <= 0 {
			limit = DefaultMaxOutput
		}
		if len(o) > limit*3 { // U+FFFD replacement may grow invalid bytes to 3
			t.Fatalf("ParseOutput(%q, %d) output of %d bytes exceeds the limit", b, max, len(o))
		}
	})
}
