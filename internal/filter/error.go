package filter

import (
	"errors"
	"fmt"
	"regexp/syntax"
	"strings"
	"unicode/utf8"
)

// Error is a filter that cannot be compiled. It names the flag-level kind of
// filter, the text as the user typed it and the 1-based column (in
// characters, not bytes) where the problem starts, so the CLI can print it
// unchanged and a user can find the spot.
type Error struct {
	// Kind names the filter: "fact filter", "class filter", "identity
	// filter", "agent filter", "with filter" or "select".
	Kind string
	// Input is the whole text that was being parsed.
	Input string
	// Column is 1-based and counts characters; len(Input)+1 means the end.
	Column int
	// Reason says what is wrong, such as "expected a term".
	Reason string
	// Found, when set, describes what was found instead of what was
	// expected, such as `"db"` or "end of input".
	Found string
	// Err is the underlying error, a *regexp/syntax.Error for bad regular
	// expressions.
	Err error
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %q: %s at column %d", e.Kind, e.Input, e.Reason, e.Column)
	if e.Found != "" {
		b.WriteString(", found ")
		b.WriteString(e.Found)
	}
	if e.Err != nil {
		b.WriteString(": ")
		var se *syntax.Error
		if errors.As(e.Err, &se) {
			// The regexp package prefixes "error parsing regexp: ",
			// which only repeats our Reason.
			fmt.Fprintf(&b, "%s: `%s`", se.Code, se.Expr)
		} else {
			b.WriteString(e.Err.Error())
		}
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// src is the text being parsed and how to name it in errors. Positions
// passed to its methods are byte offsets into input.
type src struct {
	kind  string
	input string
}

func (s src) errAt(pos int, reason string) *Error {
	return &Error{Kind: s.kind, Input: s.input, Column: s.column(pos), Reason: reason}
}

func (s src) errFound(pos int, reason, found string) *Error {
	e := s.errAt(pos, reason)
	e.Found = found
	return e
}

// column turns a byte offset into a 1-based character column.
func (s src) column(pos int) int {
	pos = min(max(pos, 0), len(s.input))
	return utf8.RuneCountInString(s.input[:pos]) + 1
}
