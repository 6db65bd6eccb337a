//go:build !agentonly

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// pulseCommand is how to run this pulse from another terminal, for the
// commands the demo suggests: "pulse" when that is this binary on PATH,
// the go run form when go run built it, else the binary's own path.
func pulseCommand() string {
	exe, err := os.Executable()
	if err != nil {
		return "pulse"
	}
	cwd, _ := os.Getwd()
	return invocation(exe, cwd, exec.LookPath)
}

// invocation decides pulseCommand for the binary exe started in cwd.
func invocation(exe, cwd string, lookPath func(string) (string, error)) string {
	// go run links into a temporary go-build directory, or runs a copy
	// kept in the build cache (GOCACHE, .../go-build/); either way only go
	// run itself can run it again. It was started from the module root
	// (./cmd/pulse) or from cmd/pulse.
	if strings.Contains(exe, string(filepath.Separator)+"go-build") {
		if fileExists(filepath.Join(cwd, "cmd", "pulse", "main.go")) || !fileExists(filepath.Join(cwd, "main.go")) {
			return "go run ./cmd/pulse"
		}
		return "go run ."
	}
	if p, err := lookPath("pulse"); err == nil && sameFile(p, exe) {
		return "pulse"
	}
	return exe
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func sameFile(a, b string) bool {
	fa, err := os.Stat(a)
	if err != nil {
		return false
	}
	fb, err := os.Stat(b)
	return err == nil && os.SameFile(fa, fb)
}
