package actions

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pulseops/pulse/internal/protocol"
)

// hostileNames are names an attacker (or a slip of the keyboard) could send
// in any name field.
var hostileNames = []string{
	"nginx; touch /tmp/pwned",
	"$(reboot)",
	"`id`",
	"nginx && id",
	"nginx|id",
	"a b",
	"nginx\x00",
	"\x00",
	"nginx\nid",
	"-oAPT::Get::Assume-Yes=1",
	"--help",
	"-",
	".hidden",
	"../../etc/passwd",
	">out",
	"nginx*",
	"ngïnx",
	strings.Repeat("a", 10240),
}

// fakeToolDir makes a directory holding every program a provider may run;
// each one only creates marker. An ExecRunner searching that directory
// proves by the marker's absence that nothing ran.
func fakeToolDir(t *testing.T) (dir, marker string) {
	dir = t.TempDir()
	marker = filepath.Join(t.TempDir(), "ran")
	for _, tool := range []string{"apt-get", "dpkg-query", "rpm", "dnf", "yum", "apk", "systemctl", "service", "rc-service", "rc-update"} {
		mustWrite(t, filepath.Join(dir, tool), "#!/bin/sh\necho \"$0 $*\" >> '"+marker+"'\n")
	}
	return dir, marker
}

func injectionAgents(r CmdRunner) map[string]Agent {
	return map[string]Agent{
		"package/apt":    NewPackageAgent(NewAptProvider(r), nil),
		"package/dnf":    NewPackageAgent(NewDnfProvider("dnf", r), nil),
		"package/yum":    NewPackageAgent(NewDnfProvider("yum", r), nil),
		"package/apk":    NewPackageAgent(NewApkProvider(r), nil),
		"package/sim":    NewPackageAgent(NewSimPackageProvider(SimPackageOptions{Delay: -1}), nil),
		"service/system": NewServiceAgent(NewSystemdProvider(r), nil),
		"service/sysv":   NewServiceAgent(NewSysvProvider(r), nil),
		"service/openrc": NewServiceAgent(NewOpenRCProvider(r), nil),
		"service/sim":    NewServiceAgent(NewSimServiceProvider(SimServiceOptions{Delay: -1}), nil),
	}
}

func dataJSON(t *testing.T, m map[string]string) string {
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestHostileNamesAreRejectedBeforeAnythingRuns(t *testing.T) {
	dir, marker := fakeToolDir(t)
	r := NewExecRunner(ExecRunnerOptions{SearchPath: dir}, nil)
	for label, a := range injectionAgents(r) {
		key := strings.Split(label, "/")[0]
		for _, action := range a.Actions() {
			if action == "checkupdates" {
				continue
			}
			for _, bad := range hostileNames {
				inputs := []map[string]string{{key: bad}}
				if action == "install" {
					inputs = append(inputs, map[string]string{"package": "nginx", "version": bad})
				}
				for _, in := range inputs {
					res := call(t, a, action, dataJSON(t, in))
					if res.Status != protocol.InvalidData || res.Data != nil || !strings.HasPrefix(res.Message, "invalid ") || len(res.Message) > 400 {
						t.Errorf("%s %s %q: got %d %.200s", label, action, in, res.Status, res.Message)
					}
				}
			}
		}
	}
	if b, err := os.ReadFile(marker); err == nil {
		t.Fatalf("commands ran for rejected names:\n%s", b)
	}

	// The same set-up does run a tool for a good name, so the marker can
	// tell: the check above is able to fail.
	for label, a := range injectionAgents(r) {
		if strings.HasSuffix(label, "/sim") {
			continue
		}
		key := strings.Split(label, "/")[0]
		call(t, a, "status", dataJSON(t, map[string]string{key: "nginx"}))
		if _, err := os.Stat(marker); err != nil {
			t.Fatalf("%s: status of a valid name ran nothing: %v", label, err)
		}
		os.Remove(marker)
	}
}
