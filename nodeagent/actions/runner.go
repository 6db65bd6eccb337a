package actions

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/pulseops/pulse/nodeagent/internal/childproc"
)

// CmdSpec is one command a provider wants run: a program and its argument
// vector. There is deliberately no way to ask for a shell.
type CmdSpec struct {
	// Name is the program, looked up in the runner's search path unless it
	// contains a slash.
	Name string
	Args []string
	// Env holds extra KEY=VALUE pairs added to the runner's base environment.
	Env []string
}

// String renders the command for logs and error messages.
func (c CmdSpec) String() string {
	return strings.Join(append([]string{c.Name}, c.Args...), " ")
}

// CmdResult is what a finished command left behind. A non-zero exit code is
// not an error of the runner: providers decide what each code means (LSB
// status 3, for instance, is "stopped", not a failure).
type CmdResult struct {
	ExitCode  int
	Stdout    []byte
	Stderr    []byte
	Truncated bool
}

// CmdRunner runs commands for providers. It is an interface so tests can
// capture argument vectors for init systems that cannot run here.
type CmdRunner interface {
	Run(ctx context.Context, c CmdSpec) (CmdResult, error)
}

// DefaultSearchPath is where an ExecRunner looks for programs. It is fixed
// rather than taken from the agent's environment so that a daemon started
// with an odd PATH still finds apt-get and cannot be steered elsewhere.
const DefaultSearchPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// ExecRunnerOptions configures an ExecRunner; zero values take defaults.
type ExecRunnerOptions struct {
	// Timeout bounds each command (default 10 minutes, long enough for a
	// package download on a slow mirror).
	Timeout time.Duration
	// MaxOutput bounds what is kept of stdout and of stderr (default 1 MiB
	// each); the rest is dropped and CmdResult.Truncated set.
	MaxOutput int
	// SearchPath is a colon-separated list of directories (default
	// DefaultSearchPath). It is also the child's PATH.
	SearchPath string
}

// ExecRunner runs commands with os/exec: an argument vector, never a shell,
// a timeout, a minimal environment and bounded output capture.
type ExecRunner struct {
	timeout    time.Duration
	maxOutput  int
	searchPath string
	log        *slog.Logger
}

// NewExecRunner returns an ExecRunner with opts applied over the defaults.
func NewExecRunner(opts ExecRunnerOptions, log *slog.Logger) *ExecRunner {
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Minute
	}
	if opts.MaxOutput <= 0 {
		opts.MaxOutput = 1 << 20
	}
	if opts.SearchPath == "" {
		opts.SearchPath = DefaultSearchPath
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &ExecRunner{
		timeout:    opts.Timeout,
		maxOutput:  opts.MaxOutput,
		searchPath: opts.SearchPath,
		log:        log.With("component", "actions.runner"),
	}
}

// Run runs c and waits for it. The error is non-nil only when the command
// could not be started, was killed by the timeout or ctx, or its exit status
// could not be read.
func (r *ExecRunner) Run(ctx context.Context, c CmdSpec) (CmdResult, error) {
	path, err := r.lookPath(c.Name)
	if err != nil {
		return CmdResult{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()

	cmd := exec.CommandContext(ctx, path, c.Args...)
	// A fixed, small environment: C locale so output parses the same
	// everywhere, and nothing of the agent's own environment leaks in.
	cmd.Env = append([]string{"PATH=" + r.searchPath, "LC_ALL=C", "LANG=C"}, c.Env...)
	cmd.Dir = "/"
	stdout := &childproc.Buffer{Max: r.maxOutput}
	stderr := &childproc.Buffer{Max: r.maxOutput}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	// Init scripts start daemons that may keep our pipes open; stop waiting
	// for them a little after the script itself has exited.
	cmd.WaitDelay = 5 * time.Second

	r.log.Debug("running command", "cmd", c.String())
	err = cmd.Run()
	res := CmdResult{
		Stdout:    stdout.Bytes(),
		Stderr:    stderr.Bytes(),
		Truncated: stdout.Truncated() || stderr.Truncated(),
	}
	if cmd.ProcessState != nil {
		res.ExitCode = cmd.ProcessState.ExitCode()
	}
	switch {
	case err == nil:
		return res, nil
	case ctx.Err() != nil:
		return res, fmt.Errorf("run %s: stopped after %s: %w", c, r.timeout, ctx.Err())
	case errors.Is(err, exec.ErrWaitDelay) && cmd.ProcessState != nil && cmd.ProcessState.Exited():
		// The command finished; only a daemon it started kept the pipes.
		return res, nil
	}
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) && exitErr.Exited() {
		return res, nil
	}
	return res, fmt.Errorf("run %s: %w", c, err)
}

// lookPath finds name in the runner's search path, not the agent's PATH.
func (r *ExecRunner) lookPath(name string) (string, error) {
	if name == "" {
		return "", errors.New("run: empty program name")
	}
	if strings.Contains(name, "/") {
		return name, nil
	}
	for _, dir := range filepath.SplitList(r.searchPath) {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("run %s: %w: not found in %s; install it or configure another provider", name, exec.ErrNotFound, r.searchPath)
}

// outputTail returns the last few lines of a command's combined output,
// trimmed, for error messages people read.
func outputTail(res CmdResult) string {
	s := strings.TrimSpace(string(res.Stderr))
	if s == "" {
		s = strings.TrimSpace(string(res.Stdout))
	}
	lines := strings.Split(s, "\n")
	if len(lines) > 4 {
		lines = lines[len(lines)-4:]
	}
	s = strings.Join(lines, " / ")
	if len(s) > 600 {
		s = "..." + s[len(s)-600:]
	}
	return s
}

// runOK runs c and turns a non-zero exit into an error naming the command,
// its exit code and the end of its output.
func runOK(ctx context.Context, r CmdRunner, c CmdSpec) (CmdResult, error) {
	res, err := r.Run(ctx, c)
	if err != nil {
		return res, err
	}
	if res.ExitCode != 0 {
		return res, fmt.Errorf("%s exited with status %d: %s", c, res.ExitCode, outputTail(res))
	}
	return res, nil
}
