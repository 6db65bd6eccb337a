package probes

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/theory/jsonpath"
	"github.com/theory/jsonpath/parser"
	"github.com/theory/jsonpath/spec"
)

// jsonPath is an RFC 9535 JSONPath query restricted to singular queries:
// names and indexes only ($.user.name, $['user.name'], $.items[-1]). A
// probe asserts or extracts one value it knows the place of; wildcards,
// slices, filters and descendants select any number of values and are
// refused when the probe is loaded.
type jsonPath struct {
	raw  string
	path *jsonpath.Path
}

// parseJSONPath parses s as RFC 9535 JSONPath and requires it to select
// at most one value. Errors give the 1-based position in s.
func parseJSONPath(s string) (jsonPath, error) {
	jp := jsonPath{raw: s}
	p, err := jsonpath.Parse(s)
	if err != nil {
		msg := strings.TrimPrefix(err.Error(), parser.ErrPathParse.Error()+": ")
		if !strings.Contains(msg, "position") {
			msg += fmt.Sprintf(" at position %d", len(s)+1)
		}
		if !strings.HasPrefix(s, "$") {
			msg += `; a path starts with "$", as in $.user.name`
		}
		return jp, errors.New(msg)
	}
	if p.Query().Singular() == nil {
		for i, seg := range p.Query().Segments() {
			if seg.IsDescendant() || len(seg.Selectors()) != 1 || !singularSelector(seg.Selectors()[0]) {
				return jp, fmt.Errorf("segment %d (%s) selects any number of values; a probe needs one: use names and indexes only, as in $.user.name, $['user.name'] or $.items[-1]", i+1, seg)
			}
		}
		return jp, errors.New("selects any number of values; use names and indexes only")
	}
	jp.path = p
	return jp, nil
}

func singularSelector(s spec.Selector) bool {
	switch s.(type) {
	case spec.Name, spec.Index:
		return true
	}
	return false
}

// eval selects the one value at the path in a document decoded by
// encoding/json. When nothing is selected it says where the walk stopped.
func (jp jsonPath) eval(doc any) (any, error) {
	if jp.path == nil {
		return nil, fmt.Errorf("json path %q was not parsed", jp.raw)
	}
	if nodes := jp.path.Select(doc); len(nodes) == 1 {
		return nodes[0], nil
	}
	return nil, jp.explain(doc)
}

// explain walks the path one segment at a time, with the library's own
// selection, to name the first step that selects nothing.
func (jp jsonPath) explain(doc any) error {
	cur := doc
	at := "$"
	for _, seg := range jp.path.Query().Segments() {
		next := seg.Select(cur, doc)
		if len(next) == 1 {
			cur = next[0]
			at += seg.String()
			continue
		}
		switch sel := seg.Selectors()[0].(type) {
		case spec.Name:
			if _, ok := cur.(map[string]any); !ok {
				return fmt.Errorf("%s is %s, not an object", at, jsonKind(cur))
			}
			return fmt.Errorf("%s has no key %q", at, string(sel))
		case spec.Index:
			arr, ok := cur.([]any)
			if !ok {
				return fmt.Errorf("%s is %s, not an array", at, jsonKind(cur))
			}
			return fmt.Errorf("%s has %d elements, no index %s", at, len(arr), strconv.Itoa(int(sel)))
		}
		return fmt.Errorf("%s: %s selects nothing", at, seg)
	}
	return fmt.Errorf("%s selects nothing", jp.raw)
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case string:
		return "a string"
	case float64:
		return "a number"
	case bool:
		return "a boolean"
	default:
		return fmt.Sprintf("%T", v)
	}
}
