package probes

import (
	"regexp"
	"strings"
)

// refRE matches a well-formed variable reference. Anything else that starts
// with "${" is malformed and rejected at load.
var refRE = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// expandRefs replaces every ${name} in s with repl(name).
func expandRefs(s string, repl func(name string) string) string {
	if !strings.Contains(s, "${") {
		return s
	}
	return refRE.ReplaceAllStringFunc(s, func(m string) string {
		return repl(m[2 : len(m)-1])
	})
}

// expand substitutes variables; load-time validation guarantees each one is
// defined by the time its step runs.
func expand(s string, vars map[string]string) string {
	return expandRefs(s, func(name string) string { return vars[name] })
}

// expandRegex substitutes variables as literal text inside a pattern.
func expandRegex(s string, vars map[string]string) string {
	return expandRefs(s, func(name string) string { return regexp.QuoteMeta(vars[name]) })
}

// expandDeep substitutes variables in every string of a decoded YAML value,
// returning a copy.
func expandDeep(v any, vars map[string]string) any {
	switch x := v.(type) {
	case string:
		return expand(x, vars)
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = expandDeep(e, vars)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = expandDeep(e, vars)
		}
		return out
	default:
		return v
	}
}
