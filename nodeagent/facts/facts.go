// Package facts gathers what a node knows of itself, as facter does: system
// facts, fact files, an external-facts directory and cloud instance metadata.
// Sources never execute anything through a shell and never write.
package facts

import "context"

// Source is one origin of facts. Gather returns a fresh set each call; values
// are JSON-compatible (string, float64, bool, []any, map[string]any).
//
// A source may return partial facts together with an error (one fact file of
// many was unreadable, one executable timed out); the Gatherer keeps what it
// got and records the error, because a node with most of its facts is far
// more useful to a filter than a node with none.
type Source interface {
	Name() string
	Gather(ctx context.Context) (map[string]any, error)
}
