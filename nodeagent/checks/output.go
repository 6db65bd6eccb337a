package checks

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/pulseops/pulse/internal/protocol"
)

// ParseOutput splits Nagios plugin output (plugin API v3) into its parts:
//
//	TEXT OUTPUT | OPTIONAL PERFDATA
//	LONG TEXT LINE 1
//	LONG TEXT LINE 2 | PERFDATA LINE 2
//	PERFDATA LINE 3
//
// Output longer than maxBytes (DefaultMaxOutput when maxBytes <= 0) is cut
// at a character boundary and the cut is noted at the end of the long
// output. Bad perfdata items are dropped: the check result matters more than
// one malformed metric.
func ParseOutput(stdout []byte, maxBytes int) (output, long string, perf []protocol.Perf) {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxOutput
	}
	truncated := false
	if len(stdout) > maxBytes {
		cut := maxBytes
		for cut > 0 && !utf8.RuneStart(stdout[cut]) {
			cut--
		}
		stdout = stdout[:cut]
		truncated = true
	}
	text := strings.ReplaceAll(string(stdout), "\r\n", "\n")
	text = strings.ToValidUTF8(text, "\uFFFD")
	first, rest, _ := strings.Cut(text, "\n")

	var perfText []string
	if o, p, ok := strings.Cut(first, "|"); ok {
		first = o
		perfText = append(perfText, p)
	}
	output = strings.TrimSpace(first)

	var longLines []string
	inPerf := false
	for _, line := range strings.Split(rest, "\n") {
		if inPerf {
			perfText = append(perfText, line)
			continue
		}
		if l, p, ok := strings.Cut(line, "|"); ok {
			longLines = append(longLines, l)
			perfText = append(perfText, p)
			inPerf = true
			continue
		}
		longLines = append(longLines, line)
	}
	long = strings.TrimRight(strings.Join(longLines, "\n"), " \t\n")
	long = strings.TrimLeft(long, "\n")
	if truncated {
		note := fmt.Sprintf("[output truncated after %d bytes]", maxBytes)
		if long == "" {
			long = note
		} else {
			long += "\n" + note
		}
	}
	perf, _ = ParsePerfdata(strings.Join(perfText, " "))
	return output, long, perf
}
