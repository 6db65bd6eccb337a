package demo

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// portOwner finds the process listening on addr's TCP port in this network
// namespace, from /proc/net/tcp{,6} and the sockets in /proc/*/fd, and
// returns its PID and command line. It returns 0 when it cannot tell (the
// process belongs to another user, or /proc is not mounted).
func portOwner(addr string) (int, string) {
	_, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return 0, ""
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return 0, ""
	}
	inodes := map[string]bool{}
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		listeningInodes(table, port, inodes)
	}
	if len(inodes) == 0 {
		return 0, ""
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/fd/*")
	for _, fd := range procs {
		link, err := os.Readlink(fd)
		if err != nil || !strings.HasPrefix(link, "socket:[") {
			continue
		}
		if inodes[strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]")] {
			pid, _ := strconv.Atoi(strings.Split(fd, "/")[2])
			return pid, commandLine(pid)
		}
	}
	return 0, ""
}

// listeningInodes adds the inodes of the sockets listening on port in one
// of the kernel's TCP tables.
func listeningInodes(table string, port int, into map[string]bool) {
	f, err := os.Open(table)
	if err != nil {
		return
	}
	defer f.Close()
	want := fmt.Sprintf(":%04X", port)
	sc := bufio.NewScanner(f)
	sc.Scan() // the header
	for sc.Scan() {
		// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
		fields := strings.Fields(sc.Text())
		if len(fields) >= 10 && fields[3] == "0A" && strings.HasSuffix(fields[1], want) {
			into[fields[9]] = true
		}
	}
}

// commandLine is a process's command line, spaces between its arguments,
// shortened for a message.
func commandLine(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return "?"
	}
	s := strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " "))
	if len(s) > 160 {
		s = s[:160] + "..."
	}
	return s
}

// alive reports whether c still runs: its PID exists and runs the same
// program, not a process that took the PID over since.
func alive(c Child) bool {
	return syscall.Kill(c.PID, 0) == nil && strings.Contains(commandLine(c.PID), c.Name)
}
