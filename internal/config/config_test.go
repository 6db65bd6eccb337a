package config

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v4"
)

type sample struct {
	Name     string        `yaml:"name"`
	Interval time.Duration `yaml:"interval"`
	Items    []struct {
		ID int `yaml:"id"`
	} `yaml:"items"`
}

func TestDecodeErrorsNameFileAndLine(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"name: a\nbogus: 1\n", `f.yaml:2: unknown key "bogus"`},
		{"name: a\ninterval: soon\n", `f.yaml:2: "soon" is not a duration: write one such as 10s or 500ms`},
		{"items:\n  - id: x\n", `f.yaml:2: "x" is not a whole number`},
		{"items: {id: 1}\n", `f.yaml:1: a mapping does not fit here (want []struct { ID int "yaml:\"id\"" })`},
		{"name: [\n", "f.yaml:1: did not find expected node content while parsing a flow node"},
		{"items:\n  - id: 1\n  - [id\n", "f.yaml:3: did not find expected ',' or ']' while parsing a flow sequence"},
		// Every problem, each with its line, not only the first.
		{"name: a\nbogus: 1\ninterval: soon\nitems:\n  - id: x\n  - idd: 2\n", strings.Join([]string{
			`f.yaml:2: unknown key "bogus"`,
			`f.yaml:3: "soon" is not a duration: write one such as 10s or 500ms`,
			`f.yaml:5: "x" is not a whole number`,
			`f.yaml:6: unknown key "idd"`,
		}, "\n")},
	} {
		var s sample
		err := Decode("f.yaml", []byte(tc.in), &s)
		if err == nil || err.Error() != tc.want {
			t.Errorf("%q: got %v, want %s", tc.in, err, tc.want)
		}
	}
	// Several errors are still found as a *config.Error (the first).
	var ce *Error
	if err := Decode("f.yaml", []byte("bogus: 1\nother: 2\n"), &sample{}); !errors.As(err, &ce) || ce.Line != 1 {
		t.Fatalf("errors.As(%v) = %+v, want the first error at line 1", err, ce)
	}
	var s sample
	if err := Decode("empty.yaml", nil, &s); err != nil {
		t.Fatalf("an empty file is an empty config: %v", err)
	}
}

func TestFindPointsAtLines(t *testing.T) {
	var s sample
	doc, err := decodeNode("name: a\nitems:\n  - id: 1\n  - id: 2\n", &s)
	if err != nil {
		t.Fatal(err)
	}
	if n := Find(doc, "items", 1, "id"); n == nil || n.Line != 4 {
		t.Fatalf("items[1].id at line %v, want 4", n)
	}
	if e := At("f.yaml", Find(doc, "name"), "bad %s", "name"); e.Error() != "f.yaml:1: bad name" {
		t.Fatalf("At: %q", e.Error())
	}
}

// TestRefNamesKeyAndLine: an error about a referenced file names the
// config file, the key's line and the key, and wraps the cause.
func TestRefNamesKeyAndLine(t *testing.T) {
	var s sample
	doc, err := decodeNode("name: a\nitems:\n  - id: 1\n", &s)
	if err != nil {
		t.Fatal(err)
	}
	cause := os.ErrNotExist
	e := Ref("f.yaml", doc, fmt.Errorf("open /etc/x: %w", cause), "items", 0, "id")
	if e.Error() != "f.yaml:3: items[0].id: open /etc/x: file does not exist" || !errors.Is(e, cause) {
		t.Fatalf("Ref = %q (wraps the cause: %v)", e, errors.Is(e, cause))
	}
}

func TestResolvePrecedence(t *testing.T) {
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	a := fs.String("from-flag", "default", "")
	b := fs.String("from-env", "default", "")
	c := fs.String("from-file", "default", "")
	d := fs.String("untouched", "default", "")
	if err := fs.Parse([]string{"--from-flag", "flag"}); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PULSE_FROM_FLAG", "env")
	t.Setenv("PULSE_FROM_ENV", "env")
	file := map[string]string{"from-flag": "file", "from-env": "file", "from-file": "file"}
	if err := Resolve(fs, "PULSE", file); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join([]string{*a, *b, *c, *d}, " "); got != "flag env file default" {
		t.Fatalf("got %q, want flag env file default", got)
	}
	fs2 := pflag.NewFlagSet("t", pflag.ContinueOnError)
	fs2.Duration("timeout", time.Second, "")
	t.Setenv("PULSE_TIMEOUT", "soon")
	if err := Resolve(fs2, "PULSE", nil); err == nil || !strings.Contains(err.Error(), `environment PULSE_TIMEOUT="soon"`) {
		t.Fatalf("bad env value: %v", err)
	}
}

func decodeNode(in string, v any) (*yaml.Node, error) {
	if err := Decode("f.yaml", []byte(in), v); err != nil {
		return nil, err
	}
	var doc yaml.Node
	err := yaml.Unmarshal([]byte(in), &doc)
	return &doc, err
}
