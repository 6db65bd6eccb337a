package demo

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/pulseops/pulse/internal/security"
)

// Files a demo keeps in the user's config directory (~/.config/pulse) for
// the CLI, beside the user's own key.
const (
	// TokenFileName holds the action API's bearer token, which
	// `pulse remediations` and `pulse watch` find by themselves.
	TokenFileName = "demo.token"
	// lockFileName is held (flock) by the demo that owns the key and token
	// files, for as long as it runs; the kernel lets go of it however the
	// demo ends.
	lockFileName = "demo.lock"
	// instanceFileName says which demo owns them and where it runs.
	instanceFileName = "demo.json"
)

// Instance is what a running demo tells the next one about itself.
type Instance struct {
	PID       int       `json:"pid"`
	Started   time.Time `json:"started"`
	NATS      string    `json:"nats"`
	Collector string    `json:"collector,omitempty"`
	Dir       string    `json:"dir"`
	Children  []Child   `json:"children,omitempty"`
}

// Child is a process a demo started.
type Child struct {
	Name string `json:"name"`
	PID  int    `json:"pid"`
	Addr string `json:"addr"`
}

// String names the demo for messages.
func (in *Instance) String() string {
	s := fmt.Sprintf("pid %d, started %s, NATS %s", in.PID, in.Started.Local().Format("15:04:05"), in.NATS)
	if in.Collector != "" {
		s += ", collector " + in.Collector
	}
	return s + ", files in " + in.Dir
}

// lease is a demo's hold on the user's demo files: the key the CLI signs
// with, the token and the instance file. Only the holder writes or removes
// them, so a second demo can never overwrite or delete the first one's.
type lease struct {
	dir  string
	lock *os.File
}

// claim takes the demo files of dir for this process. When another running
// demo holds them it returns that demo instead (from its instance file) and
// no lease. previous is what a demo that no longer runs left behind, if
// anything: it did not stop cleanly.
func claim(dir string) (l *lease, holder, previous *Instance, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, nil, fmt.Errorf("demo files: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, lockFileName), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("demo lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, nil, nil, fmt.Errorf("demo lock %s: %w", f.Name(), err)
		}
		holder, _ := readInstance(dir)
		if holder == nil {
			// It has not written its instance file yet.
			holder = &Instance{Dir: dir}
		}
		return nil, holder, nil, nil
	}
	previous, _ = readInstance(dir)
	// A token a killed demo left would send the CLI to a collector that
	// is gone; this demo writes its own if it has one.
	_ = os.Remove(filepath.Join(dir, TokenFileName))
	return &lease{dir: dir, lock: f}, nil, previous, nil
}

// peek tells, without writing anything, which running demo owns the files
// of dir (holder) and what a demo that no longer runs left there
// (previous). An empty dir has neither.
func peek(dir string) (holder, previous *Instance) {
	if dir == "" {
		return nil, nil
	}
	in, _ := readInstance(dir)
	f, err := os.Open(filepath.Join(dir, lockFileName))
	if err != nil {
		return nil, in
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err != nil {
		if in == nil {
			in = &Instance{Dir: dir}
		}
		return in, nil
	}
	return nil, in
}

// running are the children of a demo that no longer runs which still do.
func (in *Instance) running() []Child {
	if in == nil {
		return nil
	}
	var out []Child
	for _, c := range in.Children {
		if alive(c) {
			out = append(out, c)
		}
	}
	return out
}

// readInstance reads the instance file of the demo files in dir.
func readInstance(dir string) (*Instance, error) {
	b, err := os.ReadFile(filepath.Join(dir, instanceFileName))
	if err != nil {
		return nil, err
	}
	var in Instance
	if err := json.Unmarshal(b, &in); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, instanceFileName), err)
	}
	return &in, nil
}

// record writes the instance file, whole or not at all.
func (l *lease) record(in *Instance) error {
	b, err := json.MarshalIndent(in, "", "  ")
	if err != nil {
		return err
	}
	return writeFile(filepath.Join(l.dir, instanceFileName), string(b)+"\n")
}

// writeToken leaves the action API's token where the CLI finds it.
func (l *lease) writeToken(token string) error {
	path := filepath.Join(l.dir, TokenFileName)
	if err := os.WriteFile(path+".tmp", []byte(token+"\n"), 0o600); err != nil {
		return err
	}
	return os.Rename(path+".tmp", path)
}

// release removes the files this demo wrote and lets go of the lock.
func (l *lease) release() {
	for _, name := range []string{instanceFileName, TokenFileName, security.DemoCredsFileName} {
		_ = os.Remove(filepath.Join(l.dir, name))
	}
	_ = l.lock.Close() // closing the descriptor drops the flock
}
