package facts

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pulseops/pulse/internal/testkit"
)

// needSh makes the executable tests fail under CI=true if /bin/sh is
// missing, and skip elsewhere.
func needSh(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("sh"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("sh not found; external-fact tests need a POSIX shell to write fact scripts in")
		}
		t.Skip("sh not found")
	}
}

func TestExternalDir(t *testing.T) {
	needSh(t)
	dir := t.TempDir()
	pidFile := filepath.Join(t.TempDir(), "grandchild.pid")
	// All files are written before anything is executed, so no fork can
	// inherit a file still open for writing (ETXTBSY).
	writeFile(t, dir, "10-static.yaml", "role: web\nos:\n  tier: front\n", 0o644)
	writeFile(t, dir, "20-static.json", `{"cluster": "alpha", "weight": 2}`, 0o644)
	writeFile(t, dir, "30-static.txt", "# txt\nrack = r12\nrole=db\n", 0o644)
	writeFile(t, dir, "40-json.sh", "#!/bin/sh\necho '{\"app\": {\"version\": \"1.2.3\"}, \"replicas\": 3}'\n", 0o755)
	writeFile(t, dir, "50-kv.sh", "#!/bin/sh\necho owner=team-a\necho 'motd=hello = world'\n", 0o755)
	writeFile(t, dir, "60-fail.sh", "#!/bin/sh\necho partial=yes\necho 'database down' >&2\nexit 1\n", 0o755)
	// The slow script starts a grandchild and waits; a timeout must kill
	// both, which only a process-group kill does.
	writeFile(t, dir, "70-slow.sh", "#!/bin/sh\nsleep 300 &\necho $! > "+pidFile+"\necho slow=yes\nwait\n", 0o755)
	writeFile(t, dir, "80-garbage.sh", "#!/bin/sh\necho not a fact\n", 0o755)
	writeFile(t, dir, "README", "not executable, not a fact file\n", 0o644)
	writeFile(t, dir, ".hidden.txt", "hidden=1\n", 0o644)
	writeFile(t, dir, "99-bad.yaml", "a: [\n", 0o644)
	if err := os.Mkdir(filepath.Join(dir, "subdir"), 0o755); err != nil {
		t.Fatal(err)
	}

	log, logs := testLogger(t)
	src := NewExternalDir(dir, 300*time.Millisecond, log)
	got, err := src.Gather(context.Background())

	want := map[string]any{
		"role": "db", "os": map[string]any{"tier": "front"}, "cluster": "alpha", "weight": 2.0, "rack": "r12",
		"app": map[string]any{"version": "1.2.3"}, "replicas": 3.0,
		"owner": "team-a", "motd": "hello = world",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("facts:\n got %v\nwant %v", got, want)
	}
	if err == nil {
		t.Fatal("Gather returned no error; want the failing, slow, garbage and bad-yaml files reported")
	}
	msg := err.Error()
	for _, want := range []string{
		filepath.Join(dir, "60-fail.sh") + ": exit status 1: database down",
		filepath.Join(dir, "70-slow.sh") + ": killed after 300ms timeout; make it faster or raise the timeout: context deadline exceeded",
		filepath.Join(dir, "80-garbage.sh") + `:1: expected key=value, got "not a fact"`,
		filepath.Join(dir, "99-bad.yaml") + ":1: did not find expected node content",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error does not contain %q:\n%s", want, msg)
		}
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v does not wrap context.DeadlineExceeded", err)
	}
	for _, want := range []string{"ignoring file that is neither", "file=" + filepath.Join(dir, "README"), "ignoring hidden or backup file", "ignoring non-regular file", "component=facts.external"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log does not contain %q:\n%s", want, logs)
		}
	}

	// The grandchild of the slow script must be gone too.
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatalf("slow script did not record its child: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) }) // only if the test failed
	testkit.WaitFor(t, 10*time.Second, "the slow script's child "+strconv.Itoa(pid)+" to die", func() bool { return !alive(pid) })
}

// alive reports whether pid is a running process; a zombie waiting for a
// reaper (PID 1 in a container may never reap) counts as dead.
func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

func TestExternalDirMissing(t *testing.T) {
	got, err := NewExternalDir(filepath.Join(t.TempDir(), "facts.d"), 0, nil).Gather(context.Background())
	if err != nil || len(got) != 0 {
		t.Errorf("missing dir: got %v, %v; want no facts and no error", got, err)
	}
}

func TestExternalDirCancelled(t *testing.T) {
	needSh(t)
	dir := t.TempDir()
	writeFile(t, dir, "slow.sh", "#!/bin/sh\nexec sleep 300\n", 0o755)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := NewExternalDir(dir, time.Minute, nil).Gather(ctx)
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "stopped because the gather was cancelled") {
		t.Errorf("error = %v, want a cancellation error", err)
	}
}

func TestParseExecOutput(t *testing.T) {
	tests := []struct {
		in   string
		want map[string]any
		err  string
	}{
		{in: "  {\"a\": [1, \"x\"]}\n", want: map[string]any{"a": []any{1.0, "x"}}},
		{in: "a=1\n", want: map[string]any{"a": "1"}},
		{in: "", want: map[string]any{}},
		{in: "{\"a\": ", err: "external fact x: output looks like JSON but is not: unexpected end of JSON input"},
		{in: "[1]", err: `x:1: expected key=value, got "[1]"`},
	}
	for _, tc := range tests {
		got, err := parseExecOutput("x", []byte(tc.in))
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("parseExecOutput(%q) error = %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("parseExecOutput(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}
