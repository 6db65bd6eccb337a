package facts

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"
)

// maxLine bounds one line of key=value input. External executables are
// written by anyone; a runaway one must not make the agent buffer gigabytes.
const maxLine = 1 << 20

// parseKeyValue reads facter's text format: one "key=value" per line, blank
// lines and lines starting with '#' skipped, surrounding spaces trimmed.
// Values stay strings, as facter keeps them. The first '=' splits, so values
// may contain '='. A line without '=' or with an empty key is an error naming
// the line, because silently dropping it would hide a typo in a fact that a
// filter depends on.
func parseKeyValue(name string, b []byte) (map[string]any, error) {
	out := map[string]any{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 4096), maxLine)
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimSpace(sc.Text())
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		k, v, ok := strings.Cut(s, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("%s:%d: expected key=value, got %q", name, line, truncate(s, 60))
		}
		out[k] = strings.TrimSpace(v)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s:%d: read key=value facts: %w", name, line+1, err)
	}
	return out, nil
}

// truncate keeps error messages readable when the offending input is long.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
