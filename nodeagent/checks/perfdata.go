package checks

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/pulseops/pulse/internal/protocol"
)

// PerfdataError lists the perfdata items that could not be parsed. The good
// items are returned beside it.
type PerfdataError struct {
	Items []string // one message per bad item
}

func (e *PerfdataError) Error() string {
	return "bad perfdata: " + strings.Join(e.Items, "; ")
}

// ParsePerfdata parses space-separated items of the form
// 'label'=value[UOM];[warn];[crit];[min];[max]. Labels may be quoted with
// single quotes to hold spaces or '=', a quote inside written as ”.
// Missing trailing fields are allowed. Bad items are skipped and described
// in a *PerfdataError; the good items are returned in every case.
func ParsePerfdata(s string) ([]protocol.Perf, error) {
	var (
		out []protocol.Perf
		bad []string
	)
	i, n := 0, 0
	for {
		for i < len(s) && isSpace(s[i]) {
			i++
		}
		if i >= len(s) {
			break
		}
		n++
		start := i
		p, next, err := parseItem(s, i)
		i = next
		if err != nil {
			bad = append(bad, fmt.Sprintf("item %d %q: %v", n, s[start:next], err))
			continue
		}
		out = append(out, p)
	}
	if len(bad) > 0 {
		return out, &PerfdataError{Items: bad}
	}
	return out, nil
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// skipItem returns the index after the item that starts at i, so one bad
// item never swallows the next.
func skipItem(s string, i int) int {
	for i < len(s) && !isSpace(s[i]) {
		i++
	}
	return i
}

func parseItem(s string, i int) (protocol.Perf, int, error) {
	var p protocol.Perf
	if s[i] == '\'' {
		var b strings.Builder
		j := i + 1
		closed := false
		for j < len(s) {
			if s[j] == '\'' {
				if j+1 < len(s) && s[j+1] == '\'' {
					b.WriteByte('\'')
					j += 2
					continue
				}
				closed = true
				j++
				break
			}
			b.WriteByte(s[j])
			j++
		}
		if !closed {
			return p, len(s), fmt.Errorf("quoted label is not closed")
		}
		p.Label = b.String()
		if j >= len(s) || s[j] != '=' {
			return p, skipItem(s, j), fmt.Errorf("no '=' after the quoted label")
		}
		i = j + 1
	} else {
		j := i
		for j < len(s) && s[j] != '=' && !isSpace(s[j]) {
			j++
		}
		if j >= len(s) || s[j] != '=' {
			return p, j, fmt.Errorf("no '=' between label and value")
		}
		p.Label = s[i:j]
		i = j + 1
	}
	end := skipItem(s, i)
	if p.Label == "" {
		return p, end, fmt.Errorf("empty label")
	}
	fields := strings.Split(s[i:end], ";")
	if len(fields) > 5 {
		// A trailing ';' after max is common and harmless.
		for _, f := range fields[5:] {
			if f != "" {
				return p, end, fmt.Errorf("more than 5 ';'-separated fields")
			}
		}
	}
	v, uom, err := splitValue(fields[0])
	if err != nil {
		return p, end, err
	}
	p.Value, p.UOM = v, uom
	dst := []*string{&p.Warn, &p.Crit, &p.Min, &p.Max}
	names := []string{"warn", "crit", "min", "max"}
	for k := 1; k < len(fields) && k <= 4; k++ {
		f := fields[k]
		if f == "" {
			continue
		}
		if k <= 2 {
			if !validRange(f) {
				return p, end, fmt.Errorf("%s %q is not a threshold range", names[k-1], f)
			}
		} else if _, err := strconv.ParseFloat(f, 64); err != nil || !finite(f) {
			return p, end, fmt.Errorf("%s %q is not a number", names[k-1], f)
		}
		*dst[k-1] = f
	}
	return p, end, nil
}

// splitValue separates the number from its unit and checks both.
func splitValue(f string) (float64, string, error) {
	if f == "" {
		return 0, "", fmt.Errorf("missing value")
	}
	if f == "U" {
		// "U" means the plugin could not determine a value; JSON cannot
		// carry NaN, so the item is dropped.
		return 0, "", fmt.Errorf("value is undetermined (U)")
	}
	j := 0
	for j < len(f) && strings.IndexByte("0123456789.-+eE", f[j]) >= 0 {
		// An 'e' belongs to the number only when followed by a digit or sign.
		if (f[j] == 'e' || f[j] == 'E') && (j == 0 || j+1 >= len(f) || strings.IndexByte("0123456789-+", f[j+1]) < 0) {
			break
		}
		j++
	}
	num, uom := f[:j], f[j:]
	if num == "" {
		return 0, "", fmt.Errorf("value %q is not a number", f)
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || !finite(num) {
		return 0, "", fmt.Errorf("value %q is not a number", num)
	}
	if !protocol.KnownPerfUnit(uom) {
		return 0, "", fmt.Errorf("unknown unit %q (want one of s ms us %% B KB MB GB TB c)", uom)
	}
	return v, uom, nil
}

// finite rejects spellings ParseFloat accepts but perfdata never uses
// (inf, nan, hex), and values out of float64 range.
func finite(num string) bool {
	if num == "" || strings.ContainsAny(num, "iInNxXpP_") {
		return false
	}
	_, err := strconv.ParseFloat(num, 64)
	return err == nil
}

// validRange checks a Nagios threshold range: [@][start:][end], where start
// may be '~' for negative infinity.
func validRange(r string) bool {
	r = strings.TrimPrefix(r, "@")
	start, end, hasColon := strings.Cut(r, ":")
	if !hasColon {
		return finite(r)
	}
	if start != "" && start != "~" && !finite(start) {
		return false
	}
	return end == "" || finite(end)
}
