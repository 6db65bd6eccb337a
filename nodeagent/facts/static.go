package facts

import "context"

// Static is a fixed set of facts: what the demo's simulated nodes are, and
// a way for tests and operators to pin a fact (role, cluster) in code.
type Static map[string]any

// Name is "static".
func (s Static) Name() string { return "static" }

// Gather returns a normalized deep copy, so the caller's map is never shared
// with the Gatherer's snapshot.
func (s Static) Gather(context.Context) (map[string]any, error) {
	return normalizeMap(s), nil
}
