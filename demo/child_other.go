//go:build !linux

package demo

import (
	"os/exec"
	"syscall"
)

// startChild starts a process in its own process group. Outside Linux
// there is no parent-death signal: a demo killed with SIGKILL leaves it
// running, and the next demo reports it by its address.
func startChild(cmd *exec.Cmd) error {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd.Start()
}
