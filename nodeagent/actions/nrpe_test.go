package actions

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/pulseops/pulse/internal/protocol"
	"github.com/pulseops/pulse/nodeagent/checks"
)

const nrpeTestPluginDir = "/usr/lib/nagios/plugins"

func nrpeNeedPlugin(t *testing.T, name string) string {
	t.Helper()
	p := filepath.Join(nrpeTestPluginDir, name)
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is missing: install Debian package monitoring-plugins-basic", p)
		}
		t.Skipf("%s is missing: install Debian package monitoring-plugins-basic", p)
	}
	return p
}

func nrpeCall(t *testing.T, a *NRPEAgent, action, data string) (Result, map[string]any) {
	t.Helper()
	res := a.Call(context.Background(), Request{ID: "r1", Caller: "test", Action: action, Data: json.RawMessage(data)})
	if res.Data == nil {
		return res, nil
	}
	// Round-trip through JSON: the field names are the contract.
	b, err := json.Marshal(res.Data)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return res, m
}

func TestNRPEAgentRealPlugins(t *testing.T) {
	load := nrpeNeedPlugin(t, "check_load")
	disk := nrpeNeedPlugin(t, "check_disk")
	procs := nrpeNeedPlugin(t, "check_procs")
	a := NewNRPEAgent(checks.NewRunner(checks.RunnerOptions{Commands: map[string][]string{
		"check_load":      {load, "-w", "100,100,100", "-c", "200,200,200"},
		"check_load_crit": {load, "-w", "0,0,0", "-c", "0,0,0"},
		"check_root":      {disk, "-w", "10%", "-c", "5%", "-p", "/"},
		"check_procs":     {procs},
		"builtin_load":    {"check_load", "-w", "100", "-c", "200"},
	}}), nil)
	if a.Name() != "nrpe" || !reflect.DeepEqual(a.Actions(), []string{"list", "runcommand"}) {
		t.Fatalf("Name/Actions = %q %q", a.Name(), a.Actions())
	}
	tests := []struct {
		command, prefix string
		labels          []any
	}{
		{"check_load", "LOAD OK - total load average: ", []any{"load1", "load5", "load15"}},
		{"builtin_load", "LOAD OK - total load average: ", []any{"load1", "load5", "load15"}},
		{"check_root", "DISK ", []any{"/"}},
		{"check_procs", "PROCS ", []any{"procs"}},
	}
	for _, tc := range tests {
		t.Run(tc.command, func(t *testing.T) {
			res, m := nrpeCall(t, a, "runcommand", `{"command":"`+tc.command+`"}`)
			if res.Status != protocol.OK {
				t.Fatalf("status %v %q", res.Status, res.Message)
			}
			if m["command"] != tc.command || !strings.HasPrefix(m["output"].(string), tc.prefix) {
				t.Fatalf("reply %v", m)
			}
			for _, k := range []string{"command", "exitcode", "status", "output", "long_output", "perfdata", "duration"} {
				if _, ok := m[k]; !ok {
					t.Errorf("reply lacks %q: %v", k, m)
				}
			}
			if m["status"] != protocol.StateName(int(m["exitcode"].(float64))) {
				t.Errorf("status %v does not match exitcode %v", m["status"], m["exitcode"])
			}
			perf := m["perfdata"].([]any)
			var labels []any
			for _, p := range perf {
				labels = append(labels, p.(map[string]any)["label"])
			}
			if !reflect.DeepEqual(labels, tc.labels) {
				t.Errorf("perfdata labels %v, want %v", labels, tc.labels)
			}
		})
	}
	// A CRITICAL check is still a successful RPC.
	res, m := nrpeCall(t, a, "runcommand", `{"command":"check_load_crit"}`)
	if res.Status != protocol.OK || m["exitcode"] != float64(2) || m["status"] != "CRITICAL" {
		t.Errorf("critical check: %v %v", res, m)
	}
	res, m = nrpeCall(t, a, "list", "")
	want := []any{"builtin_load", "check_load", "check_load_crit", "check_procs", "check_root"}
	if res.Status != protocol.OK || !reflect.DeepEqual(m["commands"], want) {
		t.Errorf("list: %v %v", res, m)
	}
}

func TestNRPEAgentRefusals(t *testing.T) {
	a := NewNRPEAgent(checks.NewRunner(checks.RunnerOptions{Commands: map[string][]string{
		"echo": {"/bin/echo", "$ARG1$"},
	}}), nil)
	tests := []struct {
		action, data string
		status       protocol.Status
		msg          string
	}{
		{"runcommand", `{"command":"nope"}`, protocol.InvalidData, `unknown nrpe command "nope": configured commands are echo`},
		{"runcommand", `{"command":"x;id"}`, protocol.InvalidData, `invalid nrpe input: command name "x;id" has invalid character ';' at position 2 (allowed: A-Z a-z 0-9 _ . -)`},
		{"runcommand", `{"command":"echo","args":["hi"]}`, protocol.InvalidData, "invalid nrpe input: command echo was given 1 argument(s) but arguments are not allowed (enable dont_blame_nrpe or allow_arguments to permit them)"},
		{"runcommand", `{"command":""}`, protocol.MissingData, `runcommand needs a "command"`},
		{"runcommand", ``, protocol.MissingData, `runcommand needs data {"command": "<name>"}`},
		{"runcommand", `{"command":"echo","extra":1}`, protocol.InvalidData, `runcommand data: json: unknown field "extra"`},
		{"runcommand", `[1]`, protocol.InvalidData, "runcommand data: json: cannot unmarshal array into Go value of type actions.NRPERunRequest"},
		{"restart", `{}`, protocol.UnknownAction, "nrpe has no action restart; actions are list, runcommand"},
	}
	for _, tc := range tests {
		res, _ := nrpeCall(t, a, tc.action, tc.data)
		if res.Status != tc.status || res.Message != tc.msg {
			t.Errorf("%s %s = %v %q, want %v %q", tc.action, tc.data, res.Status, res.Message, tc.status, tc.msg)
		}
	}
}

// TestNRPEAgentInjection sends hostile names and arguments through the
// agent to commands that would obey a shell if one were ever involved, and
// proves nothing ran.
func TestNRPEAgentInjection(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "pwned")
	a := NewNRPEAgent(checks.NewRunner(checks.RunnerOptions{
		AllowArguments: true,
		Commands: map[string][]string{
			"echo": {"/bin/echo", "$ARG1$"},
			"sh":   {"/bin/sh", "-c", "$ARG1$"},
		},
	}), nil)
	payloads := []string{
		"; touch " + marker, "$(touch " + marker + ")", "`touch " + marker + "`", "a b", "a\x00b", "x\ntouch " + marker,
		"-c", "--help", strings.Repeat("A", 10<<10),
	}
	for _, p := range payloads {
		for _, cmd := range []string{"echo", "sh"} {
			data, _ := json.Marshal(NRPERunRequest{Command: cmd, Args: []string{p}})
			if res, _ := nrpeCall(t, a, "runcommand", string(data)); res.Status != protocol.InvalidData {
				t.Errorf("argument %.40q to %s: status %v %q, want 4", p, cmd, res.Status, res.Message)
			}
		}
		data, _ := json.Marshal(NRPERunRequest{Command: p})
		if res, _ := nrpeCall(t, a, "runcommand", string(data)); res.Status != protocol.InvalidData {
			t.Errorf("name %.40q: status %v %q, want 4", p, res.Status, res.Message)
		}
	}
	if _, err := os.Stat(marker); !os.IsNotExist(err) {
		t.Fatalf("marker %s exists: something ran a shell (%v)", marker, err)
	}
	// A clean argument does reach the command, so the refusals above are
	// not just a broken agent.
	res, m := nrpeCall(t, a, "runcommand", `{"command":"echo","args":["hello"]}`)
	if res.Status != protocol.OK || m["output"] != "hello" || m["exitcode"] != float64(0) {
		t.Fatalf("clean argument: %v %v", res, m)
	}
}
