// Package hostlock serialises tests in different packages that drive the
// same thing on the host (the real nginx through service(8), apt): go test
// runs packages in parallel, and two tests stopping one nginx would fail
// each other. It is for tests only and never used by pulse itself.
package hostlock

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// Lock holds an exclusive lock on name until t ends.
func Lock(t testing.TB, name string) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(os.TempDir(), "pulse-test-"+name+".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatalf("host lock %s: %v", name, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		t.Fatalf("host lock %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	})
}
