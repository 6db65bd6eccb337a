package checks

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"github.com/pulseops/pulse/internal/protocol"
	"github.com/pulseops/pulse/nodeagent/internal/childproc"
)

// RunPlugin executes argv directly (never through a shell) and maps the
// result the Nagios way: exit 0/1/2/3 → OK/WARNING/CRITICAL/UNKNOWN, any
// other exit, a signal, a failure to start or a timeout → UNKNOWN. The
// plugin runs in its own process group and the whole group is killed on
// timeout, so a plugin's children cannot outlive it. A timeout <= 0 means
// DefaultTimeout.
func RunPlugin(ctx context.Context, argv []string, timeout time.Duration) Outcome {
	return runPlugin(ctx, argv, timeout, DefaultMaxOutput)
}

func runPlugin(ctx context.Context, argv []string, timeout time.Duration, maxBytes int) Outcome {
	start := time.Now()
	o := execPlugin(ctx, argv, timeout, maxBytes)
	o.Duration = time.Since(start)
	return o
}

func execPlugin(ctx context.Context, argv []string, timeout time.Duration, maxBytes int) Outcome {
	if len(argv) == 0 || argv[0] == "" {
		return unknown("cannot run plugin: empty command")
	}
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	if maxBytes <= 0 {
		maxBytes = DefaultMaxOutput
	}
	tctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	cmd := exec.CommandContext(tctx, argv[0], argv[1:]...)
	childproc.KillGroupOnCancel(cmd)
	// A grandchild that escaped the group (setsid) could hold the pipes
	// open forever; stop waiting for it shortly after the kill.
	cmd.WaitDelay = time.Second
	stdout := &childproc.Buffer{Max: maxBytes + 1}
	stderr := &childproc.Buffer{Max: maxBytes + 1}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C"}

	err := cmd.Run()
	switch {
	case errors.Is(tctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil:
		return unknown(fmt.Sprintf("check timed out after %s", timeout))
	case ctx.Err() != nil:
		return unknown(fmt.Sprintf("check cancelled: %v", ctx.Err()))
	}
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		return unknown(fmt.Sprintf("cannot run plugin %s: %v", argv[0], err))
	}

	o := Outcome{}
	o.Output, o.LongOutput, o.Perfdata = ParseOutput(stdout.Bytes(), maxBytes)
	if strings.TrimSpace(stdout.String()) == "" {
		o.Output = "(No output on stdout)"
		if e := strings.TrimSpace(strings.ToValidUTF8(stderr.String(), "\uFFFD")); e != "" {
			o.LongOutput = "stderr: " + e
		}
	}
	code := cmd.ProcessState.ExitCode()
	switch {
	case code >= protocol.StateOK && code <= protocol.StateUnknown:
		o.Status = code
	case code < 0:
		o.Status = protocol.StateUnknown
		o.LongOutput = appendLine(o.LongOutput, fmt.Sprintf("(plugin %s: %s)", argv[0], cmd.ProcessState.String()))
	default:
		o.Status = protocol.StateUnknown
		o.LongOutput = appendLine(o.LongOutput, fmt.Sprintf("(Return code of %d is out of bounds)", code))
	}
	return o
}

func appendLine(s, line string) string {
	if s == "" {
		return line
	}
	return s + "\n" + line
}
