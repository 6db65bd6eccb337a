//go:build !unix

package childproc

import "os/exec"

// KillGroupOnCancel has no process groups to use here; the default
// cancellation kills the direct child only.
func KillGroupOnCancel(*exec.Cmd) {}
