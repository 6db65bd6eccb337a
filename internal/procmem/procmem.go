// Package procmem gives back to the kernel the pages of a long-running
// process's executable and libraries that it touched while starting and will
// not need again: package initialisers, flag and config parsing, and the code
// of the commands the process is not running (pulse is one binary holding
// the broker, the collector and the client as well as the agent).
//
// Only mappings that are file-backed, not writable and hold no anonymous
// (copied-on-write) pages are released. Their contents are exactly the file's,
// so the kernel maps back any page the process touches later, as it does after
// evicting them under memory pressure; nothing is lost.
package procmem

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// mapping is one entry of /proc/PID/smaps.
type mapping struct {
	start, end uintptr
	perms      string
	path       string
	rssKB      int
	anonKB     int
}

// clean reports whether releasing the mapping's pages loses nothing: it
// maps a file, cannot be written and no page of it was ever copied.
func (m mapping) clean() bool {
	return strings.HasPrefix(m.path, "/") && len(m.perms) == 4 && m.perms[1] != 'w' && m.anonKB == 0
}

// parseSmaps reads the mappings of /proc/PID/smaps with their Rss and
// Anonymous sizes.
func parseSmaps(r io.Reader) ([]mapping, error) {
	var (
		out []mapping
		cur *mapping
	)
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if lo, hi, ok := strings.Cut(fields[0], "-"); ok && len(fields) >= 5 {
			start, err1 := strconv.ParseUint(lo, 16, 64)
			end, err2 := strconv.ParseUint(hi, 16, 64)
			if err1 != nil || err2 != nil {
				return nil, fmt.Errorf("smaps: bad address range %q", fields[0])
			}
			// anonKB stays -1 (not clean) unless smaps says how much is copied.
			m := mapping{start: uintptr(start), end: uintptr(end), perms: fields[1], anonKB: -1}
			if len(fields) >= 6 {
				m.path = strings.Join(fields[5:], " ")
			}
			out = append(out, m)
			cur = &out[len(out)-1]
			continue
		}
		if cur == nil || len(fields) < 2 {
			continue
		}
		switch fields[0] {
		case "Rss:":
			cur.rssKB, _ = strconv.Atoi(fields[1])
		case "Anonymous:":
			if n, err := strconv.Atoi(fields[1]); err == nil {
				cur.anonKB = n
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read smaps: %w", err)
	}
	return out, nil
}
