package filter

import (
	"errors"
	"testing"
	"unicode/utf8"
)

// checkErr fails unless err is nil or a well-formed *Error about input.
func checkErr(t *testing.T, err error, kind, input string) {
	t.Helper()
	if err == nil {
		return
	}
	var fe *Error
	if !errors.As(err, &fe) {
		t.Fatalf("error for %q is %T, want *Error: %v", input, err, err)
	}
	if fe.Kind != kind || fe.Input != input {
		t.Fatalf("error for %q names %s %q", input, fe.Kind, fe.Input)
	}
	if fe.Column < 1 || fe.Column > utf8.RuneCountInString(input)+1 {
		t.Fatalf("error for %q has column %d outside the input: %v", input, fe.Column, err)
	}
	if fe.Reason == "" {
		t.Fatalf("error for %q has no reason", input)
	}
}

func FuzzCompile(f *testing.F) {
	seeds := []struct{ compound, fact, name string }{
		{"(role=web or role=server) and not cluster=beta", "role=web", "web1"},
		{"role=~^(web|db)$ and /nginx/", "cpus>=2", "/^web/"},
		{"! base or (kernel=/^6 |x/)", "os.name=~/^Deb/", "//"},
		{"role=web and (", "role=~(", "/(/"},
		{"((((base))))", "a== =b", ""},
		{"not not not x=1.5e3", "x<=-1", "é"},
		{"role=web)", "=web", "/a/b/"},
		{"roles!=web or tags=eu", "roles=/c/", "rpcutil"},
	}
	for _, s := range seeds {
		f.Add(s.compound, s.fact, s.name)
	}
	target := web1()
	f.Fuzz(func(t *testing.T, compound, fact, name string) {
		for _, s := range []struct {
			kind, input string
			spec        Spec
		}{
			{"select", compound, Spec{Compound: compound}},
			{"fact filter", fact, Spec{Fact: []string{fact}}},
			{"class filter", name, Spec{Class: []string{name}}},
			{"identity filter", name, Spec{Identity: []string{name}}},
			{"agent filter", name, Spec{Agent: []string{name}}},
		} {
			flt, err := Compile(s.spec)
			checkErr(t, err, s.kind, s.input)
			if err != nil {
				continue
			}
			got := flt.Match(target)
			flt.Match(nil)
			flt.Match(&Target{Facts: map[string]any{"x": []any{nil, map[string]any{}, []any{1}}}})
			if s.kind == "select" && compound != "" {
				// Negating a compiled expression must compile (unless
				// that nests too deep) and invert the result.
				neg, err := Compile(Spec{Compound: "not (" + compound + ")"})
				if err == nil && neg.Match(target) == got {
					t.Fatalf("not (%s) gave the same result %v", compound, got)
				}
			}
		}
		if ft, err := ParseFactTerm(fact); err == nil {
			again, err := ParseFactTerm(ft.String())
			if err != nil {
				t.Fatalf("String() of %q is %q, which does not parse: %v", fact, ft.String(), err)
			}
			if again.Name != ft.Name || again.Op != ft.Op || again.Value != ft.Value {
				t.Fatalf("%q -> %q -> %q changed the term", fact, ft.String(), again.String())
			}
		}
	})
}

func FuzzAddWith(f *testing.F) {
	for _, s := range []string{
		"ec2_placement_availability_zone=eu-west-1a role=web",
		"base /^profile::/ cpus>=2",
		"role=~( base",
		"",
		"/a=b/ =x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		var s Spec
		err := s.AddWith(expr)
		checkErr(t, err, "with filter", expr)
		if err != nil {
			if !s.Empty() {
				t.Fatalf("failed AddWith(%q) changed the spec to %+v", expr, s)
			}
			return
		}
		// Every term -W accepted must compile on its own, as the agent
		// will see it.
		flt, err := Compile(s)
		if err != nil {
			t.Fatalf("AddWith(%q) accepted %+v, which does not compile: %v", expr, s, err)
		}
		flt.Match(web1())
	})
}
