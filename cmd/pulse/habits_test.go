//go:build !agentonly

package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/pulseops/pulse/demo"
	"github.com/pulseops/pulse/internal/filter"
)

func TestParseSeconds(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		err  string
	}{
		{"1", time.Second, ""},
		{"2.5", 2500 * time.Millisecond, ""},
		{"0", 0, ""},
		{"1500ms", 1500 * time.Millisecond, ""},
		{"1m30s", 90 * time.Second, ""},
		{"-1", 0, `"-1" is negative`},
		{"-2s", 0, `"-2s" is negative`},
		{"NaN", 0, `"NaN" is not a number of seconds`},
		{"1e300", 0, `"1e300" is not a number of seconds`},
		{"5 s", 0, `"5 s" is neither seconds (5, 2.5) nor a duration (5s, 1m30s)`},
		{"", 0, `"" is neither seconds (5, 2.5) nor a duration (5s, 1m30s)`},
	} {
		got, err := parseSeconds(tc.in)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("parseSeconds(%q) = %v, %v; want error %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("parseSeconds(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

// mco took --timeout in seconds; so does pulse, from the flag, the
// environment and the config file, and still takes durations.
func TestTimeoutInSeconds(t *testing.T) {
	d := fleet(t)
	nodes := filepath.Join(t.TempDir(), "nodes")
	if err := os.WriteFile(nodes, []byte("ip-10-0-1-10\nip-10-0-9-99\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := pulse(t, d, "rpc", "rpcutil", "ping", "--nodes", nodes, "--timeout", "1")
	if code != exitFailed || !strings.Contains(out, "Finished processing 1 / 2 hosts") || !strings.Contains(out, "ip-10-0-9-99") {
		t.Fatalf("--timeout 1: exit %d\n%s\n%s", code, out, errOut)
	}
	t.Setenv("PULSE_TIMEOUT", "1")
	if out, _, code = pulse(t, d, "rpc", "rpcutil", "ping", "--nodes", nodes); code != exitFailed || !strings.Contains(out, "ip-10-0-9-99") {
		t.Fatalf("PULSE_TIMEOUT=1: exit %d\n%s", code, out)
	}
	if _, errOut, code = pulse(t, d, "ping", "--timeout", "soon"); code != exitUsage || !strings.Contains(errOut, `"soon" is neither seconds`) {
		t.Fatalf("--timeout soon: exit %d, stderr %q", code, errOut)
	}
}

// mco accepted `package ACTION NAME` and `package NAME ACTION`, and the same
// for service; pulse does when the action is plain, and refuses to guess
// otherwise.
func TestActionInEitherOrder(t *testing.T) {
	d := fleet(t)
	want, _, code := pulse(t, d, "package", "status", "openssl", "--display", "failed")
	if code != exitOK || !strings.Contains(want, "Summary of Ensure: 3.0.9-1 = 11") {
		t.Fatalf("package status openssl: exit %d\n%s", code, want)
	}
	got, _, code := pulse(t, d, "package", "openssl", "status", "--display", "failed")
	if code != exitOK || !strings.Contains(got, "Summary of Ensure: 3.0.9-1 = 11") {
		t.Fatalf("package openssl status: exit %d\n%s", code, got)
	}
	for _, args := range [][]string{{"service", "cron", "status"}, {"service", "status", "cron"}} {
		out, _, code := pulse(t, d, args...)
		if code != exitOK || !strings.Contains(out, "Summary of Service Status: running = 11") {
			t.Fatalf("%s: exit %d\n%s", strings.Join(args, " "), code, out)
		}
	}
	for _, tc := range []struct {
		args []string
		err  string
	}{
		{[]string{"service", "stop", "restart"}, "pulse service stop restart is ambiguous: both words are actions; for a service really named \"restart\" use pulse rpc service stop service=restart"},
		{[]string{"service", "cron", "bounce"}, "pulse service cron bounce names no action; use one of start, stop, restart, reload, status"},
		{[]string{"service", "cron"}, "pulse service takes a service and an action, got 1 arguments"},
		{[]string{"package", "httpd"}, "pulse package httpd needs an action: one of install, uninstall, purge, update, status, checkupdates"},
		{[]string{"package", "install"}, "pulse package install needs a package name"},
	} {
		// No broker at all: a usage error is found before connecting.
		_, errOut, code := pulse(t, nil, append(tc.args, "--nats", "nats://127.0.0.1:1")...)
		if code != exitUsage || strings.TrimSpace(errOut) != tc.err {
			t.Errorf("%s: exit %d, stderr %q; want 2 and %q", strings.Join(tc.args, " "), code, errOut, tc.err)
		}
	}
}

// A filter that matches nothing says so at once, with every discovery
// method, instead of waiting out the timeouts and blaming the keys. The
// timeouts here are an hour: waiting for them would fail the test by its
// context.
func TestNoNodeMatches(t *testing.T) {
	d, err := demo.Start(context.Background(), demo.Options{Nodes: 4, Zones: []string{"eu-west-1a", "eu-west-1b"}, NATSPort: -1,
		CollectorAddr: "127.0.0.1:0", Prometheus: "off", Alertmanager: "off", ChangeDelay: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Stop)
	waitRegistered(t, d, 4)
	nodes := filepath.Join(t.TempDir(), "nodes")
	if err := os.WriteFile(nodes, []byte("ip-10-0-1-10\nip-10-0-2-10\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	common := []string{"--nats", d.NATSURL(), "--creds", d.Identity.UserCreds, "--timeout", "1h", "--discovery-timeout", "1h"}
	for _, args := range [][]string{
		{"ping", "-W", "role=nope"},
		{"find", "-F", "role=nope"},
		{"facts", "role", "-S", "role=web and role=server"},
		{"rpc", "rpcutil", "daemon_stats", "-I", "ip-10-0-9-99"},
		{"package", "status", "httpd", "-F", "ec2_placement_availability_zone=eu-west-1c"},
		{"service", "nginx", "restart", "-W", "role=server", "--nodes", nodes},
		{"nrpe", "check_load", "-C", "role::db", "--discovery", "collector", "--collector", "http://" + d.Collector.Addr()},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		out, errOut, code := pulseCtx(ctx, append(args, common...)...)
		cancel()
		if code != exitFailed || strings.TrimSpace(out) != noMatchLine || errOut != "" {
			t.Errorf("%s: exit %d\nstdout %q\nstderr %q\nwant exit 1 and %q alone", strings.Join(args, " "), code, out, errOut, noMatchLine)
		}
	}
	// --nodes keeps its promise for listed nodes that do not answer at all:
	// they stay targets and are named, while a listed node that answered
	// and does not match is dropped.
	silent := filepath.Join(t.TempDir(), "silent")
	if err := os.WriteFile(silent, []byte("ip-10-0-1-10\nip-10-0-9-99\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _, code := pulse(t, d, "rpc", "rpcutil", "ping", "--nodes", silent, "-F", "role=server", "--timeout", "1")
	if code != exitFailed || !strings.Contains(out, "Finished processing 0 / 1 hosts") || !strings.Contains(out, "ip-10-0-9-99") || strings.Contains(out, "ip-10-0-1-10") {
		t.Fatalf("--nodes with a silent node: exit %d\n%s", code, out)
	}
}

func waitRegistered(t *testing.T, d *demo.Demo, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := 0
		for _, v := range d.Collector.Collector().Nodes() {
			if v.Registered {
				got++
			}
		}
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the collector saw %d of %d nodes", got, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Every filter example a user is shown — in any command's --help and in the
// web view's filter box — matches nodes of the demo.
func TestFilterExamplesMatchTheDemo(t *testing.T) {
	d := fleet(t)
	quoted := regexp.MustCompile(`e\.g\. "([^"]+)"`)
	examples := map[string]string{} // example -> flag
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, name := range []string{"with", "select", "with-fact"} {
			if fl := c.Flags().Lookup(name); fl != nil {
				for _, m := range quoted.FindAllStringSubmatch(fl.Usage, -1) {
					examples[m[1]] = name
				}
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(newRoot())
	html, err := os.ReadFile("../../collector/web/index.html")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`placeholder="filter, as pulse (-W|-S): ([^"]+)"`).FindSubmatch(html)
	if m == nil {
		t.Fatal("the web view's filter box has no example")
	}
	examples[string(m[2])] = map[string]string{"-W": "with", "-S": "select"}[string(m[1])]
	if len(examples) < 2 {
		t.Fatalf("found only %v", examples)
	}
	// A missing fact matches no operator, so "not az=x" holds on every
	// node: an example must name facts the nodes have, not only match.
	facts := d.Specs[0].Facts
	term := regexp.MustCompile(`([A-Za-z_][A-Za-z0-9_.]*)\s*(==|!=|=~|<=|>=|=>|=<|=|<|>)`)
	for ex, flag := range examples {
		out, _, code := pulse(t, d, "find", "--"+flag, ex)
		if code != exitOK || len(strings.Fields(out)) == 0 {
			t.Errorf("--%s %q matches no demo node: exit %d\n%s", flag, ex, code, out)
		}
		for _, tm := range term.FindAllStringSubmatch(ex, -1) {
			if v, _ := filter.Lookup(facts, tm[1]); v == nil {
				t.Errorf("--%s %q names %s, which is not a fact of the demo's nodes", flag, ex, tm[1])
			}
		}
	}
}
