package checks

import (
	"errors"
	"os"
	"reflect"
	"testing"
)

func TestLoadNRPEFixture(t *testing.T) {
	cfg, err := LoadNRPE("testdata/nrpe/main.cfg")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"check_a":      {"/bin/true", "a"},
		"check_arg":    {"check_load", "-w", "$ARG1$", "-c", "$ARG2$"},
		"check_b":      {"/bin/true", "b"},
		"check_extra":  {"/bin/true", "overridden"}, // include_dir comes later and wins
		"check_load":   {"check_load", "-r", "-w", ".15,.10,.05", "-c", ".30,.25,.20"},
		"check_quoted": {"check_procs", "-a", "some thing", `with "quote"`, "plain word"},
		"check_root":   {"/usr/lib/nagios/plugins/check_disk", "-w", "10%", "-c", "5%", "-p", "/"},
	}
	if !reflect.DeepEqual(cfg.Commands, want) {
		t.Errorf("Commands = %q\nwant %q", cfg.Commands, want)
	}
	if !cfg.DontBlameNRPE {
		t.Error("dont_blame_nrpe=1 not read")
	}
	files := []string{"testdata/nrpe/main.cfg", "testdata/nrpe/extra.cfg", "testdata/nrpe/conf.d/10-a.cfg", "testdata/nrpe/conf.d/20-b.cfg"}
	if !reflect.DeepEqual(cfg.Files, files) {
		t.Errorf("Files = %q, want %q", cfg.Files, files)
	}
	if got := cfg.Origin["check_extra"]; got != "testdata/nrpe/conf.d/10-a.cfg:2" {
		t.Errorf("Origin[check_extra] = %q", got)
	}
}

// TestLoadNRPEDebian parses the nrpe.cfg that Debian's nagios-nrpe-server
// ships, with its include and include_dir.
func TestLoadNRPEDebian(t *testing.T) {
	const path = "/etc/nagios/nrpe.cfg"
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is missing: install Debian package nagios-nrpe-server", path)
		}
		t.Skipf("%s is missing: install Debian package nagios-nrpe-server", path)
	}
	cfg, err := LoadNRPE(path)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"/usr/lib/nagios/plugins/check_load", "-r", "-w", ".15,.10,.05", "-c", ".30,.25,.20"}
	if !reflect.DeepEqual(cfg.Commands["check_load"], want) {
		t.Errorf("check_load = %q, want %q", cfg.Commands["check_load"], want)
	}
	if len(cfg.Files) < 2 || cfg.Files[1] != "/etc/nagios/nrpe_local.cfg" {
		t.Errorf("include of nrpe_local.cfg not followed: %q", cfg.Files)
	}
	if cfg.DontBlameNRPE {
		t.Error("Debian ships dont_blame_nrpe=0")
	}
	// The Debian commands must run through a Runner.
	r := NewRunner(RunnerOptions{Commands: cfg.Commands, PreferBuiltin: true})
	if _, err := r.Run(t.Context(), "check_load", nil, 0); err != nil {
		t.Error(err)
	}
}

func TestLoadNRPEErrors(t *testing.T) {
	const shell = " needs a shell; pulse runs commands without one, so put it in a script and call that"
	tests := []struct{ file, err string }{
		{"testdata/bad/and.cfg", "testdata/bad/and.cfg:1: command[and]: '&' (background or &&) at column 11" + shell},
		{"testdata/bad/backtick.cfg", "testdata/bad/backtick.cfg:1: command[tick]: command substitution '`' at column 11" + shell},
		{"testdata/bad/badname.cfg", `testdata/bad/badname.cfg:1: command name "bad name" has invalid character ' ' at position 4 (allowed: A-Z a-z 0-9 _ . -)`},
		{"testdata/bad/blame.cfg", `testdata/bad/blame.cfg:1: dont_blame_nrpe must be 0 or 1, got "yes"`},
		{"testdata/bad/empty.cfg", "testdata/bad/empty.cfg:1: command[e] has an empty command line"},
		{"testdata/bad/missing.cfg", "testdata/bad/missing.cfg:1: include nothere.cfg: open testdata/bad/nothere.cfg: no such file or directory"},
		{"testdata/bad/noclose.cfg", `testdata/bad/noclose.cfg:1: command definition "command[x" has no closing ']'`},
		{"testdata/bad/noeq.cfg", `testdata/bad/noeq.cfg:1: expected key=value, got "just a line"`},
		{"testdata/bad/pipe.cfg", "testdata/bad/pipe.cfg:2: command[piped]: pipe '|' at column 13" + shell},
		{"testdata/bad/quote.cfg", "testdata/bad/quote.cfg:1: command[q]: unterminated single quote at column 11"},
		{"testdata/bad/redir.cfg", "testdata/bad/redir.cfg:3: command[redir]: redirection '>' at column 13" + shell},
		{"testdata/bad/semi.cfg", "testdata/bad/semi.cfg:1: command[semi]: command separator ';' at column 10" + shell},
		{"testdata/bad/subst.cfg", "testdata/bad/subst.cfg:1: command[subst]: command substitution '$(' at column 12" + shell},
		{"testdata/bad/var.cfg", "testdata/bad/var.cfg:1: command[v]: variable expansion '$H' at column 11" + shell},
		{"testdata/nrpe/cycle/a.cfg", "testdata/nrpe/cycle/b.cfg:2: include cycle: testdata/nrpe/cycle/a.cfg -> testdata/nrpe/cycle/b.cfg -> testdata/nrpe/cycle/a.cfg"},
		{"testdata/none.cfg", "read nrpe config: open testdata/none.cfg: no such file or directory"},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			cfg, err := LoadNRPE(tc.file)
			if err == nil || err.Error() != tc.err {
				t.Fatalf("LoadNRPE(%s) error\n got %v\nwant %s", tc.file, err, tc.err)
			}
			if cfg != nil {
				t.Errorf("a config came back beside the error")
			}
		})
	}
}

func TestSplitCommandLine(t *testing.T) {
	tests := []struct {
		in   string
		want []string
		err  string
	}{
		{"check_load -w 5 -c 10", []string{"check_load", "-w", "5", "-c", "10"}, ""},
		{"  a\t b  ", []string{"a", "b"}, ""},
		{`a 'b c' "d e" f\ g`, []string{"a", "b c", "d e", "f g"}, ""},
		{`a 'it''s'`, []string{"a", "its"}, ""},
		{`a "x\"y\\z"`, []string{"a", `x"y\z`}, ""},
		{`a '' ""`, []string{"a", "", ""}, ""},
		{`a 'x|y;z$(q)'`, []string{"a", "x|y;z$(q)"}, ""},
		{"a -w $ARG1$ -c $ARG2$x", []string{"a", "-w", "$ARG1$", "-c", "$ARG2$x"}, ""},
		{`a "$ARG1$"`, []string{"a", "$ARG1$"}, ""},
		{"a 5$", []string{"a", "5$"}, ""},
		{"", nil, ""},
		{`a "$(id)"`, nil, "command substitution '$(' at column 4 needs a shell; pulse runs commands without one, so put it in a script and call that"},
		{"a ${HOME}", nil, "variable expansion '${' at column 3 needs a shell; pulse runs commands without one, so put it in a script and call that"},
		{"a *.log", nil, "glob '*' at column 3 needs a shell; pulse runs commands without one, so put it in a script and call that"},
		{"(a)", nil, "subshell '(' at column 1 needs a shell; pulse runs commands without one, so put it in a script and call that"},
		{"a < b", nil, "redirection '<' at column 3 needs a shell; pulse runs commands without one, so put it in a script and call that"},
		{`a "b`, nil, "unterminated double quote at column 3"},
		{`a \`, nil, "trailing backslash at column 3"},
		{"a\x00b", nil, `control character '\x00' at column 2`},
	}
	for _, tc := range tests {
		got, err := SplitCommandLine(tc.in)
		gotErr := ""
		if err != nil {
			gotErr = err.Error()
		}
		if !reflect.DeepEqual(got, tc.want) || gotErr != tc.err {
			t.Errorf("SplitCommandLine(%q) = %q, %q; want %q, %q", tc.in, got, gotErr, tc.want, tc.err)
		}
	}
}

// FuzzLoadNRPE fuzzes the nrpe.cfg parser over bytes. Includes resolve in
// an in-memory file set so the fuzzer never reads the real disk.
func FuzzLoadNRPE(f *testing.F) {
	for _, name := range []string{"testdata/nrpe/main.cfg", "testdata/bad/pipe.cfg", "testdata/nrpe/cycle/a.cfg"} {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("command[x]=a 'b c' \"d\\\"e\" $ARG1$\ninclude=/mem/main.cfg\n"))
	f.Add([]byte("include_dir=/mem\ndont_blame_nrpe=1\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		l := &nrpeLoader{
			readFile: func(p string) ([]byte, error) {
				if p == "/mem/main.cfg" || p == "/mem/a.cfg" {
					return b, nil
				}
				return nil, errors.New("no such file")
			},
			readDir: func(string) ([]string, error) { return []string{"a.cfg"}, nil },
		}
		cfg, err := l.load("/mem/main.cfg")
		if err != nil {
			return
		}
		for name, argv := range cfg.Commands {
			if ValidName(name) != nil {
				t.Fatalf("invalid command name %q accepted", name)
			}
			if len(argv) == 0 {
				t.Fatalf("command %q has an empty argv", name)
			}
		}
	})
}
