package api

import (
	"fmt"
	"net/url"
	"testing"

	"github.com/pulseops/pulse/internal/filter"
)

func TestSpecFromQuery(t *testing.T) {
	tests := []struct {
		query string
		want  filter.Spec
		err   string
	}{
		{query: "", want: filter.Spec{}},
		{query: "filter=role%3Dweb+cluster%3Dalfa+webserver", want: filter.Spec{Fact: []string{"role=web", "cluster=alfa"}, Class: []string{"webserver"}}},
		{query: "filter=role%3Dweb&filter=az%3Da&fact=cpus>2&identity=/web/&agent=nrpe&class=x", want: filter.Spec{Fact: []string{"cpus>2", "role=web", "az=a"}, Class: []string{"x"}, Identity: []string{"/web/"}, Agent: []string{"nrpe"}}},
		{query: "select=role%3Dweb+and+not+x", want: filter.Spec{Compound: "role=web and not x"}},
		{query: "compound=x", want: filter.Spec{Compound: "x"}},
		{query: "select=a&compound=b", err: "both select and compound are set: they are the same -S expression, send one"},
		{query: "filter=+", err: `with filter " ": expected a fact term or class at column 2, found end of input`},
		{query: "identity=/(/", err: "identity filter \"/(/\": invalid regular expression at column 1: missing closing ): `(`"},
	}
	for _, tt := range tests {
		q, err := url.ParseQuery(tt.query)
		if err != nil {
			t.Fatal(err)
		}
		got, _, err := SpecFromQuery(q)
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("%s: error\n got %v\nwant %s", tt.query, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tt.query, err)
			continue
		}
		if fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("%s: got %+v, want %+v", tt.query, got, tt.want)
		}
	}
}

// FuzzSpecFromQuery feeds raw query strings, as browsers and pulse watch
// send them: a spec that is returned must compile, nothing may panic.
func FuzzSpecFromQuery(f *testing.F) {
	for _, s := range []string{"", "filter=role%3Dweb", "select=(a+or+b)+and+not+c%3D1", "filter=%2F(%2F", "fact=x=~/a/&identity=y", "select=a&compound=b", "filter=a<=%22"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		spec, _, err := SpecFromQuery(q)
		if err != nil {
			return
		}
		if _, err := filter.Compile(spec); err != nil {
			t.Fatalf("SpecFromQuery(%q) returned %+v, which does not compile: %v", raw, spec, err)
		}
	})
}
