package actions

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
)

// recordingRunner stands in for init systems and package managers that
// cannot run here. It records every argument vector, answers from respond
// and tracks how many commands run at once.
type recordingRunner struct {
	respond func(c CmdSpec) (CmdResult, error)
	// hold, when set, is called inside Run before answering, so a test can
	// keep a command "running".
	hold func(c CmdSpec)

	mu      sync.Mutex
	calls   []CmdSpec
	running int
	maxRun  int
}

func (r *recordingRunner) Run(ctx context.Context, c CmdSpec) (CmdResult, error) {
	r.mu.Lock()
	r.calls = append(r.calls, CmdSpec{Name: c.Name, Args: slices.Clone(c.Args), Env: slices.Clone(c.Env)})
	r.running++
	r.maxRun = max(r.maxRun, r.running)
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.running--
		r.mu.Unlock()
	}()
	if r.hold != nil {
		r.hold(c)
	}
	if r.respond != nil {
		return r.respond(c)
	}
	return CmdResult{}, nil
}

// argvs returns the recorded commands as "name arg arg" strings.
func (r *recordingRunner) argvs() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, len(r.calls))
	for i, c := range r.calls {
		out[i] = c.String()
	}
	return out
}

func (r *recordingRunner) maxConcurrent() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.maxRun
}

func assertArgvs(t *testing.T, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("commands run:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}
