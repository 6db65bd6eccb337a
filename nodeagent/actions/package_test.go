package actions

import (
	"context"
	"encoding/json"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/pulseops/pulse/internal/protocol"
)

func call(t *testing.T, a Agent, action, data string) Result {
	t.Helper()
	var raw json.RawMessage
	if data != "" {
		raw = json.RawMessage(data)
	}
	return a.Call(t.Context(), Request{ID: "r1", Caller: "test", Action: action, Data: raw})
}

// replyJSON renders a result's data as the wire would carry it.
func replyJSON(t *testing.T, r Result) string {
	t.Helper()
	b, err := json.Marshal(r.Data)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func newSimPackageAgent() (*PackageAgent, *SimPackageProvider) {
	p := NewSimPackageProvider(SimPackageOptions{Delay: -1})
	return NewPackageAgent(p, nil), p
}

func TestPackageAgentSim(t *testing.T) {
	a, _ := newSimPackageAgent()
	steps := []struct {
		action, data string
		status       protocol.Status
		msg, reply   string
	}{
		{"status", `{"package":"nginx"}`, protocol.OK, "OK", `{"package":"nginx","ensure":"1.22.1-9","arch":"amd64","name":"nginx"}`},
		{"status", `{"package":"httpd"}`, protocol.OK, "OK", `{"package":"httpd","ensure":"absent","arch":"","name":"httpd"}`},
		{"install", `{"package":"httpd","version":"2.4.56-1"}`, protocol.OK, "OK", `{"package":"httpd","ensure":"2.4.56-1","arch":"amd64","name":"httpd"}`},
		{"checkupdates", ``, protocol.OK, "OK", `{"outdated_packages":[{"package":"curl","current":"7.88.1-10","available":"7.88.1-10+deb12u5"},{"package":"httpd","current":"2.4.56-1","available":"2.4.57-2"},{"package":"openssl","current":"3.0.9-1","available":"3.0.11-1~deb12u2"}],"count":3}`},
		{"update", `{"package":"httpd"}`, protocol.OK, "OK", `{"package":"httpd","ensure":"2.4.57-2","arch":"amd64","name":"httpd"}`},
		{"update", `{"package":"sl"}`, protocol.OK, "OK", `{"package":"sl","ensure":"absent","arch":"","name":"sl"}`},
		{"uninstall", `{"package":"httpd"}`, protocol.OK, "OK", `{"package":"httpd","ensure":"absent","arch":"","name":"httpd"}`},
		{"install", `{"package":"httpd"}`, protocol.OK, "OK", `{"package":"httpd","ensure":"2.4.57-2","arch":"amd64","name":"httpd"}`},
		{"purge", `{"package":"httpd"}`, protocol.OK, "OK", `{"package":"httpd","ensure":"absent","arch":"","name":"httpd"}`},
		{"install", `{"package":"foo"}`, protocol.UnknownError, "package install foo failed: package foo not found in the simulated repository", `{"package":"foo","ensure":"absent","arch":"","name":"foo"}`},
		{"install", `{"package":"nginx","version":"9.9"}`, protocol.UnknownError, "package install nginx failed: version 9.9 of package nginx not found in the simulated repository; available: 1.22.1-8, 1.22.1-9", `{"package":"nginx","ensure":"1.22.1-9","arch":"amd64","name":"nginx"}`},
	}
	for _, s := range steps {
		r := call(t, a, s.action, s.data)
		if r.Status != s.status || r.Message != s.msg || replyJSON(t, r) != s.reply {
			t.Fatalf("%s %s:\n got  %d %q %s\n want %d %q %s", s.action, s.data, r.Status, r.Message, replyJSON(t, r), s.status, s.msg, s.reply)
		}
	}
}

func TestPackageAgentRequestErrors(t *testing.T) {
	a, _ := newSimPackageAgent()
	tests := []struct {
		action, data string
		status       protocol.Status
		msg          string
	}{
		{"frobnicate", `{"package":"nginx"}`, protocol.UnknownAction, `unknown action "frobnicate" for agent package; known actions: install, uninstall, purge, update, status, checkupdates`},
		{"install", ``, protocol.MissingData, `package.install: missing data key "package"`},
		{"install", `{}`, protocol.MissingData, `package.install: missing data key "package"`},
		{"status", `{"package":""}`, protocol.MissingData, `package.status: missing data key "package"`},
		{"install", `{"package":"nginx","verison":"1"}`, protocol.InvalidData, `package.install: unknown data key "verison"; known keys: package, version`},
		{"status", `{"package":"nginx","version":"1"}`, protocol.InvalidData, `package.status: unknown data key "version"; known keys: package`},
		{"checkupdates", `{"package":"nginx"}`, protocol.InvalidData, `package.checkupdates: unknown data key "package"; this action takes no data`},
		{"install", `{"package":7}`, protocol.InvalidData, `package.install: data key "package" must be a string, got a number`},
		{"install", `["nginx"]`, protocol.InvalidData, `package.install: request data is not a JSON object: json: cannot unmarshal array into Go value of type map[string]json.RawMessage`},
		{"install", `{"package":"nginx","version":""}`, protocol.InvalidData, `invalid version: it is empty`},
		{"install", `{"package":"Nginx"}`, protocol.InvalidData, `invalid package name "Nginx": character 'N' at position 1 is not allowed; Debian package names use only a-z, 0-9, '+', '.' and '-'`},
	}
	for _, tt := range tests {
		r := call(t, a, tt.action, tt.data)
		if r.Status != tt.status || r.Message != tt.msg || r.Data != nil {
			t.Errorf("%s %s:\n got  %d %s (data %v)\n want %d %s", tt.action, tt.data, r.Status, r.Message, r.Data, tt.status, tt.msg)
		}
	}
}

func TestPackageAgentActions(t *testing.T) {
	a, _ := newSimPackageAgent()
	var _ Agent = a
	if a.Name() != "package" || len(a.Actions()) != 6 {
		t.Fatalf("name %q actions %v", a.Name(), a.Actions())
	}
}

// countingPackageProvider wraps a real provider and records how many
// changes run at once.
type countingPackageProvider struct {
	PackageProvider
	mu            sync.Mutex
	running, peak int
}

func (c *countingPackageProvider) Install(ctx context.Context, name, version string) error {
	c.mu.Lock()
	c.running++
	c.peak = max(c.peak, c.running)
	c.mu.Unlock()
	defer func() { c.mu.Lock(); c.running--; c.mu.Unlock() }()
	return c.PackageProvider.Install(ctx, name, version)
}

func TestPackageAgentSimInstallsNeverOverlap(t *testing.T) {
	p := &countingPackageProvider{PackageProvider: NewSimPackageProvider(SimPackageOptions{Delay: 5 * time.Millisecond, Installed: map[string]string{}})}
	a := NewPackageAgent(p, nil)
	names := []string{"httpd", "nginx", "curl", "sl", "hello", "haproxy"}
	var wg sync.WaitGroup
	results := make([]Result, len(names))
	for i, n := range names {
		wg.Go(func() { results[i] = call(t, a, "install", `{"package":"`+n+`"}`) })
	}
	wg.Wait()
	for i, r := range results {
		if r.Status != protocol.OK {
			t.Errorf("install %s: %d %s", names[i], r.Status, r.Message)
		}
	}
	if p.peak != 1 {
		t.Fatalf("%d installs ran at once, want 1", p.peak)
	}
}

// Two apt installs through the agent: the second must wait for the first,
// and must give up (status Aborted) without running anything when its
// context ends while it waits.
func TestPackageAgentAptInstallsNeverOverlap(t *testing.T) {
	entered := make(chan struct{}, 16)
	release := make(chan struct{})
	r := &recordingRunner{
		hold: func(c CmdSpec) {
			if c.Name == "apt-get" {
				entered <- struct{}{}
				<-release
			}
		},
		respond: func(c CmdSpec) (CmdResult, error) {
			if c.Name == "apt-get" {
				return CmdResult{}, nil
			}
			return CmdResult{ExitCode: 1, Stderr: []byte("dpkg-query: no packages found matching x\n")}, nil
		},
	}
	a := NewPackageAgent(NewAptProvider(r), nil)

	first := make(chan Result, 1)
	go func() { first <- call(t, a, "install", `{"package":"hello"}`) }()
	<-entered // the first install is inside apt-get now

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	second := make(chan Result, 1)
	go func() { second <- a.Call(ctx, Request{Action: "install", Data: json.RawMessage(`{"package":"sl"}`)}) }()
	select {
	case got := <-second:
		if got.Status != protocol.Aborted || got.Message != "package install sl: gave up waiting for another package change on this node: context canceled" {
			t.Fatalf("second install while the first runs: %d %s", got.Status, got.Message)
		}
	case <-entered:
		close(release)
		t.Fatal("a second apt-get started while the first was running")
	}

	var wg sync.WaitGroup
	for _, n := range []string{"sl", "cowsay", "fortune-mod"} {
		wg.Go(func() { call(t, a, "install", `{"package":"`+n+`"}`) })
	}
	close(release)
	wg.Wait()
	if res := <-first; res.Status != protocol.OK {
		t.Fatalf("first install: %d %s", res.Status, res.Message)
	}
	apt := 0
	for _, c := range r.argvs() {
		if len(c) > 7 && c[:7] == "apt-get" {
			apt++
		}
	}
	if apt != 4 {
		t.Fatalf("apt-get ran %d times, want 4: %v", apt, r.argvs())
	}
	// Only apt-get is held, so the peak counts apt-get runs overlapping
	// each other or a dpkg-query; with the lock only status reads can
	// overlap an apt-get, and status reads are only made under the lock.
	if m := r.maxConcurrent(); m != 1 {
		t.Fatalf("%d commands ran at once, want 1", m)
	}
}

func TestNewPackageProvider(t *testing.T) {
	for _, n := range []string{"apt", "dnf", "yum", "apk", "sim"} {
		p, err := NewPackageProvider(n, &recordingRunner{})
		if err != nil || p.Name() != n {
			t.Errorf("%s: %v %v", n, p, err)
		}
	}
	_, err := NewPackageProvider("pacman", nil)
	if err == nil || err.Error() != `unknown package provider "pacman": use apt, dnf, yum, apk or sim` {
		t.Fatalf("err = %v", err)
	}
}

func TestDetectPackageProvider(t *testing.T) {
	redhat := "dnf"
	if _, err := exec.LookPath("dnf"); err != nil {
		if _, err := exec.LookPath("yum"); err == nil {
			redhat = "yum"
		}
	}
	for in, want := range map[string]string{
		"Debian": "apt", "ubuntu": "apt", "Alpine": "apk", "Suse": "", "": "", "RedHat": redhat, "rhel fedora": redhat,
	} {
		if got := DetectPackageProvider(in); got != want {
			t.Errorf("DetectPackageProvider(%q) = %q, want %q", in, got, want)
		}
	}
}
