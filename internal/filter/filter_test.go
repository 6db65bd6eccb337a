package filter

import (
	"encoding/json"
	"errors"
	"regexp/syntax"
	"strings"
	"sync"
	"testing"
)

// web1 is the node most tests match against; its facts mix every value type
// an agent can report.
func web1() *Target {
	return &Target{
		Identity: "web1.example.net",
		Facts: map[string]any{
			"role":                            "web",
			"cluster":                         "alpha",
			"ec2_placement_availability_zone": "eu-west-1a",
			"cpus":                            float64(4),
			"memory_mb":                       8192, // int, as from Go code
			"load":                            0.75,
			"version":                         "10",
			"kernel":                          "6.1.0-18-amd64",
			"virtual":                         true,
			"os.family":                       "Debian",
			"os": map[string]any{
				"name":    "Debian",
				"release": map[string]any{"major": "12", "full": "12.5"},
				"family":  "nested-family",
			},
			"a":          map[string]any{"b.c": "split"},
			"roles":      []any{"web", "cache", float64(3)},
			"tags":       []string{"prod", "eu"},
			"nothing":    nil,
			"count":      json.Number("42"),
			"empty_list": []any{},
		},
		Classes: []string{"roles::web", "profile::nginx", "base"},
		Agents:  []string{"rpcutil", "package", "service"},
	}
}

func TestMatch(t *testing.T) {
	tests := []struct {
		name string
		spec Spec
		want bool
	}{
		{"empty spec", Spec{}, true},

		// = and ==
		{"eq string", Spec{Fact: []string{"role=web"}}, true},
		{"eq string mismatch", Spec{Fact: []string{"role=db"}}, false},
		{"eqeq string", Spec{Fact: []string{"role==web"}}, true},
		{"eq is case sensitive", Spec{Fact: []string{"role=Web"}}, false},
		{"eq with spaces around operator", Spec{Fact: []string{" role = web "}}, true},
		{"eq float fact numeric", Spec{Fact: []string{"cpus=4"}}, true},
		{"eq float fact numeric 4.0", Spec{Fact: []string{"cpus=4.0"}}, true},
		{"eq int fact", Spec{Fact: []string{"memory_mb=8192"}}, true},
		{"eq numeric string fact", Spec{Fact: []string{"version=10.0"}}, true},
		{"eq float fact against word", Spec{Fact: []string{"cpus=four"}}, false},
		{"eq bool true", Spec{Fact: []string{"virtual=true"}}, true},
		{"eq bool false", Spec{Fact: []string{"virtual=false"}}, false},
		{"eq json.Number", Spec{Fact: []string{"count=42"}}, true},
		{"eq value with spaces", Spec{Fact: []string{"kernel=6.1.0-18-amd64"}}, true},

		// !=
		{"ne string", Spec{Fact: []string{"role!=db"}}, true},
		{"ne string same", Spec{Fact: []string{"role!=web"}}, false},
		{"ne numeric", Spec{Fact: []string{"cpus!=4"}}, false},
		{"ne numeric different", Spec{Fact: []string{"cpus!=2"}}, true},
		{"ne missing fact never matches", Spec{Fact: []string{"missing!=web"}}, false},
		{"ne null fact never matches", Spec{Fact: []string{"nothing!=web"}}, false},
		{"ne map fact never matches", Spec{Fact: []string{"os!=x"}}, false},

		// orderings: numeric when both sides are numbers
		{"gt numeric", Spec{Fact: []string{"cpus>2"}}, true},
		{"gt numeric not lexical", Spec{Fact: []string{"cpus>10"}}, false},
		{"lt numeric string fact", Spec{Fact: []string{"version<9"}}, false},
		{"ge equal", Spec{Fact: []string{"cpus>=4"}}, true},
		{"ge less", Spec{Fact: []string{"cpus>=5"}}, false},
		{"le equal", Spec{Fact: []string{"cpus<=4"}}, true},
		{"le float", Spec{Fact: []string{"load<=0.5"}}, false},
		{"lt float", Spec{Fact: []string{"load<1"}}, true},
		{"mco => is >=", Spec{Fact: []string{"cpus=>4"}}, true},
		{"mco =< is <=", Spec{Fact: []string{"cpus=<3"}}, false},
		{"negative number", Spec{Fact: []string{"cpus>-1"}}, true},
		{"exponent number", Spec{Fact: []string{"memory_mb<1e4"}}, true},
		// orderings: string otherwise
		{"lt string", Spec{Fact: []string{"role<xyz"}}, true},
		{"gt string", Spec{Fact: []string{"role>xyz"}}, false},
		{"string fact vs number value compares text", Spec{Fact: []string{"role>10"}}, true},
		{"number fact vs word compares text", Spec{Fact: []string{"cpus<a"}}, true},
		{"version strings compare as text", Spec{Fact: []string{"kernel>=6.1"}}, true},

		// regex
		{"regex =~", Spec{Fact: []string{"role=~^we"}}, true},
		{"regex =~ slashed", Spec{Fact: []string{"role=~/^we/"}}, true},
		{"regex =/re/", Spec{Fact: []string{"role=/^we/"}}, true},
		{"regex no match", Spec{Fact: []string{"role=/^db/"}}, false},
		{"regex unanchored", Spec{Fact: []string{"ec2_placement_availability_zone=~west"}}, true},
		{"regex on number", Spec{Fact: []string{"cpus=~^4$"}}, true},
		{"regex on bool", Spec{Fact: []string{"virtual=~^tr"}}, true},
		{"regex is case sensitive", Spec{Fact: []string{"role=~WEB"}}, false},
		{"regex case insensitive flag", Spec{Fact: []string{"role=~(?i)WEB"}}, true},
		{"== with slashes is literal", Spec{Fact: []string{"role==/web/"}}, false},
		{"!= with slashes is literal", Spec{Fact: []string{"role!=/web/"}}, true},
		{"one slash is literal", Spec{Fact: []string{"role=/web"}}, false},

		// dotted and nested
		{"dotted flat key wins", Spec{Fact: []string{"os.family=Debian"}}, true},
		{"dotted nested", Spec{Fact: []string{"os.name=Debian"}}, true},
		{"dotted two levels", Spec{Fact: []string{"os.release.major>=12"}}, true},
		{"dotted nested key with dot", Spec{Fact: []string{"a.b.c=split"}}, true},
		{"dotted missing leaf", Spec{Fact: []string{"os.codename=bookworm"}}, false},
		{"dotted through a string", Spec{Fact: []string{"role.x=web"}}, false},
		{"map value never matches", Spec{Fact: []string{"os=~."}}, false},

		// lists
		{"list any element", Spec{Fact: []string{"roles=cache"}}, true},
		{"list no element", Spec{Fact: []string{"roles=db"}}, false},
		{"list numeric element", Spec{Fact: []string{"roles>2"}}, true},
		{"list regex", Spec{Fact: []string{"roles=~^ca"}}, true},
		{"list != any element differs", Spec{Fact: []string{"roles!=web"}}, true},
		{"string list", Spec{Fact: []string{"tags=eu"}}, true},
		{"empty list", Spec{Fact: []string{"empty_list!=x"}}, false},

		// missing
		{"missing fact", Spec{Fact: []string{"missing=web"}}, false},
		{"missing fact regex", Spec{Fact: []string{"missing=~."}}, false},

		// several facts are ANDed
		{"two facts", Spec{Fact: []string{"role=web", "cluster=alpha"}}, true},
		{"two facts one fails", Spec{Fact: []string{"role=web", "cluster=beta"}}, false},

		// identity: exact or regex, alternatives
		{"identity exact", Spec{Identity: []string{"web1.example.net"}}, true},
		{"identity exact mismatch", Spec{Identity: []string{"web1"}}, false},
		{"identity regex", Spec{Identity: []string{"/^web\\d/"}}, true},
		{"identity regex mismatch", Spec{Identity: []string{"/^db/"}}, false},
		{"identities are alternatives", Spec{Identity: []string{"db1", "web1.example.net"}}, true},
		{"identities none", Spec{Identity: []string{"db1", "db2"}}, false},

		// class: exact or regex, all must match
		{"class exact", Spec{Class: []string{"roles::web"}}, true},
		{"class exact partial is no match", Spec{Class: []string{"roles"}}, false},
		{"class regex", Spec{Class: []string{"/nginx/"}}, true},
		{"classes are ANDed", Spec{Class: []string{"base", "roles::db"}}, false},
		{"classes all present", Spec{Class: []string{"base", "/^roles::/"}}, true},

		// agent
		{"agent exact", Spec{Agent: []string{"package"}}, true},
		{"agent missing", Spec{Agent: []string{"nrpe"}}, false},
		{"agent regex", Spec{Agent: []string{"/^serv/"}}, true},
		{"agents are ANDed", Spec{Agent: []string{"package", "nrpe"}}, false},

		// compound
		{"select fact", Spec{Compound: "role=web"}, true},
		{"select class word", Spec{Compound: "base"}, true},
		{"select class word missing", Spec{Compound: "roles::db"}, false},
		{"select class regex", Spec{Compound: "/^profile::/"}, true},
		{"select and", Spec{Compound: "role=web and cluster=alpha"}, true},
		{"select and false", Spec{Compound: "role=web and cluster=beta"}, false},
		{"select or", Spec{Compound: "role=db or cluster=alpha"}, true},
		{"select or false", Spec{Compound: "role=db or cluster=beta"}, false},
		{"select not", Spec{Compound: "not role=db"}, true},
		{"select bang", Spec{Compound: "!role=web"}, false},
		{"select bang spaced", Spec{Compound: "! role=web"}, false},
		{"select not not", Spec{Compound: "not not role=web"}, true},
		{"select not missing fact matches", Spec{Compound: "not missing=x"}, true},
		{"select issue example", Spec{Compound: "(role=web or role=server) and not cluster=beta"}, true},
		{"select issue example excluded", Spec{Compound: "(role=web or role=server) and not cluster=alpha"}, false},
		// and binds tighter than or: true or (false and false)
		{"and over or", Spec{Compound: "role=web or role=db and cluster=beta"}, true},
		// parentheses override: (true or false) and false
		{"parens override", Spec{Compound: "(role=web or role=db) and cluster=beta"}, false},
		// not binds tighter than and: (not false) and true
		{"not over and", Spec{Compound: "not role=db and cluster=alpha"}, true},
		// not binds tighter than or: (not true) or false
		{"not over or", Spec{Compound: "not role=web or role=db"}, false},
		{"not of group", Spec{Compound: "not (role=web or role=db)"}, false},
		{"nested parens", Spec{Compound: "((role=web))"}, true},
		{"parens without spaces", Spec{Compound: "(role=db)or(cpus>2)"}, true},
		{"regex value with parens", Spec{Compound: "(role=~^(web|db)$) and base"}, true},
		{"slashed regex with space and parens", Spec{Compound: "(kernel=/^6\\.1 |amd(64)/)"}, true},
		{"keyword-named fact", Spec{Compound: "and=1 or role=web"}, true},
		{"select list", Spec{Compound: "roles=cache and not roles=db"}, true},
		{"select dotted", Spec{Compound: "os.release.major>=12 and os.name=~^Deb"}, true},

		// all parts are ANDed
		{"everything", Spec{
			Fact: []string{"role=web"}, Class: []string{"base"}, Identity: []string{"/web/"},
			Agent: []string{"rpcutil"}, Compound: "cpus>2",
		}, true},
		{"everything but compound", Spec{
			Fact: []string{"role=web"}, Class: []string{"base"}, Identity: []string{"/web/"},
			Agent: []string{"rpcutil"}, Compound: "cpus>8",
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Compile(tt.spec)
			if err != nil {
				t.Fatalf("Compile(%+v): %v", tt.spec, err)
			}
			if got := f.Match(web1()); got != tt.want {
				t.Errorf("Match(%+v) = %v, want %v", tt.spec, got, tt.want)
			}
		})
	}
}

func TestMatchEdgeTargets(t *testing.T) {
	var nilFilter *Filter
	if !nilFilter.Match(web1()) {
		t.Error("nil filter should match every target")
	}
	f, err := Compile(Spec{Fact: []string{"role!=web"}})
	if err != nil {
		t.Fatal(err)
	}
	if f.Match(nil) {
		t.Error("fact filter matched a nil target")
	}
	empty, err := Compile(Spec{})
	if err != nil {
		t.Fatal(err)
	}
	if !empty.Match(nil) {
		t.Error("empty filter should match a nil target")
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name string
		spec Spec
		want string
	}{
		// fact terms
		{"empty fact term", Spec{Fact: []string{""}}, `fact filter "": empty fact term at column 1`},
		{"blank fact term", Spec{Fact: []string{"  "}}, `fact filter "  ": empty fact term at column 3`},
		{"no operator", Spec{Fact: []string{"role"}}, `fact filter "role": expected an operator (= == != < > <= >= =~) after the fact name at column 5, found end of input`},
		{"empty fact name", Spec{Fact: []string{"=web"}}, `fact filter "=web": missing fact name before "=" at column 1`},
		{"empty fact name ne", Spec{Fact: []string{" !=web"}}, `fact filter " !=web": missing fact name before "!=" at column 2`},
		{"space in name", Spec{Fact: []string{"my role=web"}}, `fact filter "my role=web": space in fact name at column 3`},
		{"unknown operator", Spec{Fact: []string{"role<>web"}}, `fact filter "role<>web": unknown operator "<>" (use one of = == != < > <= >= =~) at column 5`},
		{"bang alone", Spec{Fact: []string{"role!web"}}, `fact filter "role!web": unknown operator "!" (use one of = == != < > <= >= =~) at column 5`},
		{"tilde run", Spec{Fact: []string{"role=~~web"}}, `fact filter "role=~~web": unknown operator "=~~" (use one of = == != < > <= >= =~) at column 5`},
		{"missing value", Spec{Fact: []string{"role="}}, `fact filter "role=": expected a value after "=" at column 6, found end of input`},
		{"missing value after spaces", Spec{Fact: []string{"cpus >=  "}}, `fact filter "cpus >=  ": expected a value after ">=" at column 8, found end of input`},
		{"bad regex", Spec{Fact: []string{"role=~("}}, "fact filter \"role=~(\": invalid regular expression at column 7: missing closing ): `(`"},
		{"bad slashed regex", Spec{Fact: []string{"role=/a[/"}}, "fact filter \"role=/a[/\": invalid regular expression at column 6: missing closing ]: `[`"},
		{"bad escape", Spec{Fact: []string{"role=~\\q"}}, "fact filter \"role=~\\\\q\": invalid regular expression at column 7: invalid escape sequence: `\\q`"},
		{"empty regex", Spec{Fact: []string{"role=//"}}, `fact filter "role=//": empty regular expression at column 6`},
		{"column counts characters", Spec{Fact: []string{"zoné=~("}}, "fact filter \"zoné=~(\": invalid regular expression at column 7: missing closing ): `(`"},

		// names
		{"empty identity", Spec{Identity: []string{""}}, `identity filter "": empty name at column 1`},
		{"bad identity regex", Spec{Identity: []string{"/web(/"}}, "identity filter \"/web(/\": invalid regular expression at column 1: missing closing ): `web(`"},
		{"empty class regex", Spec{Class: []string{"//"}}, `class filter "//": empty regular expression at column 1`},
		{"bad agent regex", Spec{Agent: []string{"/*/"}}, "agent filter \"/*/\": invalid regular expression at column 1: missing argument to repetition operator: `*`"},

		// select
		{"select blank", Spec{Compound: "   "}, `select "   ": expected a term at column 4, found end of input`},
		{"select trailing and", Spec{Compound: "role=web and"}, `select "role=web and": expected a term at column 13, found end of input`},
		{"select trailing not", Spec{Compound: "role=web and not"}, `select "role=web and not": expected a term at column 17, found end of input`},
		{"select leading or", Spec{Compound: "or role=web"}, `select "or role=web": expected a term at column 1, found "or"`},
		{"select and and", Spec{Compound: "role=web and and base"}, `select "role=web and and base": expected a term at column 14, found "and"`},
		{"select open paren at end", Spec{Compound: "role=web and ("}, `select "role=web and (": expected a term at column 15, found end of input`},
		{"select unclosed paren", Spec{Compound: "(role=web or role=db"}, `select "(role=web or role=db": unclosed "(" at column 1`},
		{"select unmatched close", Spec{Compound: "role=web)"}, `select "role=web)": unmatched ")" at column 9`},
		{"select empty parens", Spec{Compound: "()"}, `select "()": expected a term at column 2, found ")"`},
		{"select missing connective", Spec{Compound: "role=web base"}, `select "role=web base": expected "and", "or" or end of input at column 10, found "base"`},
		{"select missing connective in parens", Spec{Compound: "(role=web base)"}, `select "(role=web base)": expected "and", "or" or ")" at column 11, found "base"`},
		{"select uppercase AND is a class", Spec{Compound: "role=web AND base"}, `select "role=web AND base": expected "and", "or" or end of input at column 10, found "AND"`},
		{"select empty fact name", Spec{Compound: "role=web and =db"}, `select "role=web and =db": missing fact name before "=" at column 14`},
		{"select missing value", Spec{Compound: "(role= )"}, `select "(role= )": expected a value after "=" at column 7, found end of input`},
		{"select unknown operator", Spec{Compound: "cpus=>>2"}, `select "cpus=>>2": unknown operator "=>>" (use one of = == != < > <= >= =~) at column 5`},
		{"select bad regex", Spec{Compound: "base and role=~a(b"}, "select \"base and role=~a(b\": invalid regular expression at column 16: missing closing ): `a(b`"},
		{"select unterminated class regex", Spec{Compound: "base or /web"}, `select "base or /web": unterminated /regex/, missing the closing "/" at column 9`},
		{"select bad class regex", Spec{Compound: "/+/"}, "select \"/+/\": invalid regular expression at column 1: missing argument to repetition operator: `+`"},
		{"select error order follows text", Spec{Compound: "role=~( and )"}, "select \"role=~( and )\": invalid regular expression at column 7: missing closing ): `(`"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile(tt.spec)
			if err == nil {
				t.Fatalf("Compile(%+v) succeeded, want error %s", tt.spec, tt.want)
			}
			var fe *Error
			if !errors.As(err, &fe) {
				t.Fatalf("Compile(%+v) error is %T, want *Error", tt.spec, err)
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("Compile(%+v) error\n got: %s\nwant: %s", tt.spec, got, tt.want)
			}
		})
	}
}

func TestErrorUnwrapsRegexpError(t *testing.T) {
	_, err := Compile(Spec{Fact: []string{"role=~("}})
	var se *syntax.Error
	if !errors.As(err, &se) {
		t.Fatalf("error %v does not wrap a *syntax.Error", err)
	}
	if se.Code != syntax.ErrMissingParen {
		t.Errorf("code = %v, want %v", se.Code, syntax.ErrMissingParen)
	}
}

func TestNestingLimit(t *testing.T) {
	deep := ""
	for range maxDepth {
		deep += "("
	}
	ok := deep + "base"
	for range maxDepth {
		ok += ")"
	}
	if _, err := Compile(Spec{Compound: ok}); err != nil {
		t.Fatalf("%d levels should compile: %v", maxDepth, err)
	}
	_, err := Compile(Spec{Compound: "(" + ok + ")"})
	want := "expression nested more than 64 deep at column 65"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("error = %v, want it to contain %q", err, want)
	}
	nots := ""
	for range maxDepth + 1 {
		nots += "not "
	}
	_, err = Compile(Spec{Compound: nots + "base"})
	want = "expression nested more than 64 deep at column 257"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("error = %v, want it to contain %q", err, want)
	}
}

func TestParseFactTerm(t *testing.T) {
	tests := []struct {
		in     string
		name   string
		op     Op
		value  string
		string string
	}{
		{"role=web", "role", OpEq, "web", "role==web"},
		{"role == web server", "role", OpEq, "web server", "role==web server"},
		{"cpus>=2", "cpus", OpGe, "2", "cpus>=2"},
		{"cpus=>2", "cpus", OpGe, "2", "cpus>=2"},
		{"cpus=<2", "cpus", OpLe, "2", "cpus<=2"},
		{"cpus<2", "cpus", OpLt, "2", "cpus<2"},
		{"cpus>2", "cpus", OpGt, "2", "cpus>2"},
		{"role!=db", "role", OpNe, "db", "role!=db"},
		{"os.name=~^Deb", "os.name", OpRegex, "^Deb", "os.name=~/^Deb/"},
		{"os.name=~/^Deb/", "os.name", OpRegex, "^Deb", "os.name=~/^Deb/"},
		{"os.name=/^Deb/", "os.name", OpRegex, "^Deb", "os.name=~/^Deb/"},
		{"cmd=a=b", "cmd", OpEq, "a=b", "cmd==a=b"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			ft, err := ParseFactTerm(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if ft.Name != tt.name || ft.Op != tt.op || ft.Value != tt.value {
				t.Errorf("ParseFactTerm(%q) = {%q %v %q}, want {%q %v %q}", tt.in, ft.Name, ft.Op, ft.Value, tt.name, tt.op, tt.value)
			}
			if got := ft.String(); got != tt.string {
				t.Errorf("String() = %q, want %q", got, tt.string)
			}
			again, err := ParseFactTerm(ft.String())
			if err != nil {
				t.Fatalf("String() output %q does not parse: %v", ft.String(), err)
			}
			if again.Name != ft.Name || again.Op != ft.Op || again.Value != ft.Value {
				t.Errorf("round trip of %q changed the term to %q", tt.in, again.String())
			}
		})
	}
}

func TestOpString(t *testing.T) {
	if got := Op(0).String(); got != "Op(0)" {
		t.Errorf("Op(0).String() = %q", got)
	}
	if got := OpRegex.String(); got != "=~" {
		t.Errorf("OpRegex.String() = %q", got)
	}
}

func TestLooksNumeric(t *testing.T) {
	yes := []string{"0", "12", "-3", "+4", "1.5", ".5", "5.", "1e3", "1E-3", "-2.5e+10"}
	no := []string{"", "-", ".", "e3", "1e", "1e+", "0x10", "1_000", "inf", "NaN", "1.2.3", "12a", " 1"}
	for _, s := range yes {
		if !looksNumeric(s) {
			t.Errorf("looksNumeric(%q) = false, want true", s)
		}
	}
	for _, s := range no {
		if looksNumeric(s) {
			t.Errorf("looksNumeric(%q) = true, want false", s)
		}
	}
}

// TestConcurrentMatch runs one compiled filter from many goroutines; under
// -race it fails if Match writes shared state.
func TestConcurrentMatch(t *testing.T) {
	f, err := Compile(Spec{
		Fact:     []string{"role=~^we", "cpus>2"},
		Class:    []string{"/nginx/"},
		Compound: "(role=web or role=db) and not cluster=beta",
	})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for range 8 {
		wg.Go(func() {
			target := web1()
			for range 200 {
				if !f.Match(target) {
					errs <- "Match returned false"
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
}

func TestMatchDoesNotAllocate(t *testing.T) {
	f, err := Compile(Spec{
		Fact:     []string{"ec2_placement_availability_zone=eu-west-1a", "cpus>=2", "version<20", "roles=cache", "os.release.major=12", "cpus!=x"},
		Class:    []string{"base"},
		Agent:    []string{"package"},
		Compound: "(role=web or role=db) and not cluster=beta and not role<10",
	})
	if err != nil {
		t.Fatal(err)
	}
	target := web1()
	if !f.Match(target) {
		t.Fatal("filter should match web1")
	}
	if n := testing.AllocsPerRun(100, func() { f.Match(target) }); n != 0 {
		t.Errorf("Match allocated %v times per run, want 0", n)
	}
}

// TestRegexMatchDoesNotAllocate is separate because the race detector makes
// sync.Pool, which regexp uses for its machines, drop items at random.
func TestRegexMatchDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items under -race, so regexp allocates")
	}
	f, err := Compile(Spec{Fact: []string{"role=~^we", "os.release.full=~^12"}, Identity: []string{"/^web/"}, Compound: "/nginx/"})
	if err != nil {
		t.Fatal(err)
	}
	target := web1()
	if !f.Match(target) {
		t.Fatal("filter should match web1")
	}
	if n := testing.AllocsPerRun(100, func() { f.Match(target) }); n != 0 {
		t.Errorf("Match allocated %v times per run, want 0", n)
	}
}
