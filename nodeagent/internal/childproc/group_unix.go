//go:build unix

package childproc

import (
	"os/exec"
	"syscall"
)

// KillGroupOnCancel starts cmd as the leader of a new process group and
// makes cancellation kill the whole group, so "sleep 600 &" inside a plugin
// or fact script does not outlive its timeout.
func KillGroupOnCancel(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}
