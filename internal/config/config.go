// Package config loads pulse's YAML configuration files strictly: unknown
// keys are errors, and every error names the file and the line.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v4"
)

// Load reads path into v. Unknown keys, type mismatches and syntax errors are
// reported as "path:line: reason".
func Load(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read config: %w", err)
	}
	return Decode(path, b, v)
}

// Decode parses YAML (or JSON, which is YAML) from b into v, naming name in
// errors. Every problem the decoder finds is reported, each as
// "name:line: reason"; one problem is an *Error, several are Errors.
func Decode(name string, b []byte, v any) error {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	err := dec.Decode(v)
	if err == nil || errors.Is(err, io.EOF) {
		return nil // an empty file is an empty config
	}
	var list *yaml.LoadErrors
	if errors.As(err, &list) && len(list.Errors) > 0 {
		var errs Errors
		for _, le := range list.Errors {
			errs = append(errs, loadErrors(name, b, le)...)
		}
		if len(errs) == 1 {
			return errs[0]
		}
		return errs
	}
	var one *yaml.LoadError
	if errors.As(err, &one) {
		if errs := loadErrors(name, b, one); len(errs) > 1 {
			return errs
		}
		return loadErrors(name, b, one)[0]
	}
	return &Error{File: name, Reason: err.Error(), err: err}
}

// loadErrors expands one of the decoder's errors. A custom unmarshaler
// (bus.Config's nats block) reports its own problems as a list with their
// lines; each becomes an Error of its own.
func loadErrors(file string, b []byte, le *yaml.LoadError) Errors {
	//lint:ignore SA1019 the decoder passes an unmarshaler's own error through unchanged, and bus.Config's is a TypeError
	var inner *yaml.TypeError
	if errors.As(le.Unwrap(), &inner) && len(inner.Errors) > 0 {
		var errs Errors
		for _, msg := range inner.Errors {
			line := le.Mark.Line
			if m := linePrefixRE.FindStringSubmatch(msg); m != nil {
				line, _ = strconv.Atoi(m[1])
				msg = msg[len(m[0]):]
			}
			errs = append(errs, &Error{File: file, Line: line, Reason: friendly(msg), err: le})
		}
		return errs
	}
	return Errors{loadError(file, b, le)}
}

var linePrefixRE = regexp.MustCompile(`^line (\d+): `)

// loadError turns one of the decoder's errors into "file:line: reason",
// worded for the person who wrote the file rather than in Go's types. A
// syntax error found at the end of a construct (an unclosed bracket) is
// placed where the construct starts, and one found past the end of the
// input on the file's last line: that is where the unfinished text is.
func loadError(file string, b []byte, le *yaml.LoadError) *Error {
	line, reason := le.Mark.Line, friendly(le.Message)
	if text := bytes.TrimRight(b, " \t\r\n"); le.Mark.Index >= len(text) {
		if last := bytes.Count(text, []byte("\n")) + 1; line > last {
			line = last
		}
	}
	if le.ContextMsg != "" {
		reason += " " + le.ContextMsg
		if le.ContextMark.Line > 0 && le.ContextMark.Line < line {
			line = le.ContextMark.Line
		}
	}
	return &Error{File: file, Line: line, Reason: reason, err: le}
}

var (
	unknownFieldRE = regexp.MustCompile(`^field (\S+) not found in type .+$`)
	kindRE         = regexp.MustCompile(`^cannot (?:construct|unmarshal) !!(map|seq) into (.+)$`)
	constructRE    = regexp.MustCompile("^cannot (?:construct|unmarshal) !!\\w+ `([^`]*)` into (\\S+)$")
)

// friendly rewords the decoder's messages that name Go types.
func friendly(msg string) string {
	if m := unknownFieldRE.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("unknown key %q", m[1])
	}
	if m := kindRE.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("a %s does not fit here (want %s)", map[string]string{"map": "mapping", "seq": "list"}[m[1]], m[2])
	}
	if m := constructRE.FindStringSubmatch(msg); m != nil {
		want := map[string]string{
			"time.Duration": "a duration: write one such as 10s or 500ms",
			"bool":          "true or false",
			"int":           "a whole number", "int64": "a whole number", "int32": "a whole number",
			"uint": "a whole number", "uint64": "a whole number", "uint32": "a whole number",
			"float64": "a number", "float32": "a number",
		}[m[2]]
		if want == "" {
			return fmt.Sprintf("%q does not fit here (%s)", m[1], m[2])
		}
		return fmt.Sprintf("%q is not %s", m[1], want)
	}
	return msg
}

// Error is a configuration error at a place in a file.
type Error struct {
	File   string
	Line   int
	Reason string
	err    error
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Reason)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Reason)
}

func (e *Error) Unwrap() error { return e.err }

// Errors are several problems in one file, one line each, in file order.
// errors.As finds the first *Error through it.
type Errors []*Error

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// At builds an Error for a value found at node, for validation done after
// decoding.
func At(file string, node *yaml.Node, format string, args ...any) *Error {
	line := 0
	if node != nil {
		line = node.Line
	}
	return &Error{File: file, Line: line, Reason: fmt.Sprintf(format, args...)}
}

// Ref is an error about a file or value a config key refers to (a token
// file, an nrpe.cfg, a key): it names the config file, the key's line and
// the key, then the error, which it wraps.
func Ref(file string, doc *yaml.Node, err error, path ...any) *Error {
	e := At(file, Find(doc, path...), "%s: %v", keyPath(path), err)
	e.err = err
	return e
}

// keyPath writes a Find path the way the file spells it: nrpe.config,
// probes[0].file.
func keyPath(path []any) string {
	var b strings.Builder
	for _, p := range path {
		switch k := p.(type) {
		case string:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(k)
		case int:
			fmt.Fprintf(&b, "[%d]", k)
		}
	}
	return b.String()
}

// LoadNode is Load that also returns the parsed document, so validation after
// decoding can point at lines with Find and At.
func LoadNode(path string, v any) (*yaml.Node, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	if err := Decode(path, b, v); err != nil {
		return nil, err
	}
	var doc yaml.Node
	_ = yaml.Unmarshal(b, &doc)
	return &doc, nil
}

// Find walks a document by map keys (string) and sequence indexes (int) and
// returns the node found, or the deepest node reached so an error can still
// point near the problem.
func Find(doc *yaml.Node, path ...any) *yaml.Node {
	n := doc
	if n != nil && n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	for _, p := range path {
		if n == nil {
			return nil
		}
		switch k := p.(type) {
		case string:
			if n.Kind != yaml.MappingNode {
				return n
			}
			var next *yaml.Node
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == k {
					next = n.Content[i+1]
					break
				}
			}
			if next == nil {
				return n
			}
			n = next
		case int:
			if n.Kind != yaml.SequenceNode || k >= len(n.Content) {
				return n
			}
			n = n.Content[k]
		}
	}
	return n
}
