package checks

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/pulseops/pulse/internal/protocol"
	"github.com/pulseops/pulse/internal/testkit"
)

func TestValidName(t *testing.T) {
	tests := []struct{ in, err string }{
		{"check_load", ""},
		{"Check-disk.root_1", ""},
		{"", "command name is empty"},
		{"-rf", `command name "-rf" must not start with '-'`},
		{".hidden", `command name ".hidden" must not start with '.'`},
		{"check load", `command name "check load" has invalid character ' ' at position 6 (allowed: A-Z a-z 0-9 _ . -)`},
		{"x;id", `command name "x;id" has invalid character ';' at position 2 (allowed: A-Z a-z 0-9 _ . -)`},
		{"a\x00b", `command name "a\x00b" has invalid character '\x00' at position 2 (allowed: A-Z a-z 0-9 _ . -)`},
		{"../etc", `command name "../etc" must not start with '.'`},
		{"a/b", `command name "a/b" has invalid character '/' at position 2 (allowed: A-Z a-z 0-9 _ . -)`},
		{strings.Repeat("a", 128), ""},
		{strings.Repeat("a", 129), "command name is 129 bytes long, at most 128 are allowed"},
	}
	for _, tc := range tests {
		err := ValidName(tc.in)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tc.err {
			t.Errorf("ValidName(%q) = %q, want %q", tc.in, got, tc.err)
		}
	}
}

func TestValidArgument(t *testing.T) {
	tests := []struct{ in, err string }{
		{"80%", ""}, {"@10:20", ""}, {"~:5", ""}, {"5,4,3", ""}, {"/var/log", ""}, {"host.example.com", ""}, {"", ""},
		{"-w", `argument "-w" must not start with '-'`},
		{"--extra-opts=@/etc/shadow", `argument "--extra-opts=@/etc/shadow" must not start with '-'`},
		{"5;id", `argument "5;id" has invalid character ';' at position 2 (allowed: A-Z a-z 0-9 . _ - , : @ % / = + ~)`},
		{"$(touch /tmp/x)", `argument "$(touch /tmp/x)" has invalid character '$' at position 1 (allowed: A-Z a-z 0-9 . _ - , : @ % / = + ~)`},
		{"a b", `argument "a b" has invalid character ' ' at position 2 (allowed: A-Z a-z 0-9 . _ - , : @ % / = + ~)`},
		{"a\nb", `argument "a\nb" has invalid character '\n' at position 2 (allowed: A-Z a-z 0-9 . _ - , : @ % / = + ~)`},
		{strings.Repeat("x", 10240), "argument is 10240 bytes long, at most 1024 are allowed"},
	}
	for _, tc := range tests {
		err := ValidArgument(tc.in)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tc.err {
			t.Errorf("ValidArgument(%q) = %q, want %q", tc.in, got, tc.err)
		}
	}
}

func TestExpandArgs(t *testing.T) {
	tests := []struct {
		tmpl, args, want []string
	}{
		{[]string{"check_load", "-w", "$ARG1$", "-c", "$ARG2$"}, []string{"5", "10"}, []string{"check_load", "-w", "5", "-c", "10"}},
		{[]string{"check_disk", "-p", "/mnt/$ARG1$x"}, []string{"data"}, []string{"check_disk", "-p", "/mnt/datax"}},
		{[]string{"check_users", "$ARG1$"}, nil, []string{"check_users"}},
		{[]string{"x", "$ARG3$$ARG1$"}, []string{"a", "b", "c"}, []string{"x", "ca"}},
		{[]string{"x", "$ARG99$"}, []string{"a"}, []string{"x"}},
	}
	for _, tc := range tests {
		if got := expandArgs(tc.tmpl, tc.args); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("expandArgs(%q, %q) = %q, want %q", tc.tmpl, tc.args, got, tc.want)
		}
	}
}

func TestRunnerResolves(t *testing.T) {
	script, _ := filepath.Abs("testdata/exit.sh")
	r := NewRunner(RunnerOptions{
		Root:      "testdata/root",
		PluginDir: "testdata",
		Commands: map[string][]string{
			"builtin":     {"check_load", "-w", "5,4,3", "-c", "10,8,6"},
			"plugin_path": {pluginDir + "/check_load", "-w", "5,4,3", "-c", "10,8,6"},
			"relative":    {"exit.sh", "1", "WARN relative"},
			"absolute":    {script, "2", "CRIT absolute|a=1s"},
			"args":        {"exit.sh", "$ARG1$", "$ARG2$"},
		},
	})
	if got, want := r.Commands(), []string{"absolute", "args", "builtin", "plugin_path", "relative"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Commands() = %v, want %v", got, want)
	}
	ctx := context.Background()
	o, err := r.Run(ctx, "builtin", nil, 0)
	// The fixture root proves the builtin ran (a fork would read /proc).
	if err != nil || o.Output != "LOAD WARNING - total load average: 1.50, 0.75, 3.20" {
		t.Errorf("builtin: %v %q", err, o.Output)
	}
	o, err = r.Run(ctx, "relative", nil, 0)
	if err != nil || o.Status != protocol.StateWarning || o.Output != "WARN relative" {
		t.Errorf("relative: %v %+v", err, o)
	}
	o, err = r.Run(ctx, "absolute", nil, 0)
	if err != nil || o.Status != protocol.StateCritical || len(o.Perfdata) != 1 {
		t.Errorf("absolute: %v %+v", err, o)
	}
	_, err = r.Run(ctx, "args", []string{"0", "OK"}, 0)
	if !errors.Is(err, ErrInvalidInput) || err.Error() != "invalid nrpe input: command args was given 2 argument(s) but arguments are not allowed (enable dont_blame_nrpe or allow_arguments to permit them)" {
		t.Errorf("args without permission: %v", err)
	}
	_, err = r.Run(ctx, "nope", nil, 0)
	if !errors.Is(err, ErrUnknownCommand) || err.Error() != `unknown nrpe command "nope": configured commands are absolute, args, builtin, plugin_path, relative` {
		t.Errorf("unknown: %v", err)
	}

	testkit.NeedBinary(t, pluginDir+"/check_load", "monitoring-plugins-basic")
	o, err = r.Run(ctx, "plugin_path", nil, 0)
	if err != nil || strings.Contains(o.Output, "1.50, 0.75, 3.20") {
		t.Errorf("plugin path without prefer_builtin must fork the plugin: %v %q", err, o.Output)
	}
	pr := NewRunner(RunnerOptions{Root: "testdata/root", PreferBuiltin: true, Commands: map[string][]string{"p": {pluginDir + "/check_load", "-w", "5,4,3", "-c", "10,8,6"}}})
	o, err = pr.Run(ctx, "p", nil, 0)
	if err != nil || o.Output != "LOAD WARNING - total load average: 1.50, 0.75, 3.20" {
		t.Errorf("prefer_builtin: %v %q", err, o.Output)
	}
}

func TestRunnerArguments(t *testing.T) {
	r := NewRunner(RunnerOptions{
		Root:           "testdata/root",
		AllowArguments: true,
		Commands:       map[string][]string{"load": {"check_load", "-w", "$ARG1$", "-c", "$ARG2$"}},
	})
	o, err := r.Run(context.Background(), "load", []string{"1,1,1", "2,2,2"}, 0)
	if err != nil || o.Status != protocol.StateCritical {
		t.Fatalf("got %v %+v", err, o)
	}
	_, err = r.Run(context.Background(), "load", make([]string, 17), 0)
	if err == nil || err.Error() != "invalid nrpe input: 17 arguments given, at most 16 are allowed" {
		t.Fatalf("17 args: %v", err)
	}
}

// TestRunnerInjection feeds hostile names and arguments to a runner whose
// command would run them through sh if anything ever did, and proves that
// nothing ran: the marker a shell would create does not exist.
func TestRunnerInjection(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "pwned")
	r := NewRunner(RunnerOptions{
		AllowArguments: true,
		Commands:       map[string][]string{"echo": {"/bin/echo", "$ARG1$"}, "sh": {"/bin/sh", "-c", "$ARG1$"}},
	})
	payloads := []string{
		"x; touch " + marker, "$(touch " + marker + ")", "`touch " + marker + "`", "x && touch " + marker,
		"x | touch " + marker, "a b", "a\x00b", "a\nb", "-c", "--extra-opts=@" + marker, strings.Repeat("A", 10240),
	}
	for _, p := range payloads {
		for _, cmd := range []string{"echo", "sh"} {
			if _, err := r.Run(context.Background(), cmd, []string{p}, 0); !errors.Is(err, ErrInvalidInput) {
				t.Errorf("argument %q to %s: err %v, want ErrInvalidInput", printable(p), cmd, err)
			}
		}
		if _, err := r.Run(context.Background(), p, nil, 0); !errors.Is(err, ErrInvalidInput) {
			t.Errorf("name %q: err %v, want ErrInvalidInput", printable(p), err)
		}
	}
	if _, err := os.Stat(marker); !os.IsNotExist(err) {
		t.Fatalf("marker %s exists: something ran a shell (%v)", marker, err)
	}
}
