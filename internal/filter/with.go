package filter

// AddWith adds a -W expression to s: whitespace-separated terms, each a fact
// term when it contains an operator ("role=web", "cpus>2") and otherwise a
// class name or /class regex/. Every term is checked first, so on error s is
// unchanged and the *Error points at the column within expr.
func (s *Spec) AddWith(expr string) error {
	src := src{kind: "with filter", input: expr}
	var facts, classes []string
	for i := 0; ; {
		for i < len(expr) && isSpace(expr[i]) {
			i++
		}
		if i == len(expr) {
			break
		}
		start := i
		hasOp := false
		for i < len(expr) && !isSpace(expr[i]) {
			hasOp = hasOp || isOpChar(expr[i])
			i++
		}
		// A /regex/ is a class even if the pattern holds "=".
		if hasOp && expr[start] != '/' {
			if _, err := parseFact(src, start, i); err != nil {
				return err
			}
			facts = append(facts, expr[start:i])
			continue
		}
		if _, err := parseName(src, start, i); err != nil {
			return err
		}
		classes = append(classes, expr[start:i])
	}
	if len(facts) == 0 && len(classes) == 0 {
		return src.errFound(len(expr), "expected a fact term or class", "end of input")
	}
	s.Fact = append(s.Fact, facts...)
	s.Class = append(s.Class, classes...)
	return nil
}
