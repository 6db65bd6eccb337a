// Package testkit holds what the tests of several packages share: finding
// the real binaries they drive, a free port, waiting for state, and a buffer
// that goroutines may log into while the test reads it. Only tests import it.
package testkit

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

// NeedBinary returns the path of name, a command on PATH or an absolute
// path. When it is missing the test fails under CI=true, where `make test`
// has installed the Debian package pkg, and is skipped elsewhere.
func NeedBinary(t testing.TB, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s not found: install the Debian package %s (make test does)", name, pkg)
	}
	t.Skipf("%s not found: install the Debian package %s to run this test", name, pkg)
	return ""
}

// NeedRoot fails the test under CI=true, and skips it elsewhere, unless it
// runs as root; why says what for ("to drive service(8)").
func NeedRoot(t testing.TB, why string) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("this test must run as root %s (make test runs as root in CI)", why)
	}
	t.Skipf("needs root %s", why)
}

// RealPart returns the path of prometheus, promtool, alertmanager or amtool
// as `make test-deps` builds them (scripts/real-parts.sh): the releases
// docker-compose.yml runs, in .cache/realparts/bin of the repository (or
// $PULSE_REALPARTS/bin). Debian's older packages on PATH are never used in
// their place. A missing one fails the test under CI=true and skips it
// elsewhere.
func RealPart(t testing.TB, name string) string {
	t.Helper()
	p := filepath.Join(RealPartsDir(), "bin", name)
	if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s not found at %s: run `make test-deps` (scripts/real-parts.sh build), which builds it from its Go module", name, p)
	}
	t.Skipf("%s not found at %s: run `make test-deps` to build it", name, p)
	return ""
}

// RealPartsDir is where scripts/real-parts.sh keeps what it builds:
// $PULSE_REALPARTS, or .cache/realparts at the root of the module the
// test runs in.
func RealPartsDir() string {
	if d := os.Getenv("PULSE_REALPARTS"); d != "" {
		return d
	}
	dir, err := os.Getwd()
	if err != nil {
		return ".cache/realparts"
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, ".cache", "realparts")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ".cache/realparts"
		}
		dir = parent
	}
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// FreeAddr is FreePort as a host:port on the loopback address.
func FreeAddr(t testing.TB) string {
	t.Helper()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(FreePort(t)))
}

// WaitFor polls cond until it holds, and fails the test if it does not
// within timeout. Tests wait for state this way, not by sleeping a guess.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond) // polling interval, bounded by the deadline
	}
}

// SyncBuffer is a bytes.Buffer that is safe to write from several
// goroutines (a logger's) while the test reads it.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
