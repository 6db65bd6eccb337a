package actions

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pulseops/pulse/internal/protocol"
)

// simulatingRunner runs commands for real, but apt-get only with -s: apt
// works out what it would do and changes nothing. It records what ran.
type simulatingRunner struct {
	real CmdRunner
	mu   sync.Mutex
	ran  []string
}

func (r *simulatingRunner) Run(ctx context.Context, c CmdSpec) (CmdResult, error) {
	if c.Name == "apt-get" {
		c.Args = append([]string{"-s"}, c.Args...)
	}
	r.mu.Lock()
	r.ran = append(r.ran, c.Name+" "+strings.Join(c.Args, " "))
	r.mu.Unlock()
	return r.real.Run(ctx, c)
}

func (r *simulatingRunner) aptGets() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, s := range r.ran {
		if strings.HasPrefix(s, "apt-get ") {
			out = append(out, s)
		}
	}
	return out
}

// TestAptRefusesPatternNames: apt-get reads a name it cannot find exactly,
// with '.' or '+' in it, as a regular expression — shown here with the
// real apt-get -s — so the apt provider looks such names up exactly first
// and refuses what is no package's name, before apt-get runs.
func TestAptRefusesPatternNames(t *testing.T) {
	requireRootAndBinaries(t, "apt-get", "apt-cache", "dpkg-query")
	log := testLogger(t)
	real := NewExecRunner(ExecRunnerOptions{Timeout: 2 * time.Minute}, log)

	// The attack, on the real apt-get: "nginx." is no package, yet it
	// selects nginx-light's siblings (the test machine has nginx-light).
	res, err := real.Run(t.Context(), CmdSpec{Name: "apt-get", Args: []string{"-s", "install", "nginx."}, Env: []string{"DEBIAN_FRONTEND=noninteractive"}})
	if err != nil {
		t.Fatal(err)
	}
	out := string(res.Stdout)
	requireHost(t, strings.Contains(out, "nginx-common") || strings.Contains(out, "nginx-light"),
		"apt-get -s install nginx. selected no nginx package: is nginx-light installed (make test-deps)?\n"+out)

	sim := &simulatingRunner{real: real}
	a := NewPackageAgent(NewAptProvider(sim), log)
	for _, name := range []string{"nginx.", "ngin.-light", "g+", "libstdc+"} {
		for _, action := range []string{"install", "purge", "update"} {
			data, _ := json.Marshal(map[string]string{"package": name})
			r := a.Call(t.Context(), Request{Action: action, Data: data, Caller: "test"})
			if r.Status != protocol.InvalidData || !strings.Contains(r.Message, "regular expression") {
				t.Errorf("%s %q: status %d %q, want %d refusing a pattern", action, name, r.Status, r.Message, protocol.InvalidData)
			}
		}
		// uninstall asks dpkg-query (exact) first: no package of that name
		// is installed, so it is already absent and apt-get is not asked.
		data, _ := json.Marshal(map[string]string{"package": name})
		if r := a.Call(t.Context(), Request{Action: "uninstall", Data: data, Caller: "test"}); r.Status != protocol.OK {
			t.Errorf("uninstall %q: status %d %q, want OK (absent)", name, r.Status, r.Message)
		}
		if err := NewAptProvider(sim).Uninstall(t.Context(), name); !errors.Is(err, ErrPatternName) {
			t.Errorf("Uninstall(%q) = %v, want ErrPatternName", name, err)
		}
	}
	if ran := sim.aptGets(); len(ran) != 0 {
		t.Fatalf("apt-get ran for a pattern name: %v", ran)
	}
	// Names with '.' or '+' that are exact package names still work:
	// libstdc++6 is installed here, so install is a no-op and update asks
	// apt-get (simulated) to upgrade it.
	if err := NewAptProvider(sim).Update(t.Context(), "libstdc++6"); err != nil {
		t.Fatalf("update libstdc++6: %v", err)
	}
	if ran := sim.aptGets(); len(ran) != 1 || !strings.HasSuffix(ran[0], "install --only-upgrade libstdc++6") {
		t.Fatalf("apt-get calls for libstdc++6: %v", ran)
	}
	var pe error = NewAptProvider(sim).Install(t.Context(), "nginx.", "")
	if !errors.Is(pe, ErrPatternName) {
		t.Fatalf("Install(nginx.) = %v, want ErrPatternName", pe)
	}
}

// TestDnfAndApkRefusePatternNames: dnf and yum read '*', '?' and '[...]' in
// a name as a glob, and apk reads '=', '<', '>' and '~' as a version
// constraint; their validators refuse those characters, so no such name
// reaches the package manager.
func TestDnfAndApkRefusePatternNames(t *testing.T) {
	for _, tc := range []struct {
		provider func(CmdRunner) PackageProvider
		names    []string
	}{
		{func(r CmdRunner) PackageProvider { return NewDnfProvider("dnf", r) }, []string{"nginx*", "ngin?", "[n]ginx", "nginx-*", "*"}},
		{func(r CmdRunner) PackageProvider { return NewDnfProvider("yum", r) }, []string{"nginx*", "ngin?", "[n]ginx"}},
		{func(r CmdRunner) PackageProvider { return NewApkProvider(r) }, []string{"nginx*", "nginx=1.24.0-r0", "nginx>1.2", "nginx<2", "nginx~1.24", "ngin?"}},
	} {
		rr := &recordingRunner{}
		p := tc.provider(rr)
		a := NewPackageAgent(p, testLogger(t))
		for _, name := range tc.names {
			if err := p.ValidateName(name); err == nil {
				t.Errorf("%s accepted %q, which it would read as a pattern", p.Name(), name)
			}
			// And the agent refuses it before any command runs.
			data, _ := json.Marshal(map[string]string{"package": name})
			if r := a.Call(t.Context(), Request{Action: "install", Data: data}); r.Status != protocol.InvalidData {
				t.Errorf("%s install %q: status %d %q", p.Name(), name, r.Status, r.Message)
			}
		}
		if ran := rr.argvs(); len(ran) != 0 {
			t.Errorf("%s ran %v for pattern names", p.Name(), ran)
		}
	}
	// A real name with dots passes (dnf's python3.11, apk's py3-pip).
	if err := NewDnfProvider("dnf", &recordingRunner{}).ValidateName("python3.11"); err != nil {
		t.Error(err)
	}
}
