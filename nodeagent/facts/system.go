package facts

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
)

// SystemOptions configure the System source.
type SystemOptions struct {
	// Root is where the node's filesystem is mounted: procfs is read at
	// Root/proc, sysfs at Root/sys and /etc at Root/etc. "" means "/". Any
	// other root (a testdata tree, or /host in a container watching its host)
	// also switches interfaces and addresses from the live kernel
	// (net.Interfaces) to Root/sys/class/net and Root/proc/net, so nothing
	// about the machine running the code leaks into the facts.
	Root string
	// Hostname, when set, replaces the kernel's hostname; simulated nodes and
	// tests use it.
	Hostname string
}

// System gathers facter's core facts from procfs, sysfs and /etc: hostname,
// fqdn, domain, os, kernel, kernelrelease, architecture, processorcount,
// memorysize_bytes, uptime_seconds, ipaddress, ipaddress6 and interfaces.
type System struct {
	root     string
	rooted   bool
	hostname string
}

// NewSystem returns a System source.
func NewSystem(opts SystemOptions) *System {
	root := opts.Root
	if root == "" {
		root = "/"
	}
	return &System{
		root:     root,
		rooted:   filepath.Clean(root) != "/",
		hostname: opts.Hostname,
	}
}

// Name is "system".
func (s *System) Name() string { return "system" }

// path builds a path under the root; every file the source reads goes
// through it, which is what keeps the tests off the host.
func (s *System) path(elem ...string) string {
	return filepath.Join(append([]string{s.root}, elem...)...)
}

// Gather reads every fact it can. A fact whose file is missing or garbled is
// left out and its error joined into the returned error, with the other
// facts still returned.
func (s *System) Gather(ctx context.Context) (map[string]any, error) {
	f := map[string]any{}
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	add(s.names(f))
	add(s.osFacts(f))
	add(s.kernel(f))
	add(s.cpus(f))
	add(s.memory(f))
	add(s.uptime(f))
	add(s.network(f))
	if len(errs) > 0 {
		return f, fmt.Errorf("system facts under %s: %w", s.root, errors.Join(errs...))
	}
	return f, nil
}

// readTrim reads a small file under the root and trims it.
func (s *System) readTrim(elem ...string) (string, error) {
	b, err := os.ReadFile(s.path(elem...))
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// names sets hostname (short), domain and fqdn. The domain comes from the
// hostname when it is already qualified, else from resolv.conf's "domain" or
// first "search" entry. No DNS query is made: a fact gather must not hang on
// a broken resolver, and the answer would depend on the network.
func (s *System) names(f map[string]any) error {
	name := s.hostname
	if name == "" {
		var err error
		name, err = s.readTrim("proc", "sys", "kernel", "hostname")
		if err != nil && !s.rooted {
			name, err = os.Hostname()
		}
		if err != nil {
			return fmt.Errorf("hostname: %w", err)
		}
	}
	host, domain, _ := strings.Cut(name, ".")
	if domain == "" {
		domain = s.resolvDomain()
	}
	f["hostname"] = host
	fqdn := host
	if domain != "" {
		f["domain"] = domain
		fqdn = host + "." + domain
	}
	f["fqdn"] = fqdn
	return nil
}

func (s *System) resolvDomain() string {
	b, err := os.ReadFile(s.path("etc", "resolv.conf"))
	if err != nil {
		return ""
	}
	search := ""
	for _, line := range strings.Split(string(b), "\n") {
		fields := strings.Fields(line)
		if len(fields) < 2 {
			continue
		}
		switch fields[0] {
		case "domain":
			return fields[1]
		case "search":
			if search == "" {
				search = fields[1]
			}
		}
	}
	return search
}

func (s *System) kernel(f map[string]any) error {
	var errs []error
	if v, err := s.readTrim("proc", "sys", "kernel", "ostype"); err == nil && v != "" {
		f["kernel"] = v
	} else if runtime.GOOS == "linux" {
		f["kernel"] = "Linux"
	}
	if v, err := s.readTrim("proc", "sys", "kernel", "osrelease"); err == nil {
		f["kernelrelease"] = v
	} else {
		errs = append(errs, fmt.Errorf("kernelrelease: %w", err))
	}
	// /proc/sys/kernel/arch exists since Linux 6.1; before that only uname
	// knows, and uname describes the running kernel, not a mounted root.
	arch, err := s.readTrim("proc", "sys", "kernel", "arch")
	if err != nil || arch == "" {
		arch = ""
		if !s.rooted {
			arch = unameMachine()
		}
		if arch == "" {
			arch = goarchToMachine(runtime.GOARCH)
		}
	}
	f["architecture"] = arch
	return errors.Join(errs...)
}

// goarchToMachine maps Go's architecture names to uname's, the spelling
// facter and ops people use.
func goarchToMachine(a string) string {
	switch a {
	case "amd64":
		return "x86_64"
	case "arm64":
		return "aarch64"
	case "386":
		return "i686"
	case "arm":
		return "armv7l"
	default:
		return a
	}
}

func (s *System) cpus(f map[string]any) error {
	b, err := os.ReadFile(s.path("proc", "cpuinfo"))
	if err != nil {
		return fmt.Errorf("processorcount: %w", err)
	}
	n := 0
	for _, line := range strings.Split(string(b), "\n") {
		k, _, ok := strings.Cut(line, ":")
		if ok && strings.TrimSpace(k) == "processor" {
			n++
		}
	}
	if n == 0 {
		return fmt.Errorf("processorcount: no \"processor\" lines in %s", s.path("proc", "cpuinfo"))
	}
	f["processorcount"] = float64(n)
	return nil
}

func (s *System) memory(f map[string]any) error {
	p := s.path("proc", "meminfo")
	b, err := os.ReadFile(p)
	if err != nil {
		return fmt.Errorf("memorysize_bytes: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		fields := strings.Fields(line)
		if len(fields) < 2 || fields[0] != "MemTotal:" {
			continue
		}
		kb, err := strconv.ParseUint(fields[1], 10, 64)
		if err != nil {
			return fmt.Errorf("memorysize_bytes: MemTotal in %s: %w", p, err)
		}
		// meminfo says "kB" but means KiB.
		f["memorysize_bytes"] = float64(kb * 1024)
		return nil
	}
	return fmt.Errorf("memorysize_bytes: no MemTotal line in %s", p)
}

func (s *System) uptime(f map[string]any) error {
	p := s.path("proc", "uptime")
	v, err := s.readTrim("proc", "uptime")
	if err != nil {
		return fmt.Errorf("uptime_seconds: %w", err)
	}
	first, _, _ := strings.Cut(v, " ")
	secs, err := strconv.ParseFloat(first, 64)
	if err != nil || secs < 0 || math.IsInf(secs, 0) {
		return fmt.Errorf("uptime_seconds: first field of %s is %q, want seconds", p, first)
	}
	f["uptime_seconds"] = math.Floor(secs)
	return nil
}
