package facts

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/pulseops/pulse/nodeagent/internal/childproc"
)

// DefaultExternalTimeout bounds one external-fact executable when the
// caller gives no timeout.
const DefaultExternalTimeout = 10 * time.Second

// maxOutput bounds what one executable may print; anything beyond it is an
// error rather than memory the agent keeps.
const maxOutput = 1 << 20

// ExternalDir is facter's facts.d: every file directly in the directory is a
// source of facts. Static .yaml/.yml/.json files are parsed as fact files,
// .txt files as key=value lines, and any other file with an execute bit is
// run (argument vector, no shell, no arguments) and its stdout parsed as a
// JSON object or key=value lines. Files are merged in name order, so
// "99-override.txt" wins over "10-base.yaml".
type ExternalDir struct {
	dir     string
	timeout time.Duration
	log     *slog.Logger
}

// NewExternalDir returns a source for dir. timeout bounds each executable
// (DefaultExternalTimeout when <= 0); a slow one is killed with its whole
// process group. log receives one line per failed file.
func NewExternalDir(dir string, timeout time.Duration, log *slog.Logger) *ExternalDir {
	if timeout <= 0 {
		timeout = DefaultExternalTimeout
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &ExternalDir{dir: dir, timeout: timeout, log: log.With("component", "facts.external", "dir", dir)}
}

// Name is "external:" and the directory.
func (d *ExternalDir) Name() string { return "external:" + d.dir }

// Gather reads every file. A missing directory is no facts and no error, as
// most nodes have no facts.d. A file that fails is logged and its error
// joined into the returned one; the other files' facts are still returned.
// Executables run concurrently, each under its own timeout, so one slow
// script costs one timeout, not one per script.
func (d *ExternalDir) Gather(ctx context.Context) (map[string]any, error) {
	entries, err := os.ReadDir(d.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]any{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("external facts: %w", err)
	}
	type result struct {
		facts map[string]any
		err   error
	}
	results := make([]result, len(entries))
	var wg sync.WaitGroup
	for i, e := range entries {
		// Names come from ReadDir, so they never contain a separator and
		// the joined path stays inside dir.
		name := e.Name()
		path := filepath.Join(d.dir, name)
		if strings.HasPrefix(name, ".") || strings.HasSuffix(name, "~") {
			d.log.Debug("ignoring hidden or backup file", "file", path)
			continue
		}
		info, err := os.Stat(path) // follows symlinks, as facter does
		if err != nil {
			results[i].err = fmt.Errorf("external fact %s: %w", path, err)
			continue
		}
		if !info.Mode().IsRegular() {
			d.log.Debug("ignoring non-regular file", "file", path)
			continue
		}
		switch strings.ToLower(filepath.Ext(name)) {
		case ".yaml", ".yml", ".json", ".txt":
			results[i].facts, results[i].err = readStatic(path)
			continue
		}
		if info.Mode().Perm()&0o111 == 0 {
			d.log.Debug("ignoring file that is neither a known fact file nor executable", "file", path)
			continue
		}
		wg.Go(func() {
			results[i].facts, results[i].err = d.run(ctx, path)
		})
	}
	wg.Wait()

	out := map[string]any{}
	var errs []error
	for i, r := range results {
		if r.err != nil {
			d.log.Warn("external fact failed; its facts are left out", "file", entries[i].Name(), "err", r.err)
			errs = append(errs, r.err)
			continue
		}
		for k, v := range r.facts {
			out[k] = v
		}
	}
	return out, errors.Join(errs...)
}

func readStatic(path string) (map[string]any, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("external fact: %w", err)
	}
	if strings.EqualFold(filepath.Ext(path), ".txt") {
		return parseKeyValue(path, b)
	}
	return parseFactFile(path, b)
}

// run executes path with no arguments in its own process group, so a
// timeout kills what the script started as well as the script itself.
func (d *ExternalDir) run(parent context.Context, path string) (map[string]any, error) {
	ctx, cancel := context.WithTimeout(parent, d.timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path)
	cmd.Dir = d.dir
	stdout, stderr := childproc.Buffer{Max: maxOutput}, childproc.Buffer{Max: 4096}
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	childproc.KillGroupOnCancel(cmd)
	// A grandchild that escaped the group could hold stdout open forever;
	// WaitDelay makes Wait give up on the pipes shortly after the kill.
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	if err != nil && ctx.Err() != nil {
		if parent.Err() != nil {
			return nil, fmt.Errorf("external fact %s: stopped because the gather was cancelled: %w", path, parent.Err())
		}
		return nil, fmt.Errorf("external fact %s: killed after %s timeout; make it faster or raise the timeout: %w", path, d.timeout, ctx.Err())
	}
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg != "" {
			return nil, fmt.Errorf("external fact %s: %w: %s", path, err, truncate(msg, 200))
		}
		return nil, fmt.Errorf("external fact %s: %w", path, err)
	}
	if stdout.Truncated() {
		return nil, fmt.Errorf("external fact %s: printed more than %d bytes", path, maxOutput)
	}
	return parseExecOutput(path, stdout.Bytes())
}

// parseExecOutput accepts what facter accepts from executables that pulse
// can parse without guessing: a JSON object, or key=value lines.
func parseExecOutput(path string, b []byte) (map[string]any, error) {
	t := bytes.TrimSpace(b)
	if len(t) > 0 && t[0] == '{' {
		var m map[string]any
		if err := json.Unmarshal(t, &m); err != nil {
			return nil, fmt.Errorf("external fact %s: output looks like JSON but is not: %w", path, err)
		}
		return normalizeMap(m), nil
	}
	return parseKeyValue(path, b)
}
