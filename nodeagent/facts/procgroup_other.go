//go:build !unix

package facts

import "os/exec"

// setProcessGroup has no process groups to use here; the default
// cancellation kills the direct child only.
func setProcessGroup(*exec.Cmd) {}
