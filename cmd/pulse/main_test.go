//go:build !agentonly

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/pulseops/pulse/demo"
	"github.com/pulseops/pulse/internal/buildinfo"
)

// fleet starts the demo fleet on a free port for the life of the test.
func fleet(t *testing.T) *demo.Demo {
	t.Helper()
	d, err := demo.Start(context.Background(), demo.Options{Nodes: 11, Zones: []string{"eu-west-1a", "eu-west-1b"}, NATSPort: -1, ChangeDelay: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Stop)
	return d
}

// pulse runs the CLI in-process and returns its output and exit code.
func pulse(t *testing.T, d *demo.Demo, args ...string) (string, string, int) {
	t.Helper()
	if d != nil {
		// Generous discovery windows: CI machines run many test packages at
		// once, and a 300 ms quiet gap can pass before the last node answers.
		args = append(args, "--nats", d.NATSURL(), "--creds", d.Identity.UserCreds, "--discovery-timeout", "10s", "--discovery-quiet", "1s")
	}
	return pulseCtx(context.Background(), args...)
}

// pulseCtx runs the CLI in-process with ctx and exactly args.
func pulseCtx(ctx context.Context, args ...string) (string, string, int) {
	root := newRoot()
	var out, errb bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	code := exitCode(err)
	var ee exitError
	if err != nil && !errors.As(err, &ee) {
		errb.WriteString(err.Error())
	}
	return out.String(), errb.String(), code
}

func TestPingCommand(t *testing.T) {
	d := fleet(t)
	out, _, code := pulse(t, d, "ping")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	if n := len(regexp.MustCompile(`(?m)^ip-10-0-\d-\d+ +time=\d+\.\d\d ms$`).FindAllString(out, -1)); n != 11 {
		t.Fatalf("%d node lines, want 11:\n%s", n, out)
	}
	if !regexp.MustCompile(`11 replies max: \d+\.\d\d min: \d+\.\d\d avg: \d+\.\d\d`).MatchString(out) {
		t.Fatalf("no ping statistics:\n%s", out)
	}
	out, _, _ = pulse(t, d, "ping", "--json")
	var js struct {
		Count   int `json:"count"`
		Replies []struct {
			Identity string `json:"identity"`
		} `json:"replies"`
	}
	if err := json.Unmarshal([]byte(out), &js); err != nil || js.Count != 11 || len(js.Replies) != 11 {
		t.Fatalf("ping --json: %v %+v\n%s", err, js, out)
	}
}

func TestFactsFindInventoryRPC(t *testing.T) {
	d := fleet(t)
	out, _, code := pulse(t, d, "facts", "ec2_placement_availability_zone")
	if code != 0 || !strings.Contains(out, "eu-west-1a                               found 6 times") ||
		!strings.Contains(out, "eu-west-1b                               found 5 times") ||
		!strings.Contains(out, "Finished processing 11 / 11 hosts in") {
		t.Fatalf("facts exit %d:\n%s", code, out)
	}
	out, _, code = pulse(t, d, "find", "-W", "cluster=alfa")
	if code != 0 || len(strings.Fields(out)) != 6 {
		t.Fatalf("find -W cluster=alfa exit %d, want 6 nodes:\n%s", code, out)
	}
	out, _, code = pulse(t, d, "inventory", "ip-10-0-1-12")
	for _, want := range []string{"Inventory for ip-10-0-1-12:", "Agents:", "nrpe  package  rpcutil  service  urltest", "role::web", "role => web",
		"Build: revision " + buildinfo.Get().Revision + ", " + runtime.Version()} {
		if code != 0 || !strings.Contains(out, want) {
			t.Fatalf("inventory exit %d lacks %q:\n%s", code, want, out)
		}
	}
	out, _, code = pulse(t, d, "rpc", "rpcutil", "get_fact", "fact=role", "-W", "role=web")
	if code != 0 || strings.Count(out, "value: web") != 6 || !strings.Contains(out, "Finished processing 6 / 6 hosts") {
		t.Fatalf("rpc get_fact exit %d:\n%s", code, out)
	}
}

func TestExitCodes(t *testing.T) {
	d := fleet(t)
	_, errOut, code := pulse(t, d, "ping", "-S", "role=web and (")
	if code != exitUsage || !strings.Contains(errOut, "column") {
		t.Fatalf("bad filter: exit %d, stderr %q; want 2 and a column", code, errOut)
	}
	nodes := filepath.Join(t.TempDir(), "nodes")
	os.WriteFile(nodes, []byte("ip-10-0-1-10\nip-10-0-9-99\n"), 0o644)
	out, _, code := pulse(t, d, "rpc", "rpcutil", "ping", "--nodes", nodes, "--timeout", "1s")
	if code != exitFailed || !strings.Contains(out, "No response from:") || !strings.Contains(out, "ip-10-0-9-99") {
		t.Fatalf("silent node: exit %d\n%s", code, out)
	}
	// The demo's broker refuses a login without its credentials, and the
	// CLI says what to do.
	_, errOut, code = pulse(t, nil, "ping", "--nats", d.NATSURL(), "--discovery-timeout", "500ms")
	if code != exitFailed || !strings.Contains(errOut, "refused an anonymous connection") || !strings.Contains(errOut, "pulse keys issue") {
		t.Fatalf("no credentials: exit %d %q", code, errOut)
	}
	_, errOut, code = pulse(t, nil, "ping", "--nats", "nats://127.0.0.1:1")
	if code != exitFailed || !strings.Contains(errOut, "cannot reach NATS") {
		t.Fatalf("no broker: exit %d %q", code, errOut)
	}
}

// With --discovery collector the expected set comes from the collector's
// registry, so a stopped node is named without a node file.
func TestDiscoveryFromCollector(t *testing.T) {
	d, err := demo.Start(context.Background(), demo.Options{Nodes: 4, Zones: []string{"eu-west-1a", "eu-west-1b"}, NATSPort: -1,
		CollectorAddr: "127.0.0.1:0", Prometheus: "off", Alertmanager: "off", ChangeDelay: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Stop)
	deadline := time.Now().Add(30 * time.Second)
	registered := func() int {
		n := 0
		for _, v := range d.Collector.Collector().Nodes() {
			if v.Registered {
				n++
			}
		}
		return n
	}
	for registered() < 4 {
		if time.Now().After(deadline) {
			t.Fatal("collector never saw 4 nodes")
		}
		time.Sleep(50 * time.Millisecond)
	}
	gone := d.Agents[1].Identity()
	d.Agents[1].Stop()
	url := "http://" + d.Collector.Addr()
	out, _, code := pulse(t, d, "ping", "--discovery", "collector", "--collector", url, "--timeout", "1s")
	if code != exitFailed || !strings.Contains(out, "No response from:") || !strings.Contains(out, gone) || !strings.Contains(out, "3 replies") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	out, _, code = pulse(t, d, "find", "--discovery", "collector", "--collector", url, "-F", "role=web")
	if code != exitOK || len(strings.Fields(out)) != 2 {
		t.Fatalf("find via collector, role=web: exit %d\n%s", code, out)
	}
}

func TestPackageSession(t *testing.T) {
	d := fleet(t)
	out, _, code := pulse(t, d, "package", "status", "httpd")
	if code != 0 || !strings.Contains(out, "Summary of Ensure: absent = 11") {
		t.Fatalf("status before: exit %d\n%s", code, out)
	}
	out, _, code = pulse(t, d, "package", "install", "httpd", "-F", "ec2_placement_availability_zone=eu-west-1a")
	if code != 0 || !strings.Contains(out, "Summary of Ensure: 2.4.57-2 = 6") || !strings.Contains(out, "Finished processing 6 / 6 hosts") {
		t.Fatalf("install: exit %d\n%s", code, out)
	}
	out, _, code = pulse(t, d, "package", "status", "httpd")
	if code != 0 || !strings.Contains(out, "Summary of Ensure: 2.4.57-2 = 6, absent = 5") {
		t.Fatalf("status after: exit %d\n%s", code, out)
	}
	out, _, code = pulse(t, d, "package", "install", "nosuchpkg", "-I", "ip-10-0-1-10")
	if code != exitFailed || !strings.Contains(out, "not found") {
		t.Fatalf("unknown package: exit %d\n%s", code, out)
	}
	out, _, code = pulse(t, d, "package", "install", "httpd;touch /tmp/x", "-I", "ip-10-0-1-10", "--json")
	if code != exitFailed || !strings.Contains(out, `"statuscode": 4`) {
		t.Fatalf("bad name: exit %d\n%s", code, out)
	}
}

func TestServiceAndNRPE(t *testing.T) {
	d := fleet(t)
	out, _, code := pulse(t, d, "service", "nginx", "status", "-W", "role=web")
	if code != 0 || !strings.Contains(out, "Summary of Service Status: running = 6") {
		t.Fatalf("service status: exit %d\n%s", code, out)
	}
	// Servers have no nginx package, so no nginx service either.
	out, _, code = pulse(t, d, "service", "nginx", "start", "-W", "role=server", "--display", "failed")
	if code != exitFailed || strings.Count(out, "nginx: unrecognized service (its package nginx is not installed)") != 5 {
		t.Fatalf("service start where the package is absent: exit %d\n%s", code, out)
	}
	out, _, code = pulse(t, d, "service", "cron", "restart", "-W", "ec2_placement_availability_zone=eu-west-1a", "--display", "failed")
	if code != 0 || !strings.Contains(out, "Summary of Service Status: running = 6") || strings.Contains(out, "ip-10-0-1-") {
		t.Fatalf("service restart (display failed shows no node lines): exit %d\n%s", code, out)
	}
	out, _, code = pulse(t, d, "nrpe", "check_nginx", "-W", "role=web")
	if code != 0 || !strings.Contains(out, "Summary of Exit Code: OK: 6, WARNING: 0, CRITICAL: 0, UNKNOWN: 0") {
		t.Fatalf("nrpe check_nginx: exit %d\n%s", code, out)
	}
	pulse(t, d, "service", "nginx", "stop", "-I", "ip-10-0-1-12")
	out, _, _ = pulse(t, d, "nrpe", "check_nginx", "-W", "role=web")
	if !strings.Contains(out, "Summary of Exit Code: OK: 5, WARNING: 0, CRITICAL: 1, UNKNOWN: 0") || !strings.Contains(out, "NGINX CRITICAL") {
		t.Fatalf("nrpe after stop:\n%s", out)
	}
	out, _, _ = pulse(t, d, "nrpe", "check_load", "--json")
	var js struct {
		Replies []struct {
			Data struct {
				ExitCode *int   `json:"exitcode"`
				Output   string `json:"output"`
			} `json:"data"`
		} `json:"replies"`
	}
	if err := json.Unmarshal([]byte(out), &js); err != nil || len(js.Replies) != 11 || js.Replies[0].Data.ExitCode == nil || !strings.HasPrefix(js.Replies[0].Data.Output, "LOAD ") {
		t.Fatalf("nrpe --json: %v\n%s", err, out)
	}
}

// Batches run in order, one after the other, with the sleep between them.
func TestBatching(t *testing.T) {
	d := fleet(t)
	start := time.Now()
	out, errOut, code := pulse(t, d, "service", "cron", "restart", "--batch", "3", "--batch-sleep", "300ms")
	// Three pauses lie between four batches; a sleep is never shorter than
	// asked, so this lower bound cannot flake.
	if took := time.Since(start); took < 900*time.Millisecond {
		t.Fatalf("4 batches with 300ms pauses took %s", took)
	}
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	batches := regexp.MustCompile(`(?m)^batch (\d)/(\d): (.*)$`).FindAllStringSubmatch(errOut, -1)
	if len(batches) != 4 {
		t.Fatalf("%d batches, want 4:\n%s", len(batches), errOut)
	}
	var seen []string
	for i, b := range batches {
		if b[1] != fmt.Sprint(i+1) || b[2] != "4" {
			t.Fatalf("batch line %d: %q", i, b[0])
		}
		seen = append(seen, strings.Split(b[3], ", ")...)
	}
	if len(seen) != 11 || !sort.StringsAreSorted(seen) {
		t.Fatalf("batches covered %v", seen)
	}
	if !strings.Contains(out, "Finished processing 11 / 11 hosts") {
		t.Fatalf("output:\n%s", out)
	}
}

// TestVersion: `pulse version`, --version and --json tell the build, from
// the binary's own build information.
func TestVersion(t *testing.T) {
	want := buildinfo.Get()
	for _, args := range [][]string{{"version"}, {"--version"}} {
		out, _, code := pulseCtx(context.Background(), args...)
		if code != 0 || out != want.String() || !strings.HasPrefix(out, "pulse, version ") || !strings.Contains(out, "go version:       "+runtime.Version()) {
			t.Errorf("pulse %v: exit %d\n%s", args, code, out)
		}
	}
	out, _, code := pulseCtx(context.Background(), "version", "--json")
	var got buildinfo.Info
	if err := json.Unmarshal([]byte(out), &got); code != 0 || err != nil || got != want {
		t.Errorf("pulse version --json: exit %d, %v: %s", code, err, out)
	}
}

// TestLogFlags: every daemon takes --log-level and --log-format, and refuses
// a bad one with exit 2 before doing anything.
func TestLogFlags(t *testing.T) {
	for _, daemon := range []string{"agent", "collector", "broker", "demo", "shop", "bench"} {
		for _, args := range [][]string{{"--log-level", "loud"}, {"--log-format", "xml"}} {
			// The flags are checked before anything else, the config file
			// too: a missing one must not be what fails.
			argv := append([]string{daemon, "--config", "/nonexistent.yaml"}, args...)
			if daemon != "agent" && daemon != "collector" {
				argv = append([]string{daemon}, args...)
			}
			_, errOut, code := pulseCtx(context.Background(), argv...)
			if code != 2 || !strings.Contains(errOut, args[0]) {
				t.Errorf("pulse %s %v: exit %d, %q; want exit 2 naming %s", daemon, args, code, errOut, args[0])
			}
		}
	}
	l, err := logFlags{level: "debug", format: "json"}.logger()
	if err != nil || !l.Enabled(context.Background(), slog.LevelDebug) {
		t.Fatalf("json logger at debug: %v", err)
	}
	if _, ok := l.Handler().(*slog.JSONHandler); !ok {
		t.Fatalf("--log-format json gave %T", l.Handler())
	}
}

// TestCollectorBadTLSExits2: a web config whose certificate cannot be
// loaded is bad configuration: exit 2, naming the config key, its line and
// the file at fault, before anything listens.
func TestCollectorBadTLSExits2(t *testing.T) {
	dir := t.TempDir()
	web := filepath.Join(dir, "web.yml")
	if err := os.WriteFile(web, []byte("tls_server_config:\n  cert_file: "+dir+"/missing.crt\n  key_file: "+dir+"/missing.key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "collector.yaml")
	if err := os.WriteFile(cfg, []byte("listen: 127.0.0.1:0\nweb_config_file: web.yml\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := pulseCtx(context.Background(), "collector", "--config", cfg)
	if code != 2 || !strings.Contains(errOut, cfg+":2: web_config_file: web config "+web) || !strings.Contains(errOut, "missing.crt") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
}
