package api

import (
	"errors"
	"net/url"

	"github.com/pulseops/pulse/internal/filter"
)

// SpecFromQuery reads the CLI's filters from query parameters: filter (a
// -W expression, repeatable), fact, class, identity, agent (repeatable),
// and select or compound (a -S expression). Every endpoint that takes a
// filter reads it with this, so the web view, the websocket and the CLI
// speak one language. It also returns the compiled filter, nil when the
// spec is empty (a nil filter matches every node).
func SpecFromQuery(q url.Values) (filter.Spec, *filter.Filter, error) {
	spec := filter.Spec{Fact: q["fact"], Class: q["class"], Identity: q["identity"], Agent: q["agent"]}
	for _, w := range q["filter"] {
		if err := spec.AddWith(w); err != nil {
			return filter.Spec{}, nil, err
		}
	}
	sel, comp := q.Get("select"), q.Get("compound")
	if sel != "" && comp != "" {
		return filter.Spec{}, nil, errors.New("both select and compound are set: they are the same -S expression, send one")
	}
	spec.Compound = sel + comp
	if spec.Empty() {
		return spec, nil, nil
	}
	f, err := filter.Compile(spec)
	if err != nil {
		return filter.Spec{}, nil, err
	}
	return spec, f, nil
}

// SpecQuery is the query SpecFromQuery reads spec back from.
func SpecQuery(spec filter.Spec) url.Values {
	q := url.Values{"fact": spec.Fact, "class": spec.Class, "identity": spec.Identity, "agent": spec.Agent}
	if spec.Compound != "" {
		q.Set("compound", spec.Compound)
	}
	return q
}
