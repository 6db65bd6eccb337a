package bench

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/pulseops/pulse/internal/broker"
)

// natsServer is the broker a fleet size runs against, wherever it lives.
type natsServer struct {
	url  string
	kind string // embedded, process, external
	pid  int    // the child's pid when kind is "process"
	stop func()
}

// startBroker picks where the broker runs: the given URL, in this process
// when the fleet fits beside it, or in a child process otherwise.
// auth, when set, is the nats-server configuration of a secured run.
func startBroker(opts *Options, n int, dir, auth string) (*natsServer, error) {
	if opts.NATSURL != "" {
		return &natsServer{url: opts.NATSURL, kind: "external", stop: func() {}}, nil
	}
	if n <= opts.EmbeddedMax {
		b, err := broker.Start(broker.Options{Port: -1, JetStreamDir: dir, ConfigFile: auth, Logger: opts.Logger})
		if err != nil {
			return nil, fmt.Errorf("start embedded broker: %w", err)
		}
		return &natsServer{url: b.ClientURL(), kind: "embedded", stop: b.Shutdown}, nil
	}
	if opts.BrokerCommand == nil {
		return nil, fmt.Errorf("%d nodes is more than the %d an embedded broker allows: %w", n, opts.EmbeddedMax, errTooManyFiles)
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	cmd := opts.BrokerCommand(addr, dir, auth)
	cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start broker process %v: %w", cmd.Args, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		select {
		case err := <-exited:
			return nil, fmt.Errorf("broker process %v exited before accepting clients on %s: %v", cmd.Args, addr, err)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			stop()
			return nil, fmt.Errorf("broker process %v did not accept clients on %s within 15s", cmd.Args, addr)
		}
	}
	fmt.Fprintf(opts.Out, "started broker in another process (pid %d, nats://%s): %d agents need %d file descriptors beside an embedded broker, and this process may hold %d\n",
		cmd.Process.Pid, addr, n, 2*n, maxFiles())
	return &natsServer{url: "nats://" + addr, kind: "process", pid: cmd.Process.Pid, stop: stop}, nil
}

// freeAddr asks the kernel for a free loopback port. Another process could
// take it before the broker binds; the broker then fails loudly.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free loopback port for the broker: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func maxFiles() uint64 {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0
	}
	return r.Cur
}

var errNoProc = errors.New("no /proc status")
