package filter

import (
	"errors"
	"slices"
	"testing"
)

func TestAddWith(t *testing.T) {
	tests := []struct {
		expr  string
		fact  []string
		class []string
	}{
		{"ec2_placement_availability_zone=eu-west-1a role=web", []string{"ec2_placement_availability_zone=eu-west-1a", "role=web"}, nil},
		{"base", nil, []string{"base"}},
		{"  role=web \t base /^profile::/ cpus>=2 ", []string{"role=web", "cpus>=2"}, []string{"base", "/^profile::/"}},
		{"/a=b/", nil, []string{"/a=b/"}},
		{"role=/^we/ os.name!=Ubuntu", []string{"role=/^we/", "os.name!=Ubuntu"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			s := Spec{Fact: []string{"cluster=alpha"}, Class: []string{"existing"}}
			if err := s.AddWith(tt.expr); err != nil {
				t.Fatal(err)
			}
			wantFact := append([]string{"cluster=alpha"}, tt.fact...)
			wantClass := append([]string{"existing"}, tt.class...)
			if !slices.Equal(s.Fact, wantFact) {
				t.Errorf("Fact = %q, want %q", s.Fact, wantFact)
			}
			if !slices.Equal(s.Class, wantClass) {
				t.Errorf("Class = %q, want %q", s.Class, wantClass)
			}
		})
	}
}

func TestAddWithMatches(t *testing.T) {
	var s Spec
	if err := s.AddWith("ec2_placement_availability_zone=eu-west-1a roles::web cpus>2"); err != nil {
		t.Fatal(err)
	}
	f, err := Compile(s)
	if err != nil {
		t.Fatal(err)
	}
	if !f.Match(web1()) {
		t.Error("-W filter should match web1")
	}
	s = Spec{}
	if err := s.AddWith("ec2_placement_availability_zone=eu-west-1a roles::db"); err != nil {
		t.Fatal(err)
	}
	if f, _ := Compile(s); f.Match(web1()) {
		t.Error("-W filter with a missing class matched web1")
	}
}

func TestAddWithErrors(t *testing.T) {
	tests := []struct {
		expr string
		want string
	}{
		{"", `with filter "": expected a fact term or class at column 1, found end of input`},
		{"  ", `with filter "  ": expected a fact term or class at column 3, found end of input`},
		{"role=web =db", `with filter "role=web =db": missing fact name before "=" at column 10`},
		{"base role=", `with filter "base role=": expected a value after "=" at column 11, found end of input`},
		{"role<>web", `with filter "role<>web": unknown operator "<>" (use one of = == != < > <= >= =~) at column 5`},
		{"base role=~(", "with filter \"base role=~(\": invalid regular expression at column 12: missing closing ): `(`"},
		{"base /(/", "with filter \"base /(/\": invalid regular expression at column 6: missing closing ): `(`"},
		{"base //", `with filter "base //": empty regular expression at column 6`},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			s := Spec{Fact: []string{"cluster=alpha"}}
			err := s.AddWith(tt.expr)
			if err == nil {
				t.Fatalf("AddWith(%q) succeeded, want %s", tt.expr, tt.want)
			}
			var fe *Error
			if !errors.As(err, &fe) {
				t.Fatalf("error is %T, want *Error", err)
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("AddWith(%q)\n got: %s\nwant: %s", tt.expr, got, tt.want)
			}
			if len(s.Fact) != 1 || len(s.Class) != 0 {
				t.Errorf("failed AddWith changed the spec to %+v", s)
			}
		})
	}
}
