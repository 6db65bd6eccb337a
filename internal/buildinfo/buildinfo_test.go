package buildinfo

import (
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestReadFromBuildInfo(t *testing.T) {
	bi := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/pulseops/pulse", Version: "v1.2.3"},
		Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "0123abcd"},
			{Key: "vcs.time", Value: "2026-11-30T01:02:03Z"},
			{Key: "vcs.modified", Value: "true"},
		}}
	i := read(func() (*debug.BuildInfo, bool) { return bi, true })
	want := Info{Version: "v1.2.3", Revision: "0123abcd", BuildDate: "2026-11-30T01:02:03Z", GoVersion: "go1.26.8",
		Platform: runtime.GOOS + "/" + runtime.GOARCH, Modified: true}
	if i != want {
		t.Fatalf("read = %+v, want %+v", i, want)
	}
	if !strings.HasPrefix(i.String(), "pulse, version v1.2.3 (revision: 0123abcd-modified)\n  build date:       2026-11-30T01:02:03Z\n  go version:       go1.26.8\n") {
		t.Fatalf("String:\n%s", i)
	}
	l := i.Labels()
	if l["version"] != "v1.2.3" || l["revision"] != "0123abcd" || l["goversion"] != "go1.26.8" || l["goos"] != runtime.GOOS || l["goarch"] != runtime.GOARCH {
		t.Fatalf("Labels = %v", l)
	}
}

// TestLinkerFlagsWin: a release build's -X values replace what the build
// information says; without build information the defaults say so.
func TestLinkerFlagsWin(t *testing.T) {
	ldVersion, ldRevision, ldDate = "v9.9.9", "feedface", "2027-01-01"
	defer func() { ldVersion, ldRevision, ldDate = "", "", "" }()
	i := read(func() (*debug.BuildInfo, bool) { return nil, false })
	if i.Version != "v9.9.9" || i.Revision != "feedface" || i.BuildDate != "2027-01-01" || i.GoVersion != runtime.Version() {
		t.Fatalf("read = %+v", i)
	}
	ldVersion, ldRevision, ldDate = "", "", ""
	i = read(func() (*debug.BuildInfo, bool) { return nil, false })
	if i.Version != "(devel)" || i.Revision != "unknown" || i.BuildDate != "unknown" {
		t.Fatalf("without build information: %+v", i)
	}
}

// TestGetReadsThisBinary: the test binary has build information.
func TestGetReadsThisBinary(t *testing.T) {
	if i := Get(); i.GoVersion != runtime.Version() {
		t.Fatalf("Get = %+v, want go version %s", i, runtime.Version())
	}
}
