package checks

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/pulseops/pulse/internal/protocol"
)

// checkLoad is the native check_load: the same flags, output, perfdata and
// states as monitoring-plugins 2.3.3's check_load, without a fork. It reads
// root/proc/loadavg and, for -r, the online CPUs from
// root/sys/devices/system/cpu/online (as glibc's sysconf does) or counts
// the cpuN lines of root/proc/stat.
func checkLoad(root string, args []string) Outcome {
	var (
		warn, crit   = [3]float64{-1, -1, -1}, [3]float64{-1, -1, -1}
		perCPU       bool
		wSet, cSet   bool
		usageErrText = "Usage:\ncheck_load [-r] -w WLOAD1,WLOAD5,WLOAD15 -c CLOAD1,CLOAD5,CLOAD15 [-n NUMBER_OF_PROCS]"
	)
	if len(args) == 0 {
		return Outcome{Status: protocol.StateUnknown, Output: "check_load: Could not parse arguments", LongOutput: usageErrText}
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		name, val, hasVal := a, "", false
		switch {
		case strings.HasPrefix(a, "--"):
			name, val, hasVal = strings.Cut(a, "=")
		case len(a) > 2 && a[0] == '-':
			name, val, hasVal = a[:2], a[2:], true
		}
		needVal := func() (string, bool) {
			if hasVal {
				return val, true
			}
			if i+1 < len(args) {
				i++
				return args[i], true
			}
			return "", false
		}
		switch name {
		case "-w", "--warning", "-c", "--critical":
			v, ok := needVal()
			th, good := loadThreshold(v)
			if !ok || !good {
				what := "Warning"
				if name == "-c" || name == "--critical" {
					what = "Critical"
				}
				return Outcome{Status: protocol.StateUnknown, Output: what + " threshold must be float or float triplet!", LongOutput: usageErrText}
			}
			if name == "-w" || name == "--warning" {
				warn, wSet = th, true
			} else {
				crit, cSet = th, true
			}
		case "-r", "--percpu":
			perCPU = true
		case "-n", "--procs-to-show":
			// Listing top processes needs ps; the builtin ignores it, which
			// only drops the long output the plugin would add.
			if _, ok := needVal(); !ok {
				return Outcome{Status: protocol.StateUnknown, Output: "check_load: option requires an argument -- 'n'", LongOutput: usageErrText}
			}
		default:
			return Outcome{Status: protocol.StateUnknown, Output: fmt.Sprintf("check_load: unrecognized option '%s'", a), LongOutput: usageErrText}
		}
	}
	for i, n := range [3]string{"1", "5", "15"} {
		if !wSet || warn[i] < 0 {
			return Outcome{Status: protocol.StateUnknown, Output: "Warning threshold must be float or float triplet!", LongOutput: usageErrText}
		}
		if !cSet || crit[i] < 0 {
			return Outcome{Status: protocol.StateUnknown, Output: "Critical threshold must be float or float triplet!", LongOutput: usageErrText}
		}
		if warn[i] > crit[i] {
			return Outcome{Status: protocol.StateUnknown, Output: fmt.Sprintf("Parameter inconsistency: %s-minute \"warning load\" is greater than \"critical load\"", n)}
		}
	}

	la, err := readLoadavg(root)
	if err != nil {
		return unknown(fmt.Sprintf("LOAD UNKNOWN - %v", err))
	}
	status := fmt.Sprintf("total load average: %.2f, %.2f, %.2f", la[0], la[1], la[2])
	var scaled [3]float64
	useScaled := false
	if perCPU {
		if n, err := onlineCPUs(root); err == nil && n > 0 {
			useScaled = true
			for i := range la {
				scaled[i] = la[i] / float64(n)
			}
			status = fmt.Sprintf("scaled load average: %.2f, %.2f, %.2f - %s", scaled[0], scaled[1], scaled[2], status)
		}
	}
	cmp := la
	if useScaled {
		cmp = scaled
	}
	state := protocol.StateOK
	for i := range cmp {
		if cmp[i] > crit[i] {
			state = protocol.StateCritical
			break
		} else if cmp[i] > warn[i] {
			state = protocol.StateWarning
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "LOAD %s - %s|", protocol.StateName(state), status)
	for i, n := range [3]int{1, 5, 15} {
		if useScaled {
			fmt.Fprintf(&b, "load%d=%.3f;;;0; scaled_load%d=%.3f;%.3f;%.3f;0; ", n, la[i], n, scaled[i], warn[i], crit[i])
		} else {
			fmt.Fprintf(&b, "load%d=%.3f;%.3f;%.3f;0; ", n, la[i], warn[i], crit[i])
		}
	}
	out, long, perf := ParseOutput([]byte(b.String()), 0)
	return Outcome{Status: state, Output: out, LongOutput: long, Perfdata: perf}
}

// loadThreshold parses "5" or "5,4,3" like check_load's get_threshold: a
// short list is padded with its last value.
func loadThreshold(s string) ([3]float64, bool) {
	var th [3]float64
	parts := strings.Split(s, ",")
	if s == "" || len(parts) > 3 {
		return th, false
	}
	for i := range th {
		p := parts[min(i, len(parts)-1)]
		v, err := strconv.ParseFloat(p, 64)
		if err != nil || !finite(p) {
			return th, false
		}
		th[i] = v
	}
	return th, true
}

func readLoadavg(root string) ([3]float64, error) {
	var la [3]float64
	path := filepath.Join(root, "proc", "loadavg")
	b, err := os.ReadFile(path)
	if err != nil {
		return la, fmt.Errorf("cannot read load average: %w", err)
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return la, fmt.Errorf("cannot parse %s: want 3 load averages, got %q", path, strings.TrimSpace(string(b)))
	}
	for i := range la {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil || v < 0 {
			return la, fmt.Errorf("cannot parse %s: load average %q is not a number", path, f[i])
		}
		la[i] = v
	}
	return la, nil
}

// onlineCPUs counts online CPUs from the sysfs list ("0-3,5"), falling back
// to the cpuN lines of /proc/stat.
func onlineCPUs(root string) (int, error) {
	if b, err := os.ReadFile(filepath.Join(root, "sys", "devices", "system", "cpu", "online")); err == nil {
		if n, err := countCPUList(strings.TrimSpace(string(b))); err == nil {
			return n, nil
		}
	}
	b, err := os.ReadFile(filepath.Join(root, "proc", "stat"))
	if err != nil {
		return 0, fmt.Errorf("cannot count CPUs: %w", err)
	}
	n := 0
	for _, line := range strings.Split(string(b), "\n") {
		if len(line) > 3 && strings.HasPrefix(line, "cpu") && line[3] >= '0' && line[3] <= '9' {
			n++
		}
	}
	return n, nil
}

func countCPUList(s string) (int, error) {
	n := 0
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			return 0, fmt.Errorf("bad cpu list %q", s)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return 0, fmt.Errorf("bad cpu list %q", s)
			}
		}
		n += b - a + 1
	}
	return n, nil
}
