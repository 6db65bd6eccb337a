package filter

import (
	"cmp"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Op is a fact comparison operator.
type Op uint8

// The fact operators. "=" and "==" are both OpEq; "=~" and "=/re/" are both
// OpRegex. The MCollective spellings "=>" and "=<" are accepted for >= and <=.
const (
	OpEq Op = iota + 1
	OpNe
	OpLt
	OpGt
	OpLe
	OpGe
	OpRegex
)

var opNames = [...]string{OpEq: "==", OpNe: "!=", OpLt: "<", OpGt: ">", OpLe: "<=", OpGe: ">=", OpRegex: "=~"}

func (o Op) String() string {
	if o > 0 && int(o) < len(opNames) {
		return opNames[o]
	}
	return fmt.Sprintf("Op(%d)", uint8(o))
}

// parseOp maps every accepted spelling to its operator.
func parseOp(s string) (Op, bool) {
	switch s {
	case "=", "==":
		return OpEq, true
	case "!=":
		return OpNe, true
	case "<":
		return OpLt, true
	case ">":
		return OpGt, true
	case "<=", "=<":
		return OpLe, true
	case ">=", "=>":
		return OpGe, true
	case "=~":
		return OpRegex, true
	}
	return 0, false
}

// FactTerm is one compiled fact comparison such as "cpus>=2". It is
// immutable and safe for concurrent use.
type FactTerm struct {
	// Name is the fact, possibly a dotted path such as "os.name".
	Name string
	Op   Op
	// Value is the right-hand side as written; for OpRegex it is the
	// pattern without enclosing slashes.
	Value string

	re    *regexp.Regexp
	num   float64
	isNum bool
}

// ParseFactTerm compiles a single fact term as given to -F, such as
// "role=web", "cpus >= 2" or "os.name=~^Deb". Spaces around the operator are
// allowed; the value is the rest of the term and may contain spaces.
func ParseFactTerm(term string) (*FactTerm, error) {
	return parseFact(src{kind: "fact filter", input: term}, 0, len(term))
}

// isOpChar reports whether c can start an operator.
func isOpChar(c byte) bool { return c == '=' || c == '!' || c == '<' || c == '>' }

// isOpRunChar reports whether c can continue an operator; the whole run is
// looked up so that typos such as "<>" are reported rather than guessed.
func isOpRunChar(c byte) bool { return isOpChar(c) || c == '~' }

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// parseFact parses s.input[lo:hi] as a fact term, reporting errors at their
// place in the whole input so that terms inside a -S or -W expression point
// at the right column.
func parseFact(s src, lo, hi int) (*FactTerm, error) {
	in := s.input
	for lo < hi && isSpace(in[lo]) {
		lo++
	}
	for hi > lo && isSpace(in[hi-1]) {
		hi--
	}
	if lo == hi {
		return nil, s.errAt(lo, "empty fact term")
	}
	opAt := lo
	for opAt < hi && !isOpChar(in[opAt]) {
		opAt++
	}
	if opAt == hi {
		return nil, s.errFound(hi, "expected an operator (= == != < > <= >= =~) after the fact name", "end of input")
	}
	nameEnd := opAt
	for nameEnd > lo && isSpace(in[nameEnd-1]) {
		nameEnd--
	}
	if nameEnd == lo {
		return nil, s.errAt(lo, fmt.Sprintf("missing fact name before %q", in[opAt:opRunEnd(in, opAt, hi)]))
	}
	if i := strings.IndexAny(in[lo:nameEnd], " \t\r\n"); i >= 0 {
		return nil, s.errAt(lo+i, "space in fact name")
	}
	opEnd := opRunEnd(in, opAt, hi)
	opText := in[opAt:opEnd]
	op, ok := parseOp(opText)
	if !ok {
		return nil, s.errAt(opAt, fmt.Sprintf("unknown operator %q (use one of = == != < > <= >= =~)", opText))
	}
	valAt := opEnd
	for valAt < hi && isSpace(in[valAt]) {
		valAt++
	}
	if valAt == hi {
		return nil, s.errFound(hi, fmt.Sprintf("expected a value after %q", opText), "end of input")
	}
	t := &FactTerm{Name: in[lo:nameEnd], Op: op, Value: in[valAt:hi]}
	// As in MCollective, "fact=/re/" is a regex match and "=~" takes the
	// pattern with or without slashes. "!=" and the orderings never do, so
	// "path!=/var/" compares strings.
	slashed := len(t.Value) >= 2 && t.Value[0] == '/' && t.Value[len(t.Value)-1] == '/'
	if op == OpRegex || (opText == "=" && slashed) {
		t.Op = OpRegex
		if slashed {
			t.Value = t.Value[1 : len(t.Value)-1]
		}
		if t.Value == "" {
			return nil, s.errAt(valAt, "empty regular expression")
		}
		re, err := regexp.Compile(t.Value)
		if err != nil {
			return nil, &Error{Kind: s.kind, Input: in, Column: s.column(valAt), Reason: "invalid regular expression", Err: err}
		}
		t.re = re
		return t, nil
	}
	if looksNumeric(t.Value) {
		if n, err := strconv.ParseFloat(t.Value, 64); err == nil {
			t.num, t.isNum = n, true
		}
	}
	return t, nil
}

func opRunEnd(in string, at, hi int) int {
	for at < hi && isOpRunChar(in[at]) {
		at++
	}
	return at
}

// String renders the term in a form ParseFactTerm accepts.
func (t *FactTerm) String() string {
	if t.Op == OpRegex {
		return t.Name + "=~/" + t.Value + "/"
	}
	if t.Value != "" && isOpRunChar(t.Value[0]) {
		// Keep "a== =b" from reading back as the operator "===".
		return t.Name + t.Op.String() + " " + t.Value
	}
	return t.Name + t.Op.String() + t.Value
}

// Match reports whether facts satisfy the term. A missing fact (or a JSON
// null, or a map) never matches, not even "!=": this is MCollective's rule,
// so "role!=web" selects nodes that have a role other than web, and
// "not role=web" in -S also selects nodes without a role. A list matches when
// any element does.
func (t *FactTerm) Match(facts map[string]any) bool {
	v, ok := lookup(facts, t.Name)
	if !ok {
		return false
	}
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			if t.matchScalar(e) {
				return true
			}
		}
		return false
	case []string:
		for _, e := range x {
			if t.matchString(e) {
				return true
			}
		}
		return false
	}
	return t.matchScalar(v)
}

// Lookup finds a fact by its dotted name exactly as filters do, so
// get_fact, fact labels and filters never disagree about a name.
func Lookup(facts map[string]any, name string) (any, bool) { return lookup(facts, name) }

// lookup finds a dotted fact name: the flat key first, as facter and
// external facts often use "os.name" literally, then nested maps, trying
// every split of the path so "a.b.c" finds Facts["a"]["b.c"] too. It slices
// the name and never allocates.
func lookup(m map[string]any, name string) (any, bool) {
	if v, ok := m[name]; ok {
		return v, true
	}
	for i := 0; i < len(name); i++ {
		if name[i] != '.' {
			continue
		}
		sub, ok := m[name[:i]].(map[string]any)
		if !ok {
			continue
		}
		if v, ok := lookup(sub, name[i+1:]); ok {
			return v, true
		}
	}
	return nil, false
}

func (t *FactTerm) matchScalar(v any) bool {
	switch x := v.(type) {
	case string:
		return t.matchString(x)
	case float64:
		return t.matchFloat(x)
	case int:
		return t.matchFloat(float64(x))
	case int64:
		return t.matchFloat(float64(x))
	case int32:
		return t.matchFloat(float64(x))
	case uint:
		return t.matchFloat(float64(x))
	case uint64:
		return t.matchFloat(float64(x))
	case uint32:
		return t.matchFloat(float64(x))
	case float32:
		return t.matchFloat(float64(x))
	case json.Number:
		return t.matchString(string(x))
	case bool:
		if x {
			return t.matchString("true")
		}
		return t.matchString("false")
	}
	// nil, maps, nested lists and unknown types never match.
	return false
}

func (t *FactTerm) matchString(s string) bool {
	if t.re != nil {
		return t.re.MatchString(s)
	}
	// The cheap syntax check first: strconv.ParseFloat allocates its error
	// for every non-number, and this runs on every agent for every request.
	if t.isNum && looksNumeric(s) {
		if n, err := strconv.ParseFloat(s, 64); err == nil {
			return compare(t.Op, n, t.num)
		}
	}
	return compare(t.Op, s, t.Value)
}

func (t *FactTerm) matchFloat(n float64) bool {
	if t.isNum && t.re == nil {
		return compare(t.Op, n, t.num)
	}
	if t.re != nil {
		// regexp keeps its input in pooled state, so this buffer escapes
		// and costs one small allocation; regexes over numbers are rare.
		return t.re.Match(strconv.AppendFloat(nil, n, 'f', -1, 64))
	}
	// Compare the fact's text form (4.0 is "4") from a stack buffer; the
	// string(b) conversions inside comparisons do not allocate.
	var buf [64]byte
	b := strconv.AppendFloat(buf[:0], n, 'f', -1, 64)
	switch t.Op {
	case OpEq:
		return string(b) == t.Value
	case OpNe:
		return string(b) != t.Value
	case OpLt:
		return string(b) < t.Value
	case OpGt:
		return string(b) > t.Value
	case OpLe:
		return string(b) <= t.Value
	case OpGe:
		return string(b) >= t.Value
	}
	return false
}

// compare applies op to a and b, numbers and strings alike.
func compare[T cmp.Ordered](op Op, a, b T) bool {
	switch op {
	case OpEq:
		return a == b
	case OpNe:
		return a != b
	case OpLt:
		return a < b
	case OpGt:
		return a > b
	case OpLe:
		return a <= b
	case OpGe:
		return a >= b
	}
	return false
}

// looksNumeric reports whether s is a plain decimal number: optional sign,
// digits with an optional fraction, optional exponent. Hex, "inf", "nan" and
// underscores are strings, so "nan" compares as text like any other word.
func looksNumeric(s string) bool {
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	digits := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
		digits++
	}
	if i < len(s) && s[i] == '.' {
		i++
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
			digits++
		}
	}
	if digits == 0 {
		return false
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		exp := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
			exp++
		}
		if exp == 0 {
			return false
		}
	}
	return i == len(s)
}
