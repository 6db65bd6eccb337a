package collector

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/pulseops/pulse/internal/filter"
)

// overflowValue replaces a fact label value once the label already has
// MaxLabelValues distinct values. The node keeps all its series (an alert
// about it must still fire); only the one label loses its detail.
const overflowValue = "__overflow__"

// maxLabelValueBytes bounds one label value: facts are free text, labels are
// index keys.
const maxLabelValueBytes = 256

// reservedLabels are the label names the collector sets itself; a fact label
// may not take one of them.
var reservedLabels = map[string]bool{
	"identity": true, "check": true, "label": true, "status": true,
	"probe": true, "step": true, "phase": true, "kind": true, "reason": true,
	"job": true, "instance": true, "le": true, "quantile": true,
}

type labelRule struct {
	fact  string
	label string
}

// sanitizeLabel maps any string onto [a-zA-Z_][a-zA-Z0-9_]*.
func sanitizeLabel(s string) string {
	var b strings.Builder
	for i, r := range s {
		switch {
		case r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z':
			b.WriteRune(r)
		case r >= '0' && r <= '9':
			if i == 0 {
				b.WriteByte('_')
			}
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	return b.String()
}

func compileLabels(rules []LabelRule) ([]labelRule, error) {
	out := make([]labelRule, 0, len(rules))
	seen := map[string]string{}
	for i, r := range rules {
		if strings.TrimSpace(r.Fact) == "" {
			return nil, fmt.Errorf("collector: label rule %d has no fact: name the fact to turn into a label", i+1)
		}
		name := r.Label
		if name == "" {
			name = r.Fact
		}
		name = sanitizeLabel(name)
		if strings.HasPrefix(name, "__") {
			return nil, fmt.Errorf("collector: label %q for fact %q starts with __, which Prometheus reserves: choose another label name", name, r.Fact)
		}
		if reservedLabels[name] {
			return nil, fmt.Errorf("collector: label %q for fact %q is a label the collector sets itself: choose another label name", name, r.Fact)
		}
		if prev, ok := seen[name]; ok {
			return nil, fmt.Errorf("collector: label %q is given to both fact %q and fact %q: give each its own label name", name, prev, r.Fact)
		}
		seen[name] = r.Fact
		out = append(out, labelRule{fact: r.Fact, label: name})
	}
	return out, nil
}

// lookupFact finds a fact by path the way filters do.
func lookupFact(facts map[string]any, path string) (any, bool) { return filter.Lookup(facts, path) }

// factLabelValue renders a scalar fact as a label value; lists and maps are
// not label material and give "".
func factLabelValue(v any) string {
	var s string
	switch x := v.(type) {
	case string:
		s = x
	case bool:
		s = strconv.FormatBool(x)
	case float64:
		s = strconv.FormatFloat(x, 'f', -1, 64)
	case int:
		s = strconv.Itoa(x)
	case int64:
		s = strconv.FormatInt(x, 10)
	default:
		return ""
	}
	return truncateUTF8(strings.ToValidUTF8(s, "\uFFFD"), maxLabelValueBytes)
}

// truncateUTF8 cuts s to at most n bytes without splitting a rune.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// labelGuard caps the distinct values of each fact label. It counts how many
// nodes hold each value, so values of departed nodes free their place.
// Callers hold the state lock.
type labelGuard struct {
	max    int
	values []map[string]int // per rule: value -> nodes holding it
}

func newLabelGuard(rules int, max int) *labelGuard {
	g := &labelGuard{max: max, values: make([]map[string]int, rules)}
	for i := range g.values {
		g.values[i] = map[string]int{}
	}
	return g
}

// acquire returns the value to use for raw on label i: raw itself, or
// overflowValue when the label is full. The empty value (fact missing) is
// always allowed and never counted.
func (g *labelGuard) acquire(i int, raw string) string {
	if raw == "" {
		return ""
	}
	m := g.values[i]
	if n, ok := m[raw]; ok {
		m[raw] = n + 1
		return raw
	}
	if len(m) >= g.max {
		return overflowValue
	}
	m[raw] = 1
	return raw
}

// release gives back a value returned by acquire.
func (g *labelGuard) release(i int, v string) {
	if v == "" || v == overflowValue {
		return
	}
	m := g.values[i]
	if m[v] <= 1 {
		delete(m, v)
		return
	}
	m[v]--
}
