// Package buildinfo says which pulse is running: its version, the commit
// and date it was built from and the Go that built it, read from the
// module's build information (what `go build` and `go install` record),
// or from -ldflags -X when a release build sets them. `pulse version`,
// pulse_build_info and an agent's inventory all report this one answer.
// It must never read anything but the binary itself, and imports nothing
// an agent would not otherwise link.
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
)

// Set by release builds: go build -ldflags "-X
// github.com/pulseops/pulse/internal/buildinfo.ldVersion=v1.2.3 ...". Left
// empty they come from the build information.
var (
	ldVersion  string
	ldRevision string
	ldDate     string
)

// Info is what a binary knows about its own build.
type Info struct {
	Version   string `json:"version"`
	Revision  string `json:"revision"`
	BuildDate string `json:"build_date"`
	GoVersion string `json:"go_version"`
	Platform  string `json:"platform"`
	// Modified is true when the build's work tree had uncommitted changes.
	Modified bool `json:"modified,omitempty"`
}

var (
	once sync.Once
	info Info
)

// Get returns this binary's build information.
func Get() Info {
	once.Do(func() { info = read(debug.ReadBuildInfo) })
	return info
}

// read fills an Info from the build information (a function, so tests can
// give their own) and the -X variables, which win.
func read(readBuildInfo func() (*debug.BuildInfo, bool)) Info {
	i := Info{Version: "(devel)", Revision: "unknown", BuildDate: "unknown", GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi, ok := readBuildInfo(); ok {
		if v := bi.Main.Version; v != "" {
			i.Version = v
		}
		if bi.GoVersion != "" {
			i.GoVersion = bi.GoVersion
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				i.Revision = s.Value
			case "vcs.time":
				i.BuildDate = s.Value
			case "vcs.modified":
				i.Modified = s.Value == "true"
			}
		}
	}
	if ldVersion != "" {
		i.Version = ldVersion
	}
	if ldRevision != "" {
		i.Revision = ldRevision
	}
	if ldDate != "" {
		i.BuildDate = ldDate
	}
	return i
}

// String is the version text in the form Prometheus' own tools print.
func (i Info) String() string {
	rev := i.Revision
	if i.Modified {
		rev += "-modified"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "pulse, version %s (revision: %s)\n", i.Version, rev)
	fmt.Fprintf(&b, "  build date:       %s\n", i.BuildDate)
	fmt.Fprintf(&b, "  go version:       %s\n", i.GoVersion)
	fmt.Fprintf(&b, "  platform:         %s\n", i.Platform)
	return b.String()
}

// Labels are pulse_build_info's labels, named as every Prometheus
// exporter's <name>_build_info names them.
func (i Info) Labels() map[string]string {
	goos, goarch, _ := strings.Cut(i.Platform, "/")
	return map[string]string{
		"version": i.Version, "revision": i.Revision, "goversion": i.GoVersion,
		"goos": goos, "goarch": goarch,
	}
}
