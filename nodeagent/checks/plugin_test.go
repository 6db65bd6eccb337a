package checks

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pulseops/pulse/internal/protocol"
	"github.com/pulseops/pulse/internal/testkit"
)

func TestRunPluginRealPlugins(t *testing.T) {
	tests := []struct {
		argv   []string
		prefix string
		labels []string
	}{
		{[]string{"check_load", "-w", "100,100,100", "-c", "200,200,200"}, "LOAD OK - total load average: ", []string{"load1", "load5", "load15"}},
		{[]string{"check_disk", "-w", "1%", "-c", "1%", "-p", "/"}, "DISK ", []string{"/"}},
		{[]string{"check_procs"}, "PROCS OK: ", []string{"procs"}},
	}
	for _, tc := range tests {
		t.Run(tc.argv[0], func(t *testing.T) {
			path := filepath.Join(pluginDir, tc.argv[0])
			testkit.NeedBinary(t, path, "monitoring-plugins-basic")
			o := RunPlugin(context.Background(), append([]string{path}, tc.argv[1:]...), 10*time.Second)
			if !strings.HasPrefix(o.Output, tc.prefix) {
				t.Fatalf("output %q, want prefix %q (status %d, long %q)", o.Output, tc.prefix, o.Status, o.LongOutput)
			}
			if o.Status == protocol.StateUnknown {
				t.Fatalf("status UNKNOWN: %q", o.Output)
			}
			if len(o.Perfdata) != len(tc.labels) {
				t.Fatalf("perfdata %+v, want labels %v", o.Perfdata, tc.labels)
			}
			for i, l := range tc.labels {
				if o.Perfdata[i].Label != l {
					t.Errorf("perfdata[%d] label %q, want %q", i, o.Perfdata[i].Label, l)
				}
			}
			if o.Duration <= 0 {
				t.Errorf("duration %v not recorded", o.Duration)
			}
		})
	}
}

func TestRunPluginExitCodes(t *testing.T) {
	script, _ := filepath.Abs("testdata/exit.sh")
	tests := []struct {
		code, stdout, stderr string
		status               int
		output, long         string
	}{
		{"0", "OK fine|x=1", "", protocol.StateOK, "OK fine", ""},
		{"1", "WARN", "", protocol.StateWarning, "WARN", ""},
		{"2", "CRIT", "", protocol.StateCritical, "CRIT", ""},
		{"3", "UNK", "", protocol.StateUnknown, "UNK", ""},
		{"4", "weird", "", protocol.StateUnknown, "weird", "(Return code of 4 is out of bounds)"},
		{"127", "", "", protocol.StateUnknown, "(No output on stdout)", "(Return code of 127 is out of bounds)"},
		{"2", "", "boom happened", protocol.StateCritical, "(No output on stdout)", "stderr: boom happened"},
		{"0", "OK", "ignored noise", protocol.StateOK, "OK", ""},
	}
	for _, tc := range tests {
		t.Run(tc.code+tc.stdout+tc.stderr, func(t *testing.T) {
			o := RunPlugin(context.Background(), []string{script, tc.code, tc.stdout, tc.stderr}, 10*time.Second)
			if o.Status != tc.status || o.Output != tc.output || o.LongOutput != tc.long {
				t.Errorf("got %d %q %q, want %d %q %q", o.Status, o.Output, o.LongOutput, tc.status, tc.output, tc.long)
			}
		})
	}
}

func TestRunPluginCannotStart(t *testing.T) {
	tests := []struct {
		argv []string
		want string
	}{
		{[]string{"/nonexistent/check_x"}, "cannot run plugin /nonexistent/check_x: fork/exec /nonexistent/check_x: no such file or directory"},
		{[]string{"testdata/nrpe/main.cfg"}, "cannot run plugin testdata/nrpe/main.cfg: fork/exec testdata/nrpe/main.cfg: permission denied"},
		{nil, "cannot run plugin: empty command"},
	}
	for _, tc := range tests {
		o := RunPlugin(context.Background(), tc.argv, time.Second)
		if o.Status != protocol.StateUnknown || o.Output != tc.want {
			t.Errorf("RunPlugin(%q) = %d %q, want UNKNOWN %q", tc.argv, o.Status, o.Output, tc.want)
		}
	}
}

// TestRunPluginTimeoutKillsGroup proves a timed-out plugin is killed with
// its children: the script's background sleep must be gone too.
func TestRunPluginTimeoutKillsGroup(t *testing.T) {
	script, _ := filepath.Abs("testdata/sleeper.sh")
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	o := RunPlugin(context.Background(), []string{script, pidFile}, 500*time.Millisecond)
	if o.Status != protocol.StateUnknown || o.Output != "check timed out after 500ms" {
		t.Fatalf("got %d %q, want UNKNOWN %q", o.Status, o.Output, "check timed out after 500ms")
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatalf("the script did not record its child: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, 5*time.Second, "child "+strconv.Itoa(pid)+" to die", func() bool { return !alive(pid) })
}

// alive reports whether pid runs; a zombie whose parent died is dead for
// this purpose (in a container nothing may reap it).
func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

func TestRunPluginCancelled(t *testing.T) {
	script, _ := filepath.Abs("testdata/sleeper.sh")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	o := RunPlugin(ctx, []string{script, filepath.Join(t.TempDir(), "pid")}, time.Minute)
	if o.Status != protocol.StateUnknown || o.Output != "check cancelled: context canceled" {
		t.Fatalf("got %d %q", o.Status, o.Output)
	}
}

func TestRunPluginHugeOutput(t *testing.T) {
	// 200 kB of output must be cut to the cap, and the cut noted.
	o := runPlugin(context.Background(), []string{"/usr/bin/head", "-c", "200000", "/dev/zero"}, 10*time.Second, 1000)
	if o.Status != protocol.StateOK {
		t.Fatalf("status %d %q", o.Status, o.Output)
	}
	if len(o.Output) > 1000 || !strings.HasSuffix(o.LongOutput, "[output truncated after 1000 bytes]") {
		t.Fatalf("output %d bytes, long %q", len(o.Output), o.LongOutput)
	}
}
