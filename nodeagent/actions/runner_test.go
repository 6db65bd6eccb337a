package actions

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestExecRunnerCapturesOutputAndExitCode(t *testing.T) {
	r := NewExecRunner(ExecRunnerOptions{}, nil)
	res, err := r.Run(t.Context(), CmdSpec{Name: "sh", Args: []string{"-c", "echo out; echo err >&2; exit 3"}})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if res.ExitCode != 3 || string(res.Stdout) != "out\n" || string(res.Stderr) != "err\n" || res.Truncated {
		t.Fatalf("got %+v", res)
	}
}

// An argument that a shell would expand must arrive as it was written.
func TestExecRunnerNeverUsesAShell(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "marker")
	arg := "$(touch " + marker + "); `touch " + marker + "` ; touch " + marker
	res, err := NewExecRunner(ExecRunnerOptions{}, nil).Run(t.Context(), CmdSpec{Name: "printf", Args: []string{"%s", arg}})
	if err != nil {
		t.Fatal(err)
	}
	if string(res.Stdout) != arg {
		t.Fatalf("printf saw %q, want %q", res.Stdout, arg)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("the argument was run by a shell")
	}
}

func TestExecRunnerEnvironmentIsMinimal(t *testing.T) {
	t.Setenv("PULSE_SECRET_TEST", "leak")
	res, err := NewExecRunner(ExecRunnerOptions{}, nil).Run(t.Context(), CmdSpec{Name: "env", Env: []string{"DEBIAN_FRONTEND=noninteractive"}})
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Fields(string(res.Stdout))
	want := []string{"PATH=" + DefaultSearchPath, "LC_ALL=C", "LANG=C", "DEBIAN_FRONTEND=noninteractive"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("child environment %q, want %q", got, want)
	}
}

func TestExecRunnerTruncatesOutput(t *testing.T) {
	r := NewExecRunner(ExecRunnerOptions{MaxOutput: 10}, nil)
	res, err := r.Run(t.Context(), CmdSpec{Name: "seq", Args: []string{"1", "1000"}})
	if err != nil {
		t.Fatal(err)
	}
	if string(res.Stdout) != "1\n2\n3\n4\n5\n" || !res.Truncated {
		t.Fatalf("got %q truncated=%v", res.Stdout, res.Truncated)
	}
}

func TestExecRunnerTimeout(t *testing.T) {
	r := NewExecRunner(ExecRunnerOptions{Timeout: 50 * time.Millisecond}, nil)
	_, err := r.Run(t.Context(), CmdSpec{Name: "sleep", Args: []string{"30"}})
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "run sleep 30: stopped after 50ms") {
		t.Fatalf("err = %v", err)
	}
}

func TestExecRunnerNotFound(t *testing.T) {
	dir := t.TempDir()
	r := NewExecRunner(ExecRunnerOptions{SearchPath: dir}, nil)
	_, err := r.Run(t.Context(), CmdSpec{Name: "apt-get"})
	want := "run apt-get: executable file not found in $PATH: not found in " + dir + "; install it or configure another provider"
	if !errors.Is(err, exec.ErrNotFound) || err.Error() != want {
		t.Fatalf("err = %v\nwant %s", err, want)
	}
}

// A daemon started by an init script inherits the script's stdout; the
// runner must return once the script exits instead of waiting for it.
func TestExecRunnerDoesNotWaitForDaemonsHoldingPipes(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for WaitDelay (5s)")
	}
	r := NewExecRunner(ExecRunnerOptions{Timeout: time.Minute}, nil)
	res, err := r.Run(t.Context(), CmdSpec{Name: "sh", Args: []string{"-c", "sleep 8 & echo started"}})
	if err != nil || res.ExitCode != 0 || string(res.Stdout) != "started\n" {
		t.Fatalf("res=%+v err=%v", res, err)
	}
}
