// Package filter implements pulse's node selection language: the -W, -F,
// -I, -C, -A and -S filters of the CLI, their wire form (Spec) and the
// matcher every agent runs against its own facts. It never executes anything
// and never touches the network.
package filter

// Spec is the wire form of a filter, as carried in every request. Each list is
// an AND of its terms, except Identity: a node has one identity, so identity
// terms are alternatives, as in MCollective ("-I web1 -I web2" selects both).
// All lists and Compound are ANDed together. An empty Spec matches every node.
// Compile turns a Spec into a matcher.
type Spec struct {
	// Fact terms such as "role=web", "cpus>=2", "os.name=~/deb/".
	Fact []string `json:"fact,omitempty"`
	// Class names, exact or /regex/.
	Class []string `json:"class,omitempty"`
	// Identity names, exact or /regex/; any one of them must match.
	Identity []string `json:"identity,omitempty"`
	// Agent names, exact or /regex/.
	Agent []string `json:"agent,omitempty"`
	// Compound is a -S expression: terms joined by and, or, not, parentheses.
	Compound string `json:"compound,omitempty"`
}

// Empty reports whether the spec selects every node.
func (s Spec) Empty() bool {
	return len(s.Fact) == 0 && len(s.Class) == 0 && len(s.Identity) == 0 &&
		len(s.Agent) == 0 && s.Compound == ""
}

// Target is what a filter is matched against: one node as it sees itself.
type Target struct {
	Identity string
	// Facts may nest (maps from YAML/JSON fact files); "os.name" looks up
	// Facts["os.name"] first and then Facts["os"]["name"].
	Facts   map[string]any
	Classes []string
	Agents  []string
}
