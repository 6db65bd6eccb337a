//go:build !agentonly

package main

import (
	"os"
	"testing"
)

// TestMain gives the in-process CLI an empty config directory, so no
// credentials or keys a person left in theirs (~/.config/pulse: a demo's
// demo.creds, their id.key) take part in a test; tests pass what they mean.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "pulse-cli-test-")
	if err != nil {
		panic(err)
	}
	os.Setenv("XDG_CONFIG_HOME", dir)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
