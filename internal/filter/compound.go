package filter

import (
	"fmt"
	"strconv"
)

// maxDepth bounds nesting of parentheses and "not" in -S so that a hostile
// request cannot make every agent recurse a million levels deep.
const maxDepth = 64

// node is one part of a compiled -S expression.
type node interface {
	eval(t *Target) bool
}

type andNode []node

func (n andNode) eval(t *Target) bool {
	for _, c := range n {
		if !c.eval(t) {
			return false
		}
	}
	return true
}

type orNode []node

func (n orNode) eval(t *Target) bool {
	for _, c := range n {
		if c.eval(t) {
			return true
		}
	}
	return false
}

type notNode struct{ n node }

func (n notNode) eval(t *Target) bool { return !n.n.eval(t) }

type factNode struct{ f *FactTerm }

func (n factNode) eval(t *Target) bool { return n.f.Match(t.Facts) }

type classNode struct{ m nameMatcher }

func (n classNode) eval(t *Target) bool { return n.m.matchAny(t.Classes) }

type tokKind uint8

const (
	tokEOF tokKind = iota
	tokLParen
	tokRParen
	tokAnd
	tokOr
	tokNot
	tokTerm // a fact term or class; token.node holds it
)

type token struct {
	kind tokKind
	pos  int // byte offset of the first character
	text string
	node node
}

// found describes a token for "found ..." in errors.
func (t token) found() string {
	if t.kind == tokEOF {
		return "end of input"
	}
	return strconv.Quote(t.text)
}

// parser is a recursive-descent parser for -S with one token of lookahead.
// The grammar, loosest first:
//
//	or   = and { "or" and }
//	and  = not { "and" not }
//	not  = ( "not" | "!" ) not | prim
//	prim = "(" or ")" | fact-term | class | /class-regex/
//
// Tokens are read lazily so that errors come out in the order of the text.
type parser struct {
	s      src
	pos    int
	peeked *token
}

// parseCompound compiles a -S expression.
func parseCompound(expr string) (node, error) {
	p := &parser{s: src{kind: "select", input: expr}}
	n, err := p.or(0)
	if err != nil {
		return nil, err
	}
	t, err := p.next()
	if err != nil {
		return nil, err
	}
	switch t.kind {
	case tokEOF:
		return n, nil
	case tokRParen:
		return nil, p.s.errAt(t.pos, `unmatched ")"`)
	}
	return nil, p.s.errFound(t.pos, `expected "and", "or" or end of input`, t.found())
}

func (p *parser) peek() (token, error) {
	if p.peeked == nil {
		t, err := p.lex()
		if err != nil {
			return token{}, err
		}
		p.peeked = &t
	}
	return *p.peeked, nil
}

func (p *parser) next() (token, error) {
	t, err := p.peek()
	p.peeked = nil
	return t, err
}

func (p *parser) or(depth int) (node, error) {
	return p.list(depth, tokOr, p.and, func(ns []node) node { return orNode(ns) })
}

func (p *parser) and(depth int) (node, error) {
	return p.list(depth, tokAnd, p.not, func(ns []node) node { return andNode(ns) })
}

// list parses sub { sep sub }, flattening the result into one node.
func (p *parser) list(depth int, sep tokKind, sub func(int) (node, error), join func([]node) node) (node, error) {
	first, err := sub(depth)
	if err != nil {
		return nil, err
	}
	ns := []node{first}
	for {
		t, err := p.peek()
		if err != nil {
			return nil, err
		}
		if t.kind != sep {
			break
		}
		p.next()
		n, err := sub(depth)
		if err != nil {
			return nil, err
		}
		ns = append(ns, n)
	}
	if len(ns) == 1 {
		return first, nil
	}
	return join(ns), nil
}

func (p *parser) not(depth int) (node, error) {
	t, err := p.peek()
	if err != nil {
		return nil, err
	}
	if t.kind != tokNot {
		return p.prim(depth)
	}
	p.next()
	if depth >= maxDepth {
		return nil, p.s.errAt(t.pos, fmt.Sprintf("expression nested more than %d deep", maxDepth))
	}
	n, err := p.not(depth + 1)
	if err != nil {
		return nil, err
	}
	return notNode{n}, nil
}

func (p *parser) prim(depth int) (node, error) {
	t, err := p.next()
	if err != nil {
		return nil, err
	}
	switch t.kind {
	case tokTerm:
		return t.node, nil
	case tokLParen:
		if depth >= maxDepth {
			return nil, p.s.errAt(t.pos, fmt.Sprintf("expression nested more than %d deep", maxDepth))
		}
		n, err := p.or(depth + 1)
		if err != nil {
			return nil, err
		}
		c, err := p.next()
		if err != nil {
			return nil, err
		}
		switch c.kind {
		case tokRParen:
			return n, nil
		case tokEOF:
			return nil, p.s.errAt(t.pos, `unclosed "("`)
		}
		return nil, p.s.errFound(c.pos, `expected "and", "or" or ")"`, c.found())
	}
	return nil, p.s.errFound(t.pos, "expected a term", t.found())
}

// lex reads the next token. Words are split at spaces and parentheses, but
// a fact value keeps parentheses it opens itself ("role=~^(web|db)$") and a
// /regex/ runs to its closing slash, spaces and parentheses included.
func (p *parser) lex() (token, error) {
	in := p.s.input
	for p.pos < len(in) && isSpace(in[p.pos]) {
		p.pos++
	}
	start := p.pos
	if start == len(in) {
		return token{kind: tokEOF, pos: start}, nil
	}
	switch c := in[start]; {
	case c == '(':
		p.pos++
		return token{kind: tokLParen, pos: start, text: "("}, nil
	case c == ')':
		p.pos++
		return token{kind: tokRParen, pos: start, text: ")"}, nil
	case c == '!' && (start+1 == len(in) || in[start+1] != '='):
		p.pos++
		return token{kind: tokNot, pos: start, text: "!"}, nil
	case c == '/':
		end, ok := regexEnd(in, start)
		if !ok {
			return token{}, p.s.errAt(start, `unterminated /regex/, missing the closing "/"`)
		}
		p.pos = end
		m, err := parseName(p.s, start, end)
		if err != nil {
			return token{}, err
		}
		return token{kind: tokTerm, pos: start, text: in[start:end], node: classNode{m}}, nil
	}
	for p.pos < len(in) && !isSpace(in[p.pos]) && in[p.pos] != '(' && in[p.pos] != ')' && !isOpChar(in[p.pos]) {
		p.pos++
	}
	if p.pos == len(in) || !isOpChar(in[p.pos]) {
		word := in[start:p.pos]
		switch word {
		case "and":
			return token{kind: tokAnd, pos: start, text: word}, nil
		case "or":
			return token{kind: tokOr, pos: start, text: word}, nil
		case "not":
			return token{kind: tokNot, pos: start, text: word}, nil
		}
		return token{kind: tokTerm, pos: start, text: word, node: classNode{nameMatcher{exact: word}}}, nil
	}
	p.pos = opRunEnd(in, p.pos, len(in))
	p.pos = valueEnd(in, p.pos)
	f, err := parseFact(p.s, start, p.pos)
	if err != nil {
		return token{}, err
	}
	return token{kind: tokTerm, pos: start, text: in[start:p.pos], node: factNode{f}}, nil
}

// valueEnd finds where a fact value starting at at ends in a -S expression.
func valueEnd(in string, at int) int {
	if at < len(in) && in[at] == '/' {
		if end, ok := regexEnd(in, at); ok && (end == len(in) || isSpace(in[end]) || in[end] == ')') {
			return end
		}
	}
	depth := 0
	i := at
	for ; i < len(in) && !isSpace(in[i]); i++ {
		switch in[i] {
		case '(':
			depth++
		case ')':
			if depth == 0 {
				return i
			}
			depth--
		}
	}
	return i
}

// regexEnd returns the offset just past the slash closing the /regex/ that
// starts at at, skipping backslash escapes.
func regexEnd(in string, at int) (int, bool) {
	for i := at + 1; i < len(in); i++ {
		switch in[i] {
		case '\\':
			i++
		case '/':
			return i + 1, true
		}
	}
	return 0, false
}
