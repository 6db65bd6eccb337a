package actions

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/pulseops/pulse/internal/protocol"
)

func TestSystemdProviderArgv(t *testing.T) {
	active := map[string]CmdResult{
		"systemctl is-active nginx":  {Stdout: []byte("active\n")},
		"systemctl is-enabled nginx": {Stdout: []byte("enabled\n")},
	}
	failedStart := map[string]CmdResult{
		"systemctl start nginx":      {ExitCode: 1, Stderr: []byte("Job for nginx.service failed because the control process exited with error code.\n")},
		"systemctl is-active nginx":  {ExitCode: 3, Stdout: []byte("failed\n")},
		"systemctl is-enabled nginx": {ExitCode: 1, Stdout: []byte("disabled\n")},
	}
	static := map[string]CmdResult{
		"systemctl is-active getty@tty1.service":  {ExitCode: 3, Stdout: []byte("inactive\n")},
		"systemctl is-enabled getty@tty1.service": {Stdout: []byte("static\n")},
	}
	status := []string{"systemctl is-active nginx", "systemctl is-enabled nginx"}
	tests := []struct {
		action, service string
		answers         map[string]CmdResult
		want            []string
		code            protocol.Status
		msg, reply      string
	}{
		{"status", "nginx", active, status, protocol.OK, "OK", `{"service":"nginx","status":"running","enabled":true}`},
		{"start", "nginx", active, append(append(slices.Clone(status), "systemctl start nginx"), status...), protocol.OK, "OK", `{"service":"nginx","status":"running","enabled":true}`},
		{"stop", "nginx", active, append(append(slices.Clone(status), "systemctl stop nginx"), status...), protocol.OK, "OK", `{"service":"nginx","status":"running","enabled":true}`},
		{"restart", "nginx", active, append(append(slices.Clone(status), "systemctl restart nginx"), status...), protocol.OK, "OK", `{"service":"nginx","status":"running","enabled":true}`},
		{"reload", "nginx", active, append(append(slices.Clone(status), "systemctl reload nginx"), status...), protocol.OK, "OK", `{"service":"nginx","status":"running","enabled":true}`},
		{"start", "nginx", failedStart, append(append(slices.Clone(status), "systemctl start nginx"), status...), protocol.UnknownError,
			"service start nginx failed: systemctl start nginx exited with status 1: Job for nginx.service failed because the control process exited with error code.",
			`{"service":"nginx","status":"stopped","enabled":false}`},
		{"status", "getty@tty1.service", static, []string{"systemctl is-active getty@tty1.service", "systemctl is-enabled getty@tty1.service"}, protocol.OK, "OK", `{"service":"getty@tty1.service","status":"stopped"}`},
	}
	for _, tt := range tests {
		r := scripted(tt.answers)
		res := call(t, NewServiceAgent(NewSystemdProvider(r), nil), tt.action, `{"service":"`+tt.service+`"}`)
		if res.Status != tt.code || res.Message != tt.msg || replyJSON(t, res) != tt.reply {
			t.Fatalf("%s %s: got %d %s %s\nwant %d %s %s", tt.action, tt.service, res.Status, res.Message, replyJSON(t, res), tt.code, tt.msg, tt.reply)
		}
		assertArgvs(t, r.argvs(), tt.want)
	}
}

const rcUpdateShowSample = `            acpid |      default
         bootmisc | boot
          crond |      default
            devfs |                                 sysinit
            nginx |
             sshd |      default
`

func TestOpenRCProviderArgv(t *testing.T) {
	answers := map[string]CmdResult{
		"rc-service sshd status":  {Stdout: []byte(" * status: started\n")},
		"rc-service nginx status": {ExitCode: 3, Stdout: []byte(" * status: stopped\n")},
		"rc-update show":          {Stdout: []byte(rcUpdateShowSample)},
	}
	tests := []struct {
		action, service string
		want            []string
		reply           string
	}{
		{"status", "sshd", []string{"rc-service sshd status", "rc-update show"}, `{"service":"sshd","status":"running","enabled":true}`},
		{"status", "nginx", []string{"rc-service nginx status", "rc-update show"}, `{"service":"nginx","status":"stopped","enabled":false}`},
		{"start", "sshd", []string{"rc-service sshd status", "rc-update show", "rc-service sshd start", "rc-service sshd status", "rc-update show"}, `{"service":"sshd","status":"running","enabled":true}`},
		{"stop", "nginx", []string{"rc-service nginx status", "rc-update show", "rc-service nginx stop", "rc-service nginx status", "rc-update show"}, `{"service":"nginx","status":"stopped","enabled":false}`},
		{"restart", "sshd", []string{"rc-service sshd status", "rc-update show", "rc-service sshd restart", "rc-service sshd status", "rc-update show"}, `{"service":"sshd","status":"running","enabled":true}`},
		{"reload", "sshd", []string{"rc-service sshd status", "rc-update show", "rc-service sshd reload", "rc-service sshd status", "rc-update show"}, `{"service":"sshd","status":"running","enabled":true}`},
	}
	for _, tt := range tests {
		r := scripted(answers)
		res := call(t, NewServiceAgent(NewOpenRCProvider(r), nil), tt.action, `{"service":"`+tt.service+`"}`)
		if res.Status != protocol.OK || replyJSON(t, res) != tt.reply {
			t.Fatalf("%s %s: got %d %s %s, want %s", tt.action, tt.service, res.Status, res.Message, replyJSON(t, res), tt.reply)
		}
		assertArgvs(t, r.argvs(), tt.want)
	}
}

func TestParseRcUpdateShow(t *testing.T) {
	got := parseRcUpdateShow(rcUpdateShowSample)
	want := map[string][]string{"acpid": {"default"}, "bootmisc": {"boot"}, "crond": {"default"}, "devfs": {"sysinit"}, "sshd": {"default"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v", got)
	}
}

func FuzzParseRcUpdateShow(f *testing.F) {
	f.Add(rcUpdateShowSample)
	f.Add("a|b|c\n | x")
	f.Fuzz(func(t *testing.T, s string) {
		for name, levels := range parseRcUpdateShow(s) {
			if name == "" || len(levels) == 0 {
				t.Fatalf("bad entry %q %v from %q", name, levels, s)
			}
		}
	})
}

func TestSysvProviderStatusCodes(t *testing.T) {
	for code, want := range map[int]string{0: `{"service":"x1","status":"running"}`, 1: `{"service":"x1","status":"stopped"}`, 3: `{"service":"x1","status":"stopped"}`, 4: `null`} {
		r := scripted(map[string]CmdResult{"service x1 status": {ExitCode: code, Stdout: []byte("x1 status\n")}})
		res := call(t, NewServiceAgent(NewSysvProvider(r), nil), "status", `{"service":"x1"}`)
		if replyJSON(t, res) != want {
			t.Errorf("exit %d: %d %s %s, want %s", code, res.Status, res.Message, replyJSON(t, res), want)
		}
		if code == 4 && res.Message != "service status of x1: service x1 status exited with status 4 (LSB: unknown): x1 status" {
			t.Errorf("exit 4: %s", res.Message)
		}
	}
}

func TestServiceAgentSim(t *testing.T) {
	p := NewSimServiceProvider(SimServiceOptions{Delay: -1})
	a := NewServiceAgent(p, nil)
	steps := []struct {
		action, service string
		code            protocol.Status
		msg, reply      string
		running         bool
	}{
		{"status", "nginx", protocol.OK, "OK", `{"service":"nginx","status":"running","enabled":true}`, true},
		{"stop", "nginx", protocol.OK, "OK", `{"service":"nginx","status":"stopped","enabled":true}`, false},
		{"reload", "nginx", protocol.UnknownError, "service reload nginx failed: cannot reload nginx: it is not running; start it instead", `{"service":"nginx","status":"stopped","enabled":true}`, false},
		{"start", "nginx", protocol.OK, "OK", `{"service":"nginx","status":"running","enabled":true}`, true},
		{"restart", "nginx", protocol.OK, "OK", `{"service":"nginx","status":"running","enabled":true}`, true},
		{"reload", "nginx", protocol.OK, "OK", `{"service":"nginx","status":"running","enabled":true}`, true},
		{"start", "mysqld", protocol.UnknownError, "service start mysqld failed: mysqld: unrecognized service", `null`, false},
		{"status", "mysqld", protocol.UnknownError, "service status of mysqld: mysqld: unrecognized service", `null`, false},
	}
	for _, s := range steps {
		res := call(t, a, s.action, `{"service":"`+s.service+`"}`)
		if res.Status != s.code || res.Message != s.msg || replyJSON(t, res) != s.reply || p.Running(s.service) != s.running {
			t.Fatalf("%s %s: got %d %q %s running=%v", s.action, s.service, res.Status, res.Message, replyJSON(t, res), p.Running(s.service))
		}
	}

	// A crash seen by the demo's checks, and an injected failure.
	p.SetRunning("nginx", false)
	if p.Running("nginx") {
		t.Fatal("SetRunning(false) left nginx running")
	}
	p.SetFailure("nginx", errors.New("port 80 already in use"))
	res := call(t, a, "start", `{"service":"nginx"}`)
	if res.Status != protocol.UnknownError || res.Message != "service start nginx failed: start nginx (simulated failure): port 80 already in use" || p.Running("nginx") {
		t.Fatalf("injected failure: %d %s running=%v", res.Status, res.Message, p.Running("nginx"))
	}
	p.SetFailure("nginx", nil)
	if res := call(t, a, "start", `{"service":"nginx"}`); res.Status != protocol.OK || !p.Running("nginx") {
		t.Fatalf("after clearing the failure: %d %s", res.Status, res.Message)
	}
}

// On a simulated node, as on a real one, a service exists only while the
// package that provides it is installed.
func TestSimSystemLinksServicesToPackages(t *testing.T) {
	pkgs, svcs := NewSimSystem(SimPackageOptions{Delay: -1}, SimServiceOptions{Delay: -1, Services: map[string]SimService{
		"httpd": {Running: true, Enabled: true}, // its package is not installed: dropped
		"nginx": {Running: true, Enabled: true},
		"cron":  {Running: true, Enabled: true},
	}})
	pa, sa := NewPackageAgent(pkgs, nil), NewServiceAgent(svcs, nil)
	steps := []struct {
		agent, action, data string
		code                protocol.Status
		msg, reply          string
	}{
		{"service", "status", `{"service":"httpd"}`, protocol.UnknownError, "service status of httpd: httpd: unrecognized service (its package httpd is not installed)", `null`},
		{"service", "start", `{"service":"httpd"}`, protocol.UnknownError, "service start httpd failed: httpd: unrecognized service (its package httpd is not installed)", `null`},
		{"package", "install", `{"package":"httpd"}`, protocol.OK, "OK", `{"package":"httpd","ensure":"2.4.57-2","arch":"amd64","name":"httpd"}`},
		{"service", "status", `{"service":"httpd"}`, protocol.OK, "OK", `{"service":"httpd","status":"stopped","enabled":false}`},
		{"service", "start", `{"service":"httpd"}`, protocol.OK, "OK", `{"service":"httpd","status":"running","enabled":false}`},
		// An upgrade keeps the service as it was.
		{"package", "install", `{"package":"httpd","version":"2.4.56-1"}`, protocol.OK, "OK", `{"package":"httpd","ensure":"2.4.56-1","arch":"amd64","name":"httpd"}`},
		{"package", "update", `{"package":"httpd"}`, protocol.OK, "OK", `{"package":"httpd","ensure":"2.4.57-2","arch":"amd64","name":"httpd"}`},
		{"service", "status", `{"service":"httpd"}`, protocol.OK, "OK", `{"service":"httpd","status":"running","enabled":false}`},
		{"package", "uninstall", `{"package":"httpd"}`, protocol.OK, "OK", `{"package":"httpd","ensure":"absent","arch":"","name":"httpd"}`},
		{"service", "status", `{"service":"httpd"}`, protocol.UnknownError, "service status of httpd: httpd: unrecognized service (its package httpd is not installed)", `null`},
		// Installed again, it comes back stopped, not as it was.
		{"package", "install", `{"package":"httpd"}`, protocol.OK, "OK", `{"package":"httpd","ensure":"2.4.57-2","arch":"amd64","name":"httpd"}`},
		{"service", "status", `{"service":"httpd"}`, protocol.OK, "OK", `{"service":"httpd","status":"stopped","enabled":false}`},
		{"package", "purge", `{"package":"nginx"}`, protocol.OK, "OK", `{"package":"nginx","ensure":"absent","arch":"","name":"nginx"}`},
		{"service", "restart", `{"service":"nginx"}`, protocol.UnknownError, "service restart nginx failed: nginx: unrecognized service (its package nginx is not installed)", `null`},
		{"service", "status", `{"service":"cron"}`, protocol.OK, "OK", `{"service":"cron","status":"running","enabled":true}`},
		{"service", "start", `{"service":"mysqld"}`, protocol.UnknownError, "service start mysqld failed: mysqld: unrecognized service", `null`},
	}
	for _, s := range steps {
		a := Agent(sa)
		if s.agent == "package" {
			a = pa
		}
		res := call(t, a, s.action, s.data)
		if res.Status != s.code || res.Message != s.msg || replyJSON(t, res) != s.reply {
			t.Fatalf("%s %s %s: got %d %q %s", s.agent, s.action, s.data, res.Status, res.Message, replyJSON(t, res))
		}
	}
	if svcs.Running("nginx") {
		t.Fatal("nginx runs after its package was purged")
	}
}

// The simulation answers for a missing service as the real service(8)
// does.
func TestSimUnknownServiceAsServiceSays(t *testing.T) {
	requireRootAndBinaries(t, "service")
	const name = "pulse-no-such-service"
	out, err := exec.Command("service", name, "start").CombinedOutput()
	if err == nil {
		t.Fatalf("service %s start succeeded: %s", name, out)
	}
	want := name + ": unrecognized service"
	if !strings.Contains(string(out), want) {
		t.Fatalf("service(8) said %q, not %q", out, want)
	}
	_, svcs := NewSimSystem(SimPackageOptions{Delay: -1}, SimServiceOptions{Delay: -1})
	if err := svcs.Change(context.Background(), name, "start"); err == nil || err.Error() != want {
		t.Fatalf("the simulation said %v, want %q", err, want)
	}
}

func TestServiceAgentRequestErrors(t *testing.T) {
	a := NewServiceAgent(NewSimServiceProvider(SimServiceOptions{Delay: -1}), nil)
	tests := []struct {
		action, data string
		status       protocol.Status
		msg          string
	}{
		{"enable", `{"service":"nginx"}`, protocol.UnknownAction, `unknown action "enable" for agent service; known actions: start, stop, restart, reload, status`},
		{"start", ``, protocol.MissingData, `service.start: missing data key "service"`},
		{"start", `{"service":null}`, protocol.MissingData, `service.start: missing data key "service"`},
		{"start", `{"service":true}`, protocol.InvalidData, `service.start: data key "service" must be a string, got a boolean`},
		{"start", `{"service":"nginx","package":"x"}`, protocol.InvalidData, `service.start: unknown data key "package"; known keys: service`},
		{"start", `{"service":"-nginx"}`, protocol.InvalidData, `invalid service name "-nginx": must not start with '-'; service names start with a letter, a digit, '_', '@' or ':'`},
	}
	for _, tt := range tests {
		r := call(t, a, tt.action, tt.data)
		if r.Status != tt.status || r.Message != tt.msg {
			t.Errorf("%s %s:\n got  %d %s\n want %d %s", tt.action, tt.data, r.Status, r.Message, tt.status, tt.msg)
		}
	}
}

// Changes of one service wait for each other; changes of two services do
// not.
func TestServiceAgentLocksPerName(t *testing.T) {
	bEntered := make(chan struct{})
	aEntered := make(chan struct{}, 2)
	r := &recordingRunner{hold: func(c CmdSpec) {
		switch {
		case c.String() == "systemctl restart a":
			aEntered <- struct{}{}
			// Holds service a until b has run: with one lock for all
			// services this would never end (the test's deadline would).
			<-bEntered
		case c.String() == "systemctl restart b":
			close(bEntered)
		}
	}}
	ag := NewServiceAgent(NewSystemdProvider(r), nil)
	done := make(chan Result, 1)
	go func() { done <- call(t, ag, "restart", `{"service":"a"}`) }()
	<-aEntered

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	second := make(chan Result, 1)
	go func() { second <- ag.Call(ctx, Request{Action: "restart", Data: json.RawMessage(`{"service":"a"}`)}) }()
	select {
	case got := <-second:
		if got.Status != protocol.Aborted || got.Message != "service restart a: gave up waiting for another change of this service: context canceled" {
			t.Fatalf("second restart of a: %d %s", got.Status, got.Message)
		}
	case <-aEntered:
		close(bEntered)
		t.Fatal("a second restart of a started while the first was running")
	}
	if res := call(t, ag, "restart", `{"service":"b"}`); res.Status != protocol.OK {
		t.Fatalf("restart b: %d %s", res.Status, res.Message)
	}
	if res := <-done; res.Status != protocol.OK {
		t.Fatalf("restart a: %d %s", res.Status, res.Message)
	}
	ag.mu.Lock()
	left := len(ag.locks)
	ag.mu.Unlock()
	if left != 0 {
		t.Fatalf("%d per-service locks left behind", left)
	}
}

func TestDetectServiceProvider(t *testing.T) {
	tests := []struct {
		comm    string
		openrc  bool
		want    string
		noProc1 bool
	}{
		{comm: "systemd\n", want: "systemd"},
		{comm: "openrc-init\n", want: "openrc"},
		{comm: "init\n", want: "sysv"},
		{comm: "init\n", openrc: true, want: "openrc"},
		{comm: "bash\n", want: "sysv"},
		{noProc1: true, want: "sysv"},
	}
	for _, tt := range tests {
		root := t.TempDir()
		if !tt.noProc1 {
			mustWrite(t, filepath.Join(root, "proc/1/comm"), tt.comm)
		}
		if tt.openrc {
			mustWrite(t, filepath.Join(root, "sbin/openrc-run"), "#!/bin/sh\n")
		}
		if got := DetectServiceProvider(root); got != tt.want {
			t.Errorf("comm %q openrc-run %v: got %q, want %q", tt.comm, tt.openrc, got, tt.want)
		}
	}
}

func mustWrite(t *testing.T, path, s string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(s), 0o755); err != nil {
		t.Fatal(err)
	}
}

func TestNewServiceProvider(t *testing.T) {
	for _, n := range []string{"systemd", "sysv", "openrc", "sim"} {
		p, err := NewServiceProvider(n, &recordingRunner{})
		if err != nil || p.Name() != n {
			t.Errorf("%s: %v %v", n, p, err)
		}
	}
	if _, err := NewServiceProvider("upstart", nil); err == nil || err.Error() != `unknown service provider "upstart": use systemd, sysv, openrc or sim` {
		t.Fatalf("err = %v", err)
	}
}
