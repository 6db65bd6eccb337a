package procmem

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

const smaps = `00400000-011b5000 r-xp 00000000 fe:00 9986145                            /usr/bin/pulse
Rss:                7812 kB
Anonymous:             0 kB
011b5000-01f2a000 r--p 00db5000 fe:00 9986145                            /usr/bin/pulse
Rss:                8140 kB
Anonymous:             4 kB
01f2a000-01fba000 rw-p 01b2a000 fe:00 9986145                            /usr/bin/pulse
Rss:                 512 kB
Anonymous:           100 kB
c000000000-c004000000 rw-p 00000000 00:00 0
Rss:                2228 kB
Anonymous:          2228 kB
7f0000000000-7f0000001000 r--p 00000000 fe:00 42                         /opt/my lib.so
Rss:                   4 kB
Anonymous:             0 kB
7ffd0000-7ffd2000 r-xp 00000000 00:00 0                                  [vdso]
Rss:                   8 kB
Anonymous:             0 kB
7f1000000000-7f1000001000 r--p 00000000 fe:00 43                         /opt/no-anon-field.so
Rss:                   4 kB
`

func TestOnlyCleanReadOnlyFileMappingsAreReleased(t *testing.T) {
	maps, err := parseSmaps(strings.NewReader(smaps))
	if err != nil {
		t.Fatal(err)
	}
	if len(maps) != 7 {
		t.Fatalf("parsed %d mappings, want 7", len(maps))
	}
	var clean []string
	for _, m := range maps {
		if m.clean() {
			clean = append(clean, m.perms+" "+m.path)
		}
	}
	// The text is released. Read-only data with a copied page, the
	// writable data, the heap, the vdso and a mapping whose copied pages
	// smaps does not tell are not.
	want := []string{"r-xp /usr/bin/pulse", "r--p /opt/my lib.so"}
	if strings.Join(clean, "|") != strings.Join(want, "|") {
		t.Fatalf("clean mappings %q, want %q", clean, want)
	}
	if maps[0].start != 0x400000 || maps[0].end != 0x11b5000 || maps[0].rssKB != 7812 {
		t.Fatalf("first mapping parsed as %+v", maps[0])
	}
}

func TestBadSmapsIsAnError(t *testing.T) {
	if _, err := parseSmaps(strings.NewReader("zz-0400 r-xp 0 fe:00 1 /bin/x\n")); err == nil {
		t.Fatal("a bad address range parsed")
	}
}

// TestReleaseCodeLowersResidentFilePages runs on this test binary: after
// the release its file-backed resident memory is lower, and the process
// goes on running (this very function's pages were released too).
func TestReleaseCodeLowersResidentFilePages(t *testing.T) {
	before := rssFileKB(t)
	released, err := ReleaseCode()
	if err != nil {
		t.Fatal(err)
	}
	after := rssFileKB(t)
	if released == 0 || after >= before {
		t.Fatalf("released %d kB: RssFile %d kB before, %d kB after", released, before, after)
	}
	t.Logf("released %d kB; RssFile %d kB -> %d kB", released, before, after)
}

func rssFileKB(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "RssFile:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no RssFile in /proc/self/status")
	return 0
}
