//go:build !agentonly

package main

import (
	"os"
	"testing"
)

// testDir is removed when the package's tests end; tests that build
// something for all of them keep it there.
var testDir string

// TestMain gives the in-process CLI an empty config directory, so no
// credentials or keys a person left in theirs (~/.config/pulse: a demo's
// demo.creds, their id.key) take part in a test; tests pass what they mean.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "pulse-cli-test-")
	if err != nil {
		panic(err)
	}
	testDir = dir
	os.Setenv("XDG_CONFIG_HOME", dir)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
