package facts

import (
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestFileGather(t *testing.T) {
	dir := t.TempDir()
	yamlPath := writeFile(t, dir, "facts.yaml", `
role: web
cluster: alpha
cpus: 4
weight: 0.5
tags: [a, b]
os:
  name: debian
  release: {major: "12"}
when: 2024-01-02
1: one
`, 0o644)
	jsonPath := writeFile(t, dir, "facts.json", `{"role": "db", "os": {"name": "alpine"}, "n": 3, "ok": true, "none": null}`, 0o644)
	emptyPath := writeFile(t, dir, "empty.yml", "", 0o644)

	tests := []struct {
		path string
		want map[string]any
	}{
		{yamlPath, map[string]any{
			"role": "web", "cluster": "alpha", "cpus": 4.0, "weight": 0.5, "tags": []any{"a", "b"},
			"os":   map[string]any{"name": "debian", "release": map[string]any{"major": "12"}},
			"when": "2024-01-02", "1": "one",
		}},
		{jsonPath, map[string]any{"role": "db", "os": map[string]any{"name": "alpine"}, "n": 3.0, "ok": true, "none": nil}},
		{emptyPath, map[string]any{}},
	}
	for _, tc := range tests {
		t.Run(filepath.Base(tc.path), func(t *testing.T) {
			f := NewFile(tc.path)
			if f.Name() != "file:"+tc.path {
				t.Errorf("Name = %q", f.Name())
			}
			got, err := f.Gather(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %#v\nwant %#v", got, tc.want)
			}
		})
	}
}

func TestFileErrors(t *testing.T) {
	tests := []struct{ name, content, err string }{
		{"bad.yaml", "role: web\nos:\n  name: [\n", "bad.yaml:3: did not find expected node content while parsing a flow node"},
		{"indent.yml", "a: 1\n b: 2\n", "indent.yml:2: mapping values are not allowed in this context"},
		{"list.yaml", "- a\n- b\n", "list.yaml:1: facts must be a mapping of names to values, got a list"},
		{"scalar.yaml", "\n\nhello\n", `scalar.yaml:3: facts must be a mapping of names to values, got the scalar "hello"`},
		{"dup.yaml", "a: 1\na: 2\n", `dup.yaml:2: mapping key "a" already defined at line 1`},
		{"comma.json", "{\n\"a\": 1,\n}", "comma.json:3: invalid character '}' looking for beginning of object key string"},
		{"array.json", "\n[1]", "array.json:2: facts must be a JSON object, got array: json: cannot unmarshal array into Go value of type map[string]interface {}"},
		{"two.json", "{\"a\":1}\n{}", "two.json:2: unexpected data after the top-level object"},
		{"short.json", "{\n\"a\": ", "short.json:2: unexpected EOF"},
		{"facts.toml", "a = 1", `fact file facts.toml: unknown extension ".toml"; use .yaml, .yml or .json`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseFactFile(tc.name, []byte(tc.content))
			if err == nil || err.Error() != tc.err {
				t.Fatalf("error = %v, want %q (facts %v)", err, tc.err, got)
			}
		})
	}

	// Through the source, the error carries the full path.
	dir := t.TempDir()
	p := writeFile(t, dir, "bad.yaml", "a: 1\n b: 2\n", 0o644)
	_, err := NewFile(p).Gather(context.Background())
	if err == nil || !strings.HasPrefix(err.Error(), p+":2: ") {
		t.Errorf("error = %v, want it to start with %q", err, p+":2: ")
	}
	_, err = NewFile(filepath.Join(dir, "none.json")).Gather(context.Background())
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: error = %v, want fs.ErrNotExist", err)
	}
}

func FuzzParseFactFile(f *testing.F) {
	f.Add("x.yaml", []byte("role: web\nos:\n  name: debian\n"))
	f.Add("x.yaml", []byte("- a\n"))
	f.Add("x.yml", []byte("a: &x [*x]\n"))
	f.Add("x.json", []byte(`{"a": {"b": [1, 2.5, true, null]}}`))
	f.Add("x.json", []byte(`{"a":`))
	f.Fuzz(func(t *testing.T, name string, b []byte) {
		m, err := parseFactFile(name, b)
		if err != nil {
			return
		}
		assertJSONShapes(t, m)
	})
}

// assertJSONShapes fails unless v holds only the types the Source contract
// allows.
func assertJSONShapes(t *testing.T, v any) {
	t.Helper()
	switch x := v.(type) {
	case nil, string, bool, float64:
	case map[string]any:
		for _, e := range x {
			assertJSONShapes(t, e)
		}
	case []any:
		for _, e := range x {
			assertJSONShapes(t, e)
		}
	default:
		t.Fatalf("value %#v of type %T is not JSON-compatible", v, v)
	}
}
