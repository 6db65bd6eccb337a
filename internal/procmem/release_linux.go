package procmem

import (
	"fmt"
	"os"
	"syscall"
)

// ReleaseCode releases the resident pages of the process's clean, read-only
// file mappings (see the package comment) and returns how many kilobytes
// were resident in them before.
func ReleaseCode() (int, error) {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return 0, fmt.Errorf("release code pages: %w", err)
	}
	maps, err := parseSmaps(f)
	f.Close()
	if err != nil {
		return 0, fmt.Errorf("release code pages: %w", err)
	}
	released := 0
	for _, m := range maps {
		if !m.clean() || m.rssKB == 0 {
			continue
		}
		// A mapping the kernel refuses (locked, say) keeps its pages.
		if _, _, errno := syscall.Syscall(syscall.SYS_MADVISE, m.start, m.end-m.start, syscall.MADV_DONTNEED); errno == 0 {
			released += m.rssKB
		}
	}
	return released, nil
}
