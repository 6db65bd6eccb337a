package actions

import (
	"github.com/pulseops/pulse/internal/hostlock"
	"github.com/pulseops/pulse/internal/testkit"

	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pulseops/pulse/internal/protocol"
)

// requireHost fails the test under CI=true when the machine lacks what the
// test is about, and skips it elsewhere.
func requireHost(t *testing.T, ok bool, what string) {
	t.Helper()
	if ok {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true and %s; make test installs it (run as root)", what)
	}
	t.Skipf("skipping: %s", what)
}

func requireRootAndBinaries(t *testing.T, bins ...string) {
	t.Helper()
	requireHost(t, os.Geteuid() == 0, "the test must run as root")
	for _, b := range bins {
		_, err := exec.LookPath(b)
		requireHost(t, err == nil, b+" is not installed")
	}
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// TestAptProviderReal installs, removes and purges Debian's "hello" through
// the agent, with the real apt-get and dpkg, and puts the machine back as
// it found it.
func TestAptProviderReal(t *testing.T) {
	requireRootAndBinaries(t, "apt-get", "apt-cache", "dpkg-query")
	log := testLogger(t)
	r := NewExecRunner(ExecRunnerOptions{Timeout: 5 * time.Minute}, log)
	a := NewPackageAgent(NewAptProvider(r), log)
	const pkg = "hello"

	pol, err := r.Run(t.Context(), CmdSpec{Name: "apt-cache", Args: []string{"policy", pkg}})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(pol.Stdout, []byte("Candidate: ")) || bytes.Contains(pol.Stdout, []byte("Candidate: (none)")) {
		if _, err := runOK(t.Context(), r, aptGet("update")); err != nil {
			t.Fatalf("apt-get update (no candidate for %s): %v", pkg, err)
		}
		pol, _ = r.Run(t.Context(), CmdSpec{Name: "apt-cache", Args: []string{"policy", pkg}})
	}
	_, cand, _ := strings.Cut(string(pol.Stdout), "Candidate: ")
	cand, _, _ = strings.Cut(cand, "\n")
	requireHost(t, cand != "" && cand != "(none)", "apt has no candidate for "+pkg+" even after apt-get update")
	arch, err := runOK(t.Context(), r, CmdSpec{Name: "dpkg", Args: []string{"--print-architecture"}})
	if err != nil {
		t.Fatal(err)
	}
	wantArch := strings.TrimSpace(string(arch.Stdout))

	before := call(t, a, "status", `{"package":"hello"}`)
	if before.Status != protocol.OK {
		t.Fatalf("status: %d %s", before.Status, before.Message)
	}
	if before.Data.(PackageStatus).Ensure != Absent {
		t.Cleanup(func() { cleanupCall(a, "install", `{"package":"hello"}`) })
		if res := call(t, a, "uninstall", `{"package":"hello"}`); res.Status != protocol.OK {
			t.Fatalf("uninstall before the test: %d %s", res.Status, res.Message)
		}
	} else {
		t.Cleanup(func() {
			// Only when the test stopped half way: a removed hello leaves
			// no configuration behind to purge.
			if r := cleanupCall(a, "status", `{"package":"hello"}`); r.Status == protocol.OK && r.Data.(PackageStatus).Ensure != Absent {
				cleanupCall(a, "purge", `{"package":"hello"}`)
			}
		})
	}

	installed := `{"package":"hello","ensure":"` + cand + `","arch":"` + wantArch + `","name":"hello"}`
	absent := `{"package":"hello","ensure":"absent","arch":"","name":"hello"}`
	steps := []struct{ action, data, reply string }{
		{"status", `{"package":"hello"}`, absent},
		{"install", `{"package":"hello","version":"` + cand + `"}`, installed},
		{"status", `{"package":"hello"}`, installed},
		{"uninstall", `{"package":"hello"}`, absent},
	}
	for _, s := range steps {
		res := call(t, a, s.action, s.data)
		if res.Status != protocol.OK || replyJSON(t, res) != s.reply {
			t.Fatalf("%s %s: %d %s %s, want %s", s.action, s.data, res.Status, res.Message, replyJSON(t, res), s.reply)
		}
		// The package manager's word is checked against the file system.
		_, err := os.Stat("/usr/bin/hello")
		if has := err == nil; has != (s.reply == installed) {
			t.Fatalf("after %s: /usr/bin/hello exists=%v", s.action, has)
		}
	}

	res := call(t, a, "install", `{"package":"pulse-no-such-package"}`)
	if res.Status != protocol.UnknownError || !strings.Contains(res.Message, "E: Unable to locate package pulse-no-such-package") {
		t.Fatalf("install of a missing package: %d %s", res.Status, res.Message)
	}
	res = call(t, a, "checkupdates", "")
	if res.Status != protocol.OK {
		t.Fatalf("checkupdates: %d %s", res.Status, res.Message)
	}
	if cu := res.Data.(CheckUpdatesResult); cu.Count != len(cu.OutdatedPackages) {
		t.Fatalf("checkupdates: %+v", cu)
	}
}

// cleanupCall calls an agent from t.Cleanup, when the test's context has
// already ended.
func cleanupCall(a Agent, action, data string) Result {
	return a.Call(context.Background(), Request{Action: action, Data: json.RawMessage(data)})
}

// nginxMasters scans the process table for nginx master processes.
func nginxMasters(t *testing.T) []int {
	t.Helper()
	dirs, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", d.Name(), "cmdline"))
		if err == nil && bytes.HasPrefix(b, []byte("nginx: master process")) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// TestSysvProviderRealNginx drives Debian's nginx init script through
// service(8) and checks the process table after each step.
func TestSysvProviderRealNginx(t *testing.T) {
	requireRootAndBinaries(t, "service", "nginx")
	hostlock.Lock(t, "nginx")
	_, err := os.Stat("/etc/init.d/nginx")
	requireHost(t, err == nil, "/etc/init.d/nginx is missing (install nginx-light)")
	log := testLogger(t)
	a := NewServiceAgent(NewSysvProvider(NewExecRunner(ExecRunnerOptions{Timeout: time.Minute}, log)), log)

	first := call(t, a, "status", `{"service":"nginx"}`)
	if first.Status != protocol.OK {
		t.Fatalf("status: %d %s", first.Status, first.Message)
	}
	action := "stop"
	if first.Data.(ServiceStatus).Status == ServiceRunning {
		action = "start"
	}
	t.Cleanup(func() { cleanupCall(a, action, `{"service":"nginx"}`) })

	steps := []struct {
		action  string
		running bool
	}{{"stop", false}, {"status", false}, {"start", true}, {"status", true}, {"restart", true}, {"reload", true}, {"stop", false}, {"restart", true}, {"stop", false}}
	for _, s := range steps {
		res := call(t, a, s.action, `{"service":"nginx"}`)
		want := `{"service":"nginx","status":"stopped"}`
		if s.running {
			want = `{"service":"nginx","status":"running"}`
		}
		if res.Status != protocol.OK || replyJSON(t, res) != want {
			t.Fatalf("%s: %d %s %s, want %s", s.action, res.Status, res.Message, replyJSON(t, res), want)
		}
		testkit.WaitFor(t, 15*time.Second, "nginx master running="+strconv.FormatBool(s.running)+" after "+s.action, func() bool {
			return (len(nginxMasters(t)) == 1) == s.running && (len(nginxMasters(t)) == 0) == !s.running
		})
	}

	res := call(t, a, "status", `{"service":"pulse-no-such-service"}`)
	want := "service status of pulse-no-such-service: service pulse-no-such-service not found: service(8) does not recognise it; is there an init script for it in /etc/init.d?"
	if res.Status != protocol.UnknownError || res.Message != want {
		t.Fatalf("unknown service: %d %s\nwant %s", res.Status, res.Message, want)
	}
}
