package bench

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// cpuUsed is the CPU time this process and, when it runs apart, the broker
// (brokerPID, 0 when embedded) have used so far. A round's share of it is
// the work pulse or the raw baseline did, whatever else the machine runs,
// where the round's wall time grows with every other process that wants
// the same cores.
func cpuUsed(brokerPID int) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	d := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	if brokerPID != 0 {
		d += procCPU(brokerPID)
	}
	return d
}

// clockTick is USER_HZ, the unit of /proc/<pid>/stat's CPU times; Linux
// exports 100 on every architecture pulse builds for.
const clockTick = 100

// procCPU reads the user and system time of another process.
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name (field 2) may hold spaces; the fields after it
	// start past its closing parenthesis. utime and stime are fields 14
	// and 15, the 12th and 13th after it.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	k, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+k) * time.Second / clockTick
}
