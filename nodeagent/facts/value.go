package facts

import (
	"fmt"
	"time"
)

// normalize turns a decoded YAML/JSON value, or a value a caller put into a
// Static map, into the JSON-compatible shapes the Source contract promises.
// The filter matcher and the wire codec only know those shapes, so an int
// from YAML or a map[any]any from a YAML mapping with odd keys must not leak
// past a source. It always copies, so callers may keep mutating their input.
func normalize(v any) any {
	switch x := v.(type) {
	case nil, string, bool, float64:
		return x
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = normalize(e)
		}
		return out
	case map[any]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[fmt.Sprint(k)] = normalize(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalize(e)
		}
		return out
	case []string:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = e
		}
		return out
	case int:
		return float64(x)
	case int8:
		return float64(x)
	case int16:
		return float64(x)
	case int32:
		return float64(x)
	case int64:
		return float64(x)
	case uint:
		return float64(x)
	case uint8:
		return float64(x)
	case uint16:
		return float64(x)
	case uint32:
		return float64(x)
	case uint64:
		return float64(x)
	case float32:
		return float64(x)
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	case time.Duration:
		return x.Seconds()
	default:
		return fmt.Sprint(x)
	}
}

// normalizeMap is normalize for a whole fact set; a nil input gives an empty,
// non-nil map so merging never has to check.
func normalizeMap(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return normalize(m).(map[string]any)
}
