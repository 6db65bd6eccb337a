package demo

import (
	"os/exec"
	"runtime"
	"sync"
	"syscall"
)

// startChild starts a process that dies with the demo however the demo
// ends, SIGKILL included: Linux sends it SIGKILL when its parent dies.
//
// The kernel sends that signal when the thread that started the child
// exits, not the process, and Go ends a thread when a goroutine locked to
// it returns. So every child is started from one goroutine that locks its
// thread and never returns.
func startChild(cmd *exec.Cmd) error {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	done := make(chan error)
	spawner() <- spawnRequest{cmd, done}
	return <-done
}

type spawnRequest struct {
	cmd  *exec.Cmd
	done chan error
}

var spawner = sync.OnceValue(func() chan spawnRequest {
	ch := make(chan spawnRequest)
	go func() {
		runtime.LockOSThread()
		for r := range ch {
			r.done <- r.cmd.Start()
		}
	}()
	return ch
})
