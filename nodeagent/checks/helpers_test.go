package checks

import (
	"os"
	"testing"
	"time"
)

const pluginDir = "/usr/lib/nagios/plugins"

// needBinary skips (or fails under CI=true) when a binary the test is about
// is missing; make test installs monitoring-plugins-basic.
func needBinary(t testing.TB, path string) {
	t.Helper()
	if _, err := os.Stat(path); err == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is missing: install Debian package monitoring-plugins-basic", path)
	}
	t.Skipf("%s is missing: install Debian package monitoring-plugins-basic", path)
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond) // polling interval, not a wait for state
	}
}
