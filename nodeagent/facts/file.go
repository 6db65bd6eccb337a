package facts

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v4"

	"github.com/pulseops/pulse/internal/config"
)

// File is a YAML or JSON file of facts, chosen by extension (.yaml, .yml,
// .json). Nested maps are kept, so "os.name" style filters reach into them.
// It is re-read on every Gather, so editing the file needs no restart.
type File struct {
	path string
}

// NewFile returns a source reading the fact file at path.
func NewFile(path string) *File { return &File{path: path} }

// Name is "file:" and the path, so a log line says which file failed.
func (f *File) Name() string { return "file:" + f.path }

// Gather reads and parses the file.
func (f *File) Gather(ctx context.Context) (map[string]any, error) {
	b, err := os.ReadFile(f.path)
	if err != nil {
		return nil, fmt.Errorf("read fact file: %w", err)
	}
	return parseFactFile(f.path, b)
}

// parseFactFile parses b as YAML or JSON by the extension of name. The top
// level must be a mapping; an empty file is an empty fact set.
func parseFactFile(name string, b []byte) (map[string]any, error) {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".yaml", ".yml":
		return parseYAMLFacts(name, b)
	case ".json":
		return parseJSONFacts(name, b)
	default:
		return nil, fmt.Errorf("fact file %s: unknown extension %q; use .yaml, .yml or .json", name, filepath.Ext(name))
	}
}

// parseYAMLFacts goes through internal/config so errors read "path:line:
// reason" like every other YAML error pulse prints.
func parseYAMLFacts(name string, b []byte) (map[string]any, error) {
	// Look at the document's shape first: yaml's own "cannot unmarshal
	// !!seq into map[string]interface {}" tells a person nothing.
	var doc yaml.Node
	if err := config.Decode(name, b, &doc); err != nil {
		return nil, err
	}
	if len(doc.Content) == 1 {
		if top := doc.Content[0]; top.Kind != yaml.MappingNode && top.Tag != "!!null" {
			return nil, config.At(name, top, "facts must be a mapping of names to values, got %s", yamlKind(top))
		}
	}
	// Timestamps stay as written: a filter compares "2024-01-02", not
	// Go's rendering of a time.Time.
	keepTimestampsAsStrings(&doc)
	var m map[string]any
	if err := doc.Decode(&m); err != nil {
		// Errors found while decoding (duplicate keys) lack the file name;
		// decoding the bytes again through config gives "path:line:".
		if err2 := config.Decode(name, b, &m); err2 != nil {
			return nil, err2
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return normalizeMap(m), nil
}

func keepTimestampsAsStrings(n *yaml.Node) {
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!timestamp" {
		n.Tag = "!!str"
	}
	for _, c := range n.Content {
		keepTimestampsAsStrings(c)
	}
}

func parseJSONFacts(name string, b []byte) (map[string]any, error) {
	if len(bytes.TrimSpace(b)) == 0 {
		return map[string]any{}, nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, jsonError(name, b, err)
	}
	// A second value after the object is almost always two files pasted
	// together; reject it rather than silently keep half.
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s:%d: unexpected data after the top-level object", name, lineAt(b, dec.InputOffset()))
	}
	return normalizeMap(m), nil
}

// jsonError adds the line to encoding/json's errors, which only carry a byte
// offset, so a person can jump to the mistake.
func jsonError(name string, b []byte, err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Errorf("%s:%d: %w", name, lineAt(b, syn.Offset), err)
	case errors.As(err, &typ):
		return fmt.Errorf("%s:%d: facts must be a JSON object, got %s: %w", name, lineAt(b, typ.Offset), typ.Value, err)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("%s:%d: %w", name, lineAt(b, int64(len(b))), err)
	default:
		return fmt.Errorf("%s: %w", name, err)
	}
}

func yamlKind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("the scalar %q", truncate(n.Value, 40))
	case yaml.AliasNode:
		return "an alias"
	default:
		return "something else"
	}
}

// lineAt is the 1-based line holding byte offset off of b.
func lineAt(b []byte, off int64) int {
	off = min(max(off, 0), int64(len(b)))
	return bytes.Count(b[:off], []byte{'\n'}) + 1
}
