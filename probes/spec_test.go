package probes

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pulseops/pulse/internal/config"
)

var update = flag.Bool("update", false, "rewrite testdata/invalid/*.err from the current errors")

// TestInvalidSpecs pairs every file in testdata/invalid with the exact error
// it must give, in the .err file beside it.
func TestInvalidSpecs(t *testing.T) {
	files, err := filepath.Glob("testdata/invalid/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no invalid specs found: %v", err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".yaml"), func(t *testing.T) {
			_, err := Load(file)
			if err == nil {
				t.Fatalf("Load(%s) succeeded; want an error", file)
			}
			var ce *config.Error
			if !errors.As(err, &ce) || ce.Line == 0 {
				t.Errorf("Load(%s) error %q is not a config.Error with a line", file, err)
			}
			golden := strings.TrimSuffix(file, ".yaml") + ".err"
			if *update {
				if err := os.WriteFile(golden, []byte(err.Error()+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, rerr := os.ReadFile(golden)
			if rerr != nil {
				t.Fatalf("read golden error (run go test -update to create it): %v", rerr)
			}
			if got := err.Error(); got != strings.TrimSuffix(string(want), "\n") {
				t.Errorf("Load(%s) error\n got: %s\nwant: %s", file, got, want)
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load("testdata/nope.yaml")
	if !errors.Is(err, os.ErrNotExist) || err.Error() != "read probe file: open testdata/nope.yaml: no such file or directory" {
		t.Fatalf("Load of a missing file: %v", err)
	}
}

func TestLoadLoginExample(t *testing.T) {
	p, err := Load("login.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "login" || p.Type != "http" || p.Interval != 10*time.Second || p.Timeout != 5*time.Second {
		t.Errorf("header fields: %+v", p)
	}
	if len(p.steps) != 2 || p.steps[0].name != "login_page" || p.steps[1].name != "submit" {
		t.Fatalf("steps: %+v", p.steps)
	}
	sub := p.steps[1]
	if sub.method != "POST" || !sub.followRedirects || sub.timeout != 2*time.Second || sub.expect.status != 200 {
		t.Errorf("submit step: %+v", sub)
	}
	if len(p.steps[0].extract) != 1 || p.steps[0].extract[0].name != "csrf" || p.steps[0].extract[0].re == nil {
		t.Errorf("login_page extract: %+v", p.steps[0].extract)
	}
}

func TestDefaults(t *testing.T) {
	p, err := Parse("d.yaml", []byte("name: d\ntype: http\nsteps: [{name: s, url: 'http://x/', follow_redirects: false}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if p.Interval != DefaultInterval || p.Timeout != DefaultTimeout || p.steps[0].method != "GET" || p.steps[0].followRedirects {
		t.Fatalf("defaults not applied as expected: %+v %+v", p, p.steps[0])
	}
}

func TestWithVars(t *testing.T) {
	p, err := Load("login.yaml")
	if err != nil {
		t.Fatal(err)
	}
	q := p.WithVars(map[string]string{"base_url": "http://shop.internal", "extra": "x"})
	if got := p.Vars()["base_url"]; got != "http://127.0.0.1:9781" {
		t.Errorf("WithVars changed the original: base_url %q", got)
	}
	want := map[string]string{"base_url": "http://shop.internal", "user": "alice", "password": "wonderland", "extra": "x"}
	if got := q.Vars(); !reflect.DeepEqual(got, want) {
		t.Errorf("WithVars vars = %v, want %v", got, want)
	}
}

// TestParseJSONPath: RFC 9535 queries that select one value parse; the
// rest are refused with the position or the segment at fault.
func TestParseJSONPath(t *testing.T) {
	tests := []struct{ in, err string }{
		{in: "$"},
		{in: "$.user.name"},
		{in: "$['user.name']"},
		{in: `$["user"]["name"]`},
		{in: "$.a.b[0].c"},
		{in: "$.items[-1]"},
		{in: "$[2][10]"},
		{in: "user.name", err: `unexpected identifier at position 1; a path starts with "$", as in $.user.name`},
		{in: "", err: `unexpected end of input at position 1; a path starts with "$", as in $.user.name`},
		{in: "$.a[", err: "unexpected eof at position 5"},
		{in: "$.a[x]", err: "unexpected identifier at position 5"},
		{in: "$a", err: "unexpected identifier at position 1"},
		{in: "$..name", err: "segment 1 (..[\"name\"]) selects any number of values; a probe needs one: use names and indexes only, as in $.user.name, $['user.name'] or $.items[-1]"},
		{in: "$.a[*]", err: "segment 2 ([*]) selects any number of values; a probe needs one: use names and indexes only, as in $.user.name, $['user.name'] or $.items[-1]"},
		{in: "$.a[1:2]", err: "segment 2 ([1:2]) selects any number of values; a probe needs one: use names and indexes only, as in $.user.name, $['user.name'] or $.items[-1]"},
		{in: "$.a['b','c']", err: `segment 2 (["b","c"]) selects any number of values; a probe needs one: use names and indexes only, as in $.user.name, $['user.name'] or $.items[-1]`},
		{in: "$.a[?@.b]", err: "segment 2 ([?@[\"b\"]]) selects any number of values; a probe needs one: use names and indexes only, as in $.user.name, $['user.name'] or $.items[-1]"},
	}
	for _, tt := range tests {
		jp, err := parseJSONPath(tt.in)
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("parseJSONPath(%q) error %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || jp.path == nil {
			t.Errorf("parseJSONPath(%q) = %v", tt.in, err)
		}
	}
}

func TestJSONPathEval(t *testing.T) {
	doc := map[string]any{
		"user":      map[string]any{"name": "Alice", "roles": []any{"admin", "ops"}},
		"user.name": "dotted",
		"items":     []any{1.0, 2.0, 3.0},
	}
	tests := []struct {
		path string
		want any
		err  string
	}{
		{"$.user.name", "Alice", ""},
		{"$['user.name']", "dotted", ""},
		{"$.user.roles[0]", "admin", ""},
		{"$.user.roles[-1]", "ops", ""},
		{"$.items[-3]", 1.0, ""},
		{"$.items[-4]", nil, `$["items"] has 3 elements, no index -4`},
		{"$.user.roles[2]", nil, `$["user"]["roles"] has 2 elements, no index 2`},
		{"$.user.email", nil, `$["user"] has no key "email"`},
		{"$.user.name.first", nil, `$["user"]["name"] is a string, not an object`},
		{"$.user[0]", nil, `$["user"] is an object, not an array`},
	}
	for _, tt := range tests {
		jp, err := parseJSONPath(tt.path)
		if err != nil {
			t.Fatal(err)
		}
		got, err := jp.eval(doc)
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("eval %s: error %v, want %q", tt.path, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("eval %s = %v, %v; want %v", tt.path, got, err, tt.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, pattern := range []string{"login.yaml", "testdata/invalid/*.yaml"} {
		files, _ := filepath.Glob(pattern)
		for _, file := range files {
			b, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	f.Add([]byte("name: t\ntype: tcp\ntarget: 127.0.0.1:1\ntcp: {send: x, expect_regex: y}\n"))
	f.Add([]byte("name: d\ntype: dns\ntarget: x.\ndns: {server: '::1', record: txt}\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Parse("fuzz.yaml", b)
		if err != nil {
			var ce *config.Error
			if !errors.As(err, &ce) {
				t.Fatalf("Parse error %q (%T) is not a config.Error", err, err)
			}
			return
		}
		if p.Name == "" || p.Interval <= 0 || p.Timeout <= 0 || p.Timeout > p.Interval {
			t.Fatalf("Parse accepted an invalid probe: %+v", p)
		}
		switch p.Type {
		case "http":
			if len(p.steps) == 0 {
				t.Fatal("Parse accepted an http probe without steps")
			}
		case "tcp":
			if p.tcp == nil || p.tcp.target == "" {
				t.Fatal("Parse accepted a tcp probe without a target")
			}
		case "dns":
			if p.dns == nil || p.dns.name == "" {
				t.Fatal("Parse accepted a dns probe without a target")
			}
		default:
			t.Fatalf("Parse accepted type %q", p.Type)
		}
	})
}

func FuzzParseJSONPath(f *testing.F) {
	for _, s := range []string{"$", "$.a.b[0].c", "$[1]", "$..", "$.a[", "x", "$['a.b'][-1]", "$[?@.a]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		jp, err := parseJSONPath(s)
		if err != nil {
			return
		}
		// A parsed path selects one value at most, and evaluating it
		// against any document must not panic.
		if jp.path.Query().Singular() == nil {
			t.Fatalf("%q parsed but may select several values", s)
		}
		_, _ = jp.eval(map[string]any{"a": []any{1.0, map[string]any{"b": nil}}})
	})
}
