package filter

import "regexp"

// nameMatcher matches an identity, class or agent name exactly or, when
// written as /regex/, by an unanchored regular expression as MCollective
// does.
type nameMatcher struct {
	exact string
	re    *regexp.Regexp
}

// parseName parses s.input[lo:hi] as a name or /regex/.
func parseName(s src, lo, hi int) (nameMatcher, error) {
	v := s.input[lo:hi]
	if v == "" {
		return nameMatcher{}, s.errAt(lo, "empty name")
	}
	if len(v) < 2 || v[0] != '/' || v[len(v)-1] != '/' {
		return nameMatcher{exact: v}, nil
	}
	pat := v[1 : len(v)-1]
	if pat == "" {
		return nameMatcher{}, s.errAt(lo, "empty regular expression")
	}
	re, err := regexp.Compile(pat)
	if err != nil {
		return nameMatcher{}, &Error{Kind: s.kind, Input: s.input, Column: s.column(lo), Reason: "invalid regular expression", Err: err}
	}
	return nameMatcher{re: re}, nil
}

func (m nameMatcher) match(name string) bool {
	if m.re != nil {
		return m.re.MatchString(name)
	}
	return name == m.exact
}

func (m nameMatcher) matchAny(names []string) bool {
	for _, n := range names {
		if m.match(n) {
			return true
		}
	}
	return false
}
