package filter

// Filter is a compiled Spec. It is immutable and safe for concurrent use;
// Match does no parsing and, for terms without regular expressions, no
// allocation, because every agent runs it for every request on the bus.
type Filter struct {
	facts      []*FactTerm
	classes    []nameMatcher
	identities []nameMatcher
	agents     []nameMatcher
	compound   node
}

// Compile parses every part of s once. The first problem found is returned
// as a *Error naming the term and column.
func Compile(s Spec) (*Filter, error) {
	f := &Filter{}
	for _, term := range s.Fact {
		t, err := ParseFactTerm(term)
		if err != nil {
			return nil, err
		}
		f.facts = append(f.facts, t)
	}
	var err error
	if f.classes, err = parseNames("class filter", s.Class); err != nil {
		return nil, err
	}
	if f.identities, err = parseNames("identity filter", s.Identity); err != nil {
		return nil, err
	}
	if f.agents, err = parseNames("agent filter", s.Agent); err != nil {
		return nil, err
	}
	if s.Compound != "" {
		if f.compound, err = parseCompound(s.Compound); err != nil {
			return nil, err
		}
	}
	return f, nil
}

func parseNames(kind string, names []string) ([]nameMatcher, error) {
	var ms []nameMatcher
	for _, n := range names {
		m, err := parseName(src{kind: kind, input: n}, 0, len(n))
		if err != nil {
			return nil, err
		}
		ms = append(ms, m)
	}
	return ms, nil
}

// Match reports whether t is selected: every fact term, every class and
// every agent must match, the identity must match one of the identity terms
// (a node has only one identity, so identities are alternatives, as in
// MCollective), and the compound expression must hold. A nil or empty
// Filter matches every target; a nil target is a node with nothing.
func (f *Filter) Match(t *Target) bool {
	if f == nil {
		return true
	}
	if t == nil {
		t = &Target{}
	}
	if len(f.identities) > 0 {
		ok := false
		for _, m := range f.identities {
			if m.match(t.Identity) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	for _, m := range f.agents {
		if !m.matchAny(t.Agents) {
			return false
		}
	}
	for _, m := range f.classes {
		if !m.matchAny(t.Classes) {
			return false
		}
	}
	for _, ft := range f.facts {
		if !ft.Match(t.Facts) {
			return false
		}
	}
	return f.compound == nil || f.compound.eval(t)
}
