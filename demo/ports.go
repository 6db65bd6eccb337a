package demo

import (
	"cmp"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// listenAddr is one address the demo will listen on, with the flag that
// changes it.
type listenAddr struct {
	what, flag, addr string
}

// addrs are the fixed addresses this demo will listen on; ":0" and port -1
// pick free ones and need no check.
func (o Options) addrs() ([]listenAddr, error) {
	var out []listenAddr
	add := func(what, flag, addr string) {
		if _, port, err := net.SplitHostPort(addr); err == nil && port != "0" && port != "-1" {
			out = append(out, listenAddr{what, flag, addr})
		}
	}
	add("NATS", "--listen", net.JoinHostPort(o.NATSHost, strconv.Itoa(o.NATSPort)))
	if o.CollectorAddr != "" {
		add("the collector", "--http", o.CollectorAddr)
		prom, err := FindBinary(o.Prometheus, "prometheus")
		if err != nil {
			return nil, err
		}
		am, err := FindBinary(o.Alertmanager, "prometheus-alertmanager", "alertmanager")
		if err != nil {
			return nil, err
		}
		if prom != "" {
			add("prometheus", "--prometheus-listen (or --prometheus off)", cmp.Or(o.PrometheusAddr, "127.0.0.1:9090"))
		}
		if am != "" {
			add("alertmanager", "--alertmanager-listen (or --alertmanager off)", cmp.Or(o.AlertmanagerAddr, "127.0.0.1:9093"))
		}
	}
	if o.ShopAddr != "" {
		add("the demo shop", "--shop-listen", o.ShopAddr)
	}
	return out, nil
}

// checkPorts tries every fixed address before the demo writes anything, and
// says who holds a taken one: the demo that is running (holder), a child an
// earlier demo left behind (previous, or found by its command line), or
// another process, each with its PID where the system tells.
func (o Options) checkPorts(holder, previous *Instance) error {
	addrs, err := o.addrs()
	if err != nil {
		return err
	}
	var errs []error
	var holders []string
	for _, a := range addrs {
		ln, err := net.Listen("tcp", a.addr)
		if err == nil {
			ln.Close()
			continue
		}
		pid, cmdline := portOwner(a.addr)
		if holder != nil && (pid != 0 && (pid == holder.PID || holder.child(pid) != nil) || pid == 0 && holder.uses(a.addr)) {
			holders = append(holders, fmt.Sprintf("%s %s (%s)", a.what, a.addr, a.flag))
			continue
		}
		errs = append(errs, takenError(a, err, pid, cmdline, previous))
	}
	if len(holders) > 0 {
		errs = append([]error{fmt.Errorf("a pulse demo is already running (%s) on what this one would use: %s; use that demo, stop it (kill %d), or give this one other addresses with those flags",
			holder, strings.Join(holders, ", "), holder.PID)}, errs...)
	}
	return errors.Join(errs...)
}

func takenError(a listenAddr, err error, pid int, cmdline string, previous *Instance) error {
	what := fmt.Sprintf("%s address %s", a.what, a.addr)
	if pid == 0 {
		return fmt.Errorf("%s is not free (%v): stop what holds it, or choose another with %s", what, err, a.flag)
	}
	if c := previous.child(pid); c != nil || strings.Contains(cmdline, "/pulse-demo-") {
		name := a.what
		if c != nil {
			name = c.Name
		}
		return fmt.Errorf("%s is taken by pid %d (%s), a %s an earlier pulse demo started and left running when it did not stop cleanly: stop it (kill %d), or use %s",
			what, pid, cmdline, name, pid, a.flag)
	}
	return fmt.Errorf("%s is taken by pid %d (%s): stop it, or choose another address with %s", what, pid, cmdline, a.flag)
}

// uses reports whether the demo said it listens on addr.
func (in *Instance) uses(addr string) bool {
	if strings.HasSuffix(in.NATS, "//"+addr) || strings.Contains(in.Collector, "//"+addr+"/") || strings.HasSuffix(in.Collector, "//"+addr) {
		return true
	}
	for _, c := range in.Children {
		if c.Addr == addr {
			return true
		}
	}
	return false
}

// child finds a child of the demo by PID; nil-safe.
func (in *Instance) child(pid int) *Child {
	if in == nil || pid == 0 {
		return nil
	}
	for i := range in.Children {
		if in.Children[i].PID == pid {
			return &in.Children[i]
		}
	}
	return nil
}
