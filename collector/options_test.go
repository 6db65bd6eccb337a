package collector

import (
	"strings"
	"testing"
)

func TestNewRejectsBadOptions(t *testing.T) {
	conn := unconnected()
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"no conn", Options{Collective: "c"}, "collector: Options.Conn is nil: connect to NATS first and pass the connection"},
		{"bad collective", Options{Conn: conn, Collective: "a.b"}, `collector: collective "a.b" is not a valid name: use letters, digits, - and _ only`},
		{"space collective", Options{Conn: conn, Collective: "a b"}, `collector: collective "a b" is not a valid name: use letters, digits, - and _ only`},
		{"slash collective", Options{Conn: conn, Collective: "a/b"}, `collector: collective "a/b" is not a valid name: use letters, digits, - and _ only`},
		{"negative", Options{Conn: conn, Collective: "c", MaxSeries: -1}, "collector: MaxSeries is -1: it must be positive, or 0 for the default 500000"},
		{"rule without fact", Options{Conn: conn, Collective: "c", Labels: []LabelRule{{Label: "x"}}}, "collector: label rule 1 has no fact: name the fact to turn into a label"},
		{"reserved label", Options{Conn: conn, Collective: "c", Labels: []LabelRule{{Fact: "hostname", Label: "identity"}}}, `collector: label "identity" for fact "hostname" is a label the collector sets itself: choose another label name`},
		{"double underscore", Options{Conn: conn, Collective: "c", Labels: []LabelRule{{Fact: "__x"}}}, `collector: label "__x" for fact "__x" starts with __, which Prometheus reserves: choose another label name`},
		{"duplicate label", Options{Conn: conn, Collective: "c", Labels: []LabelRule{{Fact: "os.name", Label: "os"}, {Fact: "os"}}}, `collector: label "os" is given to both fact "os.name" and fact "os": give each its own label name`},
		{"sanitised duplicate", Options{Conn: conn, Collective: "c", Labels: []LabelRule{{Fact: "a-b"}, {Fact: "a.b"}}}, `collector: label "a_b" is given to both fact "a-b" and fact "a.b": give each its own label name`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.opts)
			if err == nil || err.Error() != tt.want {
				t.Fatalf("New error = %v\nwant %s", err, tt.want)
			}
		})
	}
}

func TestNewDefaults(t *testing.T) {
	c, err := New(Options{Conn: unconnected(), Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	o := c.opts
	if o.Collective != "pulse" || o.MaxLabelValues != 1000 || o.MaxSeries != 500000 || o.HeartbeatMisses != 3 || o.StaleIntervals != 3 || o.MaxOutputBytes != 4096 || o.Replicas != 1 {
		t.Fatalf("defaults not applied: %+v", o)
	}
	var got []string
	for _, r := range c.rules {
		got = append(got, r.fact+"->"+r.label)
	}
	want := "ec2_placement_availability_zone->az role->role cluster->cluster"
	if s := join(got); s != want {
		t.Fatalf("default labels = %s, want %s", s, want)
	}
}

func join(s []string) string { return strings.Join(s, " ") }

func TestSanitizeLabel(t *testing.T) {
	for in, want := range map[string]string{
		"role":          "role",
		"os.name":       "os_name",
		"9lives":        "_9lives",
		"a-b c":         "a_b_c",
		"ünïcode":       "_n_code",
		"ec2_placement": "ec2_placement",
		"":              "",
	} {
		if got := sanitizeLabel(in); got != want {
			t.Errorf("sanitizeLabel(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestLookupFactAndValue(t *testing.T) {
	facts := map[string]any{
		"role":    "web",
		"os.name": "flat wins",
		"os":      map[string]any{"name": "debian", "release": map[string]any{"major": float64(12)}},
		"cpus":    float64(4),
		"virtual": false,
		"list":    []any{"a"},
	}
	tests := []struct{ path, want string }{
		{"role", "web"},
		{"os.name", "flat wins"},
		{"os.release.major", "12"},
		{"cpus", "4"},
		{"virtual", "false"},
		{"list", ""},
		{"missing", ""},
		{"role.deeper", ""},
	}
	for _, tt := range tests {
		got := ""
		if v, ok := lookupFact(facts, tt.path); ok {
			got = factLabelValue(v)
		}
		if got != tt.want {
			t.Errorf("fact %q = %q, want %q", tt.path, got, tt.want)
		}
	}
}

func TestTruncateUTF8(t *testing.T) {
	for _, tt := range []struct {
		in   string
		n    int
		want string
	}{
		{"hello", 10, "hello"},
		{"hello", 3, "hel"},
		{"héllo", 2, "h"}, // é is two bytes: never split it
		{"héllo", 3, "hé"},
		{"", 0, ""},
	} {
		if got := truncateUTF8(tt.in, tt.n); got != tt.want {
			t.Errorf("truncateUTF8(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
}
