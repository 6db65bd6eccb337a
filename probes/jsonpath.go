package probes

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// jsonPath is a parsed path in the small subset probes support:
// $.a.b[0].c — keys after dots, array indexes in brackets. Filters,
// wildcards and recursive descent are deliberately left out: a probe asserts
// one value it knows the place of.
type jsonPath struct {
	raw  string
	segs []jsonSeg
}

type jsonSeg struct {
	key   string
	index int
	isIdx bool
}

func parseJSONPath(s string) (jsonPath, error) {
	jp := jsonPath{raw: s}
	if !strings.HasPrefix(s, "$") {
		return jp, errors.New(`must start with "$", as in $.user.name`)
	}
	rest := s[1:]
	for rest != "" {
		switch rest[0] {
		case '.':
			rest = rest[1:]
			end := strings.IndexAny(rest, ".[")
			if end < 0 {
				end = len(rest)
			}
			if end == 0 {
				return jp, fmt.Errorf("empty key at offset %d", len(s)-len(rest))
			}
			jp.segs = append(jp.segs, jsonSeg{key: rest[:end]})
			rest = rest[end:]
		case '[':
			end := strings.IndexByte(rest, ']')
			if end < 0 {
				return jp, fmt.Errorf("unclosed [ at offset %d", len(s)-len(rest))
			}
			digits := rest[1:end]
			n, err := strconv.Atoi(digits)
			if err != nil || strings.Trim(digits, "0123456789") != "" {
				return jp, fmt.Errorf("index %q at offset %d must be a non-negative integer", rest[1:end], len(s)-len(rest))
			}
			jp.segs = append(jp.segs, jsonSeg{index: n, isIdx: true})
			rest = rest[end+1:]
		default:
			return jp, fmt.Errorf("unexpected %q at offset %d: use .key or [index]", rest[0], len(s)-len(rest))
		}
	}
	return jp, nil
}

// eval finds the value at the path in a document decoded by encoding/json.
func (jp jsonPath) eval(doc any) (any, error) {
	cur := doc
	at := "$"
	for _, seg := range jp.segs {
		if seg.isIdx {
			arr, ok := cur.([]any)
			if !ok {
				return nil, fmt.Errorf("%s is %s, not an array", at, jsonKind(cur))
			}
			if seg.index >= len(arr) {
				return nil, fmt.Errorf("%s has %d elements, no index %d", at, len(arr), seg.index)
			}
			cur = arr[seg.index]
			at += "[" + strconv.Itoa(seg.index) + "]"
			continue
		}
		obj, ok := cur.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s is %s, not an object", at, jsonKind(cur))
		}
		v, ok := obj[seg.key]
		if !ok {
			return nil, fmt.Errorf("%s has no key %q", at, seg.key)
		}
		cur = v
		at += "." + seg.key
	}
	return cur, nil
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
