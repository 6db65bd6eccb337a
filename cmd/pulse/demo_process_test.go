//go:build linux && !agentonly

package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pulseops/pulse/internal/testkit"
)

// These tests run `pulse demo` as a real process, on its fixed default
// ports, each test in a network namespace of its own and with its own
// config directory, so two runs at once (or a demo the developer runs) do
// not meet.

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

// pulseBinary builds the full pulse once per test run, named pulse in a
// directory of its own (for PATH), removed with testDir.
func pulseBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		builtBin = filepath.Join(testDir, "bin", "pulse")
		out, err := exec.Command("go", "build", "-o", builtBin, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

// netns is a network namespace for one test, kept alive by a sleeping
// holder process; commands enter it with nsenter, which execs them in
// place, so a command's PID is the program's.
type netns struct{ path string }

func newNetns(t *testing.T) *netns {
	t.Helper()
	for _, b := range []string{"unshare", "nsenter", "ip"} {
		testkit.NeedBinary(t, b, "util-linux iproute2")
	}
	testkit.NeedRoot(t, "for a network namespace")
	holder := exec.Command("unshare", "-n", "sleep", "3600")
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = holder.Process.Kill(); _ = holder.Wait() })
	ns := &netns{path: fmt.Sprintf("/proc/%d/ns/net", holder.Process.Pid)}
	// unshare has made the namespace once the holder runs sleep.
	testkit.WaitFor(t, 10*time.Second, "the namespace", func() bool {
		self, _ := os.Readlink("/proc/self/ns/net")
		other, err := os.Readlink(ns.path)
		return err == nil && other != self
	})
	if out, err := ns.command(nil, "ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("ip link set lo up: %v\n%s", err, out)
	}
	return ns
}

func (n *netns) command(env []string, name string, args ...string) *exec.Cmd {
	c := exec.Command("nsenter", append([]string{"--net=" + n.path, "--", name}, args...)...)
	c.Env = append(os.Environ(), env...)
	return c
}

// demoProc is a running `pulse demo`.
type demoProc struct {
	cmd      *exec.Cmd
	out, err *testkit.SyncBuffer
	done     chan struct{}
}

// startDemo starts pulse demo in ns with env and args.
func startDemo(t *testing.T, ns *netns, env []string, args ...string) *demoProc {
	t.Helper()
	d := &demoProc{out: &testkit.SyncBuffer{}, err: &testkit.SyncBuffer{}, done: make(chan struct{})}
	d.cmd = ns.command(env, pulseBinary(t), append([]string{"demo", "--log-level", "error"}, args...)...)
	d.cmd.Stdout, d.cmd.Stderr = d.out, d.err
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = d.cmd.Wait(); close(d.done) }()
	t.Cleanup(func() {
		_ = d.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-d.done:
		case <-time.After(30 * time.Second):
			_ = d.cmd.Process.Kill()
			<-d.done
		}
	})
	return d
}

// running waits for the banner, or fails with what the demo said.
func (d *demoProc) running(t *testing.T) string {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !strings.Contains(d.out.String(), "Press Ctrl-C to stop.") {
		select {
		case <-d.done:
			t.Fatalf("pulse demo exited (%v):\n%s\n%s", d.cmd.ProcessState, d.out, d.err)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no banner after 2m:\n%s\n%s", d.out, d.err)
		}
	}
	return d.out.String()
}

// exited waits for the demo to end and returns its exit code.
func (d *demoProc) exited(t *testing.T) int {
	t.Helper()
	select {
	case <-d.done:
	case <-time.After(time.Minute):
		t.Fatalf("pulse demo did not exit:\n%s\n%s", d.out, d.err)
	}
	return d.cmd.ProcessState.ExitCode()
}

var childPID = regexp.MustCompile(`(?m)^  (prometheus|alertmanager) +http://\S+  \(pid (\d+), stops with the demo\)$`)

// children are the PIDs the banner names.
func children(t *testing.T, banner string) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, m := range childPID.FindAllStringSubmatch(banner, -1) {
		out[m[1]], _ = strconv.Atoi(m[2])
	}
	if len(out) != 2 {
		t.Fatalf("the banner names %v, not Prometheus and Alertmanager:\n%s", out, banner)
	}
	return out
}

// gone reports whether pid has ended: no such process, or a zombie its new
// parent has not reaped yet.
func gone(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	_, rest, _ := strings.Cut(string(b), ") ")
	return strings.HasPrefix(rest, "Z")
}

func realStack(t *testing.T) []string {
	return []string{"--prometheus", testkit.RealPart(t, "prometheus"), "--alertmanager", testkit.RealPart(t, "alertmanager")}
}

// However the demo ends — a closed terminal (SIGHUP) or SIGKILL — its
// Prometheus and Alertmanager end with it, and the next demo starts.
func TestDemoChildrenDieWithIt(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGHUP, syscall.SIGKILL} {
		t.Run(sig.String(), func(t *testing.T) {
			ns := newNetns(t)
			xdg := t.TempDir()
			env := []string{"XDG_CONFIG_HOME=" + xdg}
			d := startDemo(t, ns, env, realStack(t)...)
			kids := children(t, d.running(t))
			for name, pid := range kids {
				if gone(pid) {
					t.Fatalf("%s (pid %d) is not running", name, pid)
				}
			}
			if err := d.cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			code := d.exited(t)
			for name, pid := range kids {
				testkit.WaitFor(t, 30*time.Second, fmt.Sprintf("%s (pid %d) to end with the demo", name, pid), func() bool { return gone(pid) })
			}
			files, _ := filepath.Glob(filepath.Join(xdg, "pulse", "demo.*"))
			if sig == syscall.SIGHUP {
				// A clean stop: exit 0 and the CLI's demo files removed.
				if code != 0 || len(files) != 1 || filepath.Base(files[0]) != "demo.lock" {
					t.Fatalf("after SIGHUP: exit %d, files %v\n%s", code, files, d.err)
				}
			}
			// The ports are free again: the next demo starts, and finds
			// nothing of the last one still running.
			next := startDemo(t, ns, env, realStack(t)...)
			if banner := next.running(t); strings.Contains(banner, "did not stop cleanly") {
				t.Fatalf("a child of the killed demo still runs:\n%s", banner)
			}
		})
	}
}

// A second demo on the same ports fails before touching a file and says
// which demo runs where; one on other ports runs beside it with its own key
// and token, prints commands that reach it, and leaves the first demo's
// files alone when it exits.
func TestSecondDemoLeavesTheFirstAlone(t *testing.T) {
	ns := newNetns(t)
	xdg := t.TempDir()
	bin := pulseBinary(t)
	// pulse is on PATH, so the banner says pulse.
	env := []string{"XDG_CONFIG_HOME=" + xdg, "PATH=" + filepath.Dir(bin) + ":" + os.Getenv("PATH")}
	first := startDemo(t, ns, env, "--prometheus", "off", "--alertmanager", "off")
	banner := first.running(t)
	if !strings.Contains(banner, "\n  pulse ping\n") {
		t.Fatalf("the first demo's banner does not say plain pulse ping:\n%s", banner)
	}
	files := func() map[string]string {
		out := map[string]string{}
		paths, _ := filepath.Glob(filepath.Join(xdg, "pulse", "*"))
		for _, p := range paths {
			b, _ := os.ReadFile(p)
			out[filepath.Base(p)] = string(b)
		}
		return out
	}
	before := files()
	for _, f := range []string{"demo.creds", "demo.token", "demo.json", "demo.lock"} {
		if _, ok := before[f]; !ok {
			t.Fatalf("the first demo wrote no %s: %v", f, before)
		}
	}

	second := startDemo(t, ns, env, "--prometheus", "off", "--alertmanager", "off")
	if code := second.exited(t); code != exitFailed {
		t.Fatalf("second demo on the same ports: exit %d\n%s", code, second.err)
	}
	want := fmt.Sprintf("pulse: a pulse demo is already running (pid %d, started ", first.cmd.Process.Pid)
	if e := second.err.String(); !strings.Contains(e, want) || !strings.Contains(e, "NATS nats://127.0.0.1:4222, collector http://127.0.0.1:9780/") ||
		!strings.Contains(e, "NATS 127.0.0.1:4222 (--listen), the collector 127.0.0.1:9780 (--http), the demo shop 127.0.0.1:9781 (--shop-listen)") ||
		!strings.Contains(e, fmt.Sprintf("kill %d", first.cmd.Process.Pid)) {
		t.Fatalf("second demo's message does not say which demo runs where:\n%s", e)
	}
	if after := files(); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("the failed second demo changed the first one's files")
	}

	third := startDemo(t, ns, env, "--prometheus", "off", "--alertmanager", "off",
		"--listen", "127.0.0.1:4333", "--http", "127.0.0.1:9790", "--shop-listen", "127.0.0.1:9791")
	banner = third.running(t)
	if !strings.Contains(banner, fmt.Sprintf("another pulse demo (pid %d", first.cmd.Process.Pid)) {
		t.Fatalf("the third demo does not name the first:\n%s", banner)
	}
	runSuggestions(t, ns, env, "", banner, 11)
	if err := third.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := third.exited(t); code != 0 {
		t.Fatalf("third demo: exit %d\n%s", code, third.err)
	}
	if after := files(); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("the third demo changed the first one's files")
	}
	// The first demo still answers the CLI that finds its key by itself.
	out, err := ns.command(env, bin, "ping").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "11 replies") {
		t.Fatalf("the first demo after the others: %v\n%s", err, out)
	}
}

// runSuggestions runs every command the banner suggests, as shown, in dir,
// and checks each reached the demo: exit 0, or exit 1 with every one of
// the nodes answering (httpd is not on every node), or exit 1 where the
// banner says so (the rollout it shows being rolled back).
func runSuggestions(t *testing.T, ns *netns, env []string, dir, banner string, nodes int) {
	t.Helper()
	_, rest, _ := strings.Cut(banner, "In another terminal try:\n\n")
	rest, _, _ = strings.Cut(rest, "\n\nPress Ctrl-C")
	n := 0
	for _, line := range strings.Split(rest, "\n") {
		cmdline, comment, _ := strings.Cut(strings.TrimSpace(line), "   #")
		cmdline, _, _ = strings.Cut(cmdline, "    #")
		failsOnPurpose := strings.HasPrefix(strings.TrimSpace(comment), "exits 1:")
		if strings.Contains(cmdline, " watch") {
			continue // it streams until stopped
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		c := exec.CommandContext(ctx, "nsenter", "--net="+ns.path, "--", "sh", "-c", cmdline)
		c.Env, c.Dir = append(os.Environ(), env...), dir
		out, err := c.CombinedOutput()
		cancel()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("%s: %v", cmdline, err)
		}
		everyone := bytes.Contains(out, fmt.Appendf(nil, "Finished processing %d / %d hosts", nodes, nodes))
		if code != 0 && !(code == 1 && (everyone || failsOnPurpose)) || bytes.Contains(out, []byte("hint:")) || failsOnPurpose && code != 1 {
			t.Errorf("%s: exit %d\n%s", cmdline, code, out)
		}
		n++
	}
	if n < 10 {
		t.Fatalf("the banner suggests only %d commands:\n%s", n, banner)
	}
}

// A Prometheus an earlier demo left running on the default port is found
// and named with its PID before the next demo writes anything; one that
// holds another port is reported in the banner.
func TestStaleChildIsReported(t *testing.T) {
	ns := newNetns(t)
	xdg := t.TempDir()
	env := []string{"XDG_CONFIG_HOME=" + xdg}
	prom := testkit.RealPart(t, "prometheus")
	// What a crashed demo of an older pulse would have left: its
	// Prometheus, configured in its pulse-demo- directory.
	left := filepath.Join(t.TempDir(), "pulse-demo-1234")
	if err := os.Mkdir(left, 0o700); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(left, "prometheus.yml")
	if err := os.WriteFile(cfg, []byte("global: {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	stale := ns.command(nil, prom, "--config.file="+cfg, "--storage.tsdb.path="+filepath.Join(left, "prom-data"), "--web.listen-address=127.0.0.1:9090")
	if err := stale.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stale.Process.Kill(); _ = stale.Wait() })
	pid := stale.Process.Pid
	testkit.WaitFor(t, time.Minute, "the stale Prometheus to listen", func() bool {
		return ns.command(nil, "bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/9090").Run() == nil
	})

	d := startDemo(t, ns, env, "--prometheus", prom, "--alertmanager", "off")
	if code := d.exited(t); code != exitFailed {
		t.Fatalf("exit %d\n%s", code, d.err)
	}
	want := fmt.Sprintf("prometheus address 127.0.0.1:9090 is taken by pid %d (%s --config.file=%s", pid, prom, cfg)
	if e := d.err.String(); !strings.Contains(e, want) || !strings.Contains(e, "an earlier pulse demo started and left running") || !strings.Contains(e, fmt.Sprintf("kill %d", pid)) {
		t.Fatalf("the message does not name the stale Prometheus by its PID:\n%s\nwant %q", e, want)
	}
	if _, err := os.Stat(filepath.Join(xdg, "pulse")); err == nil {
		t.Fatal("the demo that could not start wrote the CLI's files")
	}

	// The crashed demo's record names it; a demo on another port starts
	// and says it is still there.
	os.MkdirAll(filepath.Join(xdg, "pulse"), 0o700)
	record := fmt.Sprintf(`{"pid": 999999, "nats": "nats://127.0.0.1:4222", "dir": %q, "children": [{"name": "prometheus", "pid": %d, "addr": "127.0.0.1:9090"}]}`, left, pid)
	if err := os.WriteFile(filepath.Join(xdg, "pulse", "demo.json"), []byte(record), 0o600); err != nil {
		t.Fatal(err)
	}
	d = startDemo(t, ns, env, "--prometheus", prom, "--alertmanager", "off", "--prometheus-listen", "127.0.0.1:9190")
	banner := d.running(t)
	if want := fmt.Sprintf("note: an earlier pulse demo did not stop cleanly and its prometheus (pid %d, 127.0.0.1:9090) still runs: kill %d", pid, pid); !strings.Contains(banner, want) {
		t.Fatalf("the banner does not report the stale Prometheus:\n%s", banner)
	}
}

// Started with go run, the demo suggests go run, and that works as shown;
// on other ports, the commands name them.
func TestGoRunDemoBanner(t *testing.T) {
	ns := newNetns(t)
	env := []string{"XDG_CONFIG_HOME=" + t.TempDir()}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	goRun := ns.command(env, "go", "run", "./cmd/pulse", "demo", "--log-level", "error", "--prometheus", "off", "--alertmanager", "off",
		"--listen", "127.0.0.1:4333", "--http", "127.0.0.1:9790", "--shop-listen", "")
	goRun.Dir = root
	// go run waits for the demo it built; both go in one process group.
	goRun.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var out, errb testkit.SyncBuffer
	goRun.Stdout, goRun.Stderr = &out, &errb
	if err := goRun.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-goRun.Process.Pid, syscall.SIGTERM)
		_ = goRun.Wait()
	})
	testkit.WaitFor(t, 5*time.Minute, "the banner of go run ./cmd/pulse demo", func() bool { return strings.Contains(out.String(), "Press Ctrl-C to stop.") })
	banner := out.String()
	if !strings.Contains(banner, "\n  go run ./cmd/pulse ping --nats nats://127.0.0.1:4333\n") || !strings.Contains(banner, "\n  go run ./cmd/pulse remediations --collector http://127.0.0.1:9790\n") {
		t.Fatalf("the banner does not say go run with this demo's addresses:\n%s", banner)
	}
	runSuggestions(t, ns, env, root, banner, 11)
}

func TestInvocation(t *testing.T) {
	dir := t.TempDir()
	repo := filepath.Join(dir, "repo")
	os.MkdirAll(filepath.Join(repo, "cmd", "pulse"), 0o755)
	os.WriteFile(filepath.Join(repo, "cmd", "pulse", "main.go"), nil, 0o644)
	bin := filepath.Join(dir, "bin", "pulse")
	os.MkdirAll(filepath.Dir(bin), 0o755)
	os.WriteFile(bin, []byte("x"), 0o755)
	other := filepath.Join(dir, "other-pulse")
	os.WriteFile(other, []byte("y"), 0o755)
	onPath := func(p string) func(string) (string, error) {
		return func(string) (string, error) {
			if p == "" {
				return "", exec.ErrNotFound
			}
			return p, nil
		}
	}
	goBuilt := filepath.Join(os.TempDir(), "go-build123456", "b001", "exe", "pulse")
	goCached := filepath.Join(dir, ".cache", "go-build", "98", "982c154e-d", "pulse")
	for _, tc := range []struct {
		exe, cwd, path, want string
	}{
		{goBuilt, repo, "", "go run ./cmd/pulse"},
		{goBuilt, filepath.Join(repo, "cmd", "pulse"), "", "go run ."},
		{goBuilt, repo, bin, "go run ./cmd/pulse"},
		{goCached, repo, "", "go run ./cmd/pulse"}, // go run's copy in the build cache
		{bin, repo, bin, "pulse"},
		{bin, repo, other, bin}, // another pulse on PATH: name this one
		{bin, repo, "", bin},
	} {
		if got := invocation(tc.exe, tc.cwd, onPath(tc.path)); got != tc.want {
			t.Errorf("invocation(%s, %s, PATH has %q) = %q, want %q", tc.exe, tc.cwd, tc.path, got, tc.want)
		}
	}
}
