package collector

import (
	"regexp"
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzIngest feeds arbitrary bytes as registrations and results on arbitrary
// subject tokens. Whatever arrives, the collector must not panic and its
// registry must still gather cleanly: no duplicate series, no invalid UTF-8.
func FuzzIngest(f *testing.F) {
	// seed wraps a body in an unsigned envelope as an agent sends it.
	seed := func(kind, from, body string) []byte {
		return []byte(`{"pulse":1,"kind":"` + kind + `","from":"` + from + `","time":"2025-06-01T12:00:00Z","boot":"b","seq":3,"body":` + body + `}`)
	}
	f.Add(true, "web-1", "check_load", seed("result", "web-1", `{"kind":"check","name":"check_load","status":2,"perfdata":[{"label":"a","value":1,"uom":"ms"},{"label":"a","value":2}],"runs":{"OK":1,"BOGUS":2}}`))
	f.Add(true, "web-1", "login", seed("result", "web-1", `{"kind":"probe","name":"login","steps":[{"name":"s","phases":{"total":1,"":2,"dns":0.1}},{"name":"s"}]}`))
	f.Add(false, "web-1", "", seed("registration", "web-1", `{"facts":{"role":"w\xffeb","cluster":{"x":1},"ec2_placement_availability_zone":7},"interval":-5}`))
	f.Add(false, "db-1", "", seed("registration", "web-1", `{}`))
	f.Add(true, "\xff", "x", []byte(`null`))
	f.Add(true, "a", "b", seed("result", "a", `{"kind":"check","name":"b","output":"\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9"}`))
	f.Add(false, "web-1", "", []byte(`{"identity":"web-1","facts":{}}`)) // the old, unversioned form
	f.Fuzz(func(t *testing.T, result bool, id, name string, data []byte) {
		c, _, _ := newDirect(t, func(o *Options) { o.MaxOutputBytes = 5; o.MaxSeries = 40; o.MaxLabelValues = 2 })
		subject := c.subj.Registry(id)
		if result {
			subject = c.subj.Results(id, name)
		}
		c.handle(subject, data, t0)
		series := c.state.series
		c.handle(subject, data, t0.Add(time.Second)) // the same again changes nothing
		if c.state.series != series {
			t.Fatalf("the same %q on %q again changed the admitted series from %d to %d", data, subject, series, c.state.series)
		}
		if _, err := c.Registry().Gather(); err != nil {
			t.Fatalf("gather after %q on %q: %v", data, subject, err)
		}
		for _, n := range c.Nodes() {
			for _, ch := range n.Checks {
				if len(ch.Output) > 5 || !utf8.ValidString(ch.Output) {
					t.Fatalf("output %q escaped the limit or is not UTF-8", ch.Output)
				}
			}
		}
		if c.state.series > 40 {
			t.Fatalf("series budget exceeded: %d", c.state.series)
		}
	})
}

var labelName = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// FuzzLabels checks that any fact path becomes a valid label name and any
// fact value a bounded, valid label value.
func FuzzLabels(f *testing.F) {
	f.Add("ec2_placement_availability_zone", "eu-west-1a")
	f.Add("9os.name", "\xff\xfe")
	f.Add("ü-ber", "x")
	f.Fuzz(func(t *testing.T, path, value string) {
		if path != "" {
			if l := sanitizeLabel(path); !labelName.MatchString(l) {
				t.Fatalf("sanitizeLabel(%q) = %q, not a label name", path, l)
			}
		}
		v := factLabelValue(value)
		if !utf8.ValidString(v) || len(v) > maxLabelValueBytes {
			t.Fatalf("factLabelValue(%q) = %q", value, v)
		}
	})
}
