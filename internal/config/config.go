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

	"go.yaml.in/yaml/v3"
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
// errors.
func Decode(name string, b []byte, v any) error {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // an empty file is an empty config
		}
		return &Error{File: name, Line: lineOf(err), Reason: reasonOf(err), err: err}
	}
	return nil
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

// At builds an Error for a value found at node, for validation done after
// decoding.
func At(file string, node *yaml.Node, format string, args ...any) *Error {
	line := 0
	if node != nil {
		line = node.Line
	}
	return &Error{File: file, Line: line, Reason: fmt.Sprintf(format, args...)}
}

var (
	lineRE   = regexp.MustCompile(`line (\d+): `)
	prefixRE = regexp.MustCompile(`^yaml: (unmarshal errors:\n\s*)?`)
)

func lineOf(err error) int {
	m := lineRE.FindStringSubmatch(err.Error())
	if m == nil {
		return 0
	}
	n := 0
	fmt.Sscanf(m[1], "%d", &n)
	return n
}

func reasonOf(err error) string {
	s := err.Error()
	s = prefixRE.ReplaceAllString(s, "")
	return lineRE.ReplaceAllString(s, "")
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
