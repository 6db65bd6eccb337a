package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/pulseops/pulse/demo"
)

// fleet starts the demo fleet on a free port for the life of the test.
func fleet(t *testing.T) *demo.Demo {
	t.Helper()
	d, err := demo.Start(context.Background(), demo.Options{Nodes: 11, Zones: []string{"eu-west-1a", "eu-west-1b"}, NATSPort: -1, ChangeDelay: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Stop)
	return d
}

// pulse runs the CLI in-process and returns its output and exit code.
func pulse(t *testing.T, d *demo.Demo, args ...string) (string, string, int) {
	t.Helper()
	root := newRoot()
	var out, errb bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errb)
	if d != nil {
		args = append(args, "--nats", d.NATSURL())
	}
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	code := exitCode(err)
	var ee exitError
	if err != nil && !errors.As(err, &ee) {
		errb.WriteString(err.Error())
	}
	return out.String(), errb.String(), code
}

func TestPingCommand(t *testing.T) {
	d := fleet(t)
	out, _, code := pulse(t, d, "ping")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	if n := len(regexp.MustCompile(`(?m)^ip-10-0-\d-\d+ +time=\d+\.\d\d ms$`).FindAllString(out, -1)); n != 11 {
		t.Fatalf("%d node lines, want 11:\n%s", n, out)
	}
	if !regexp.MustCompile(`11 replies max: \d+\.\d\d min: \d+\.\d\d avg: \d+\.\d\d`).MatchString(out) {
		t.Fatalf("no ping statistics:\n%s", out)
	}
	out, _, _ = pulse(t, d, "ping", "--json")
	var js struct {
		Count   int `json:"count"`
		Replies []struct {
			Identity string `json:"identity"`
		} `json:"replies"`
	}
	if err := json.Unmarshal([]byte(out), &js); err != nil || js.Count != 11 || len(js.Replies) != 11 {
		t.Fatalf("ping --json: %v %+v\n%s", err, js, out)
	}
}

func TestFactsFindInventoryRPC(t *testing.T) {
	d := fleet(t)
	out, _, code := pulse(t, d, "facts", "ec2_placement_availability_zone")
	if code != 0 || !strings.Contains(out, "eu-west-1a                               found 6 times") ||
		!strings.Contains(out, "eu-west-1b                               found 5 times") ||
		!strings.Contains(out, "Finished processing 11 / 11 hosts in") {
		t.Fatalf("facts exit %d:\n%s", code, out)
	}
	out, _, code = pulse(t, d, "find", "-W", "cluster=alfa")
	if code != 0 || len(strings.Fields(out)) != 6 {
		t.Fatalf("find -W cluster=alfa exit %d, want 6 nodes:\n%s", code, out)
	}
	out, _, code = pulse(t, d, "inventory", "ip-10-0-1-12")
	for _, want := range []string{"Inventory for ip-10-0-1-12:", "Agents:", "nrpe  package  rpcutil  service", "role::web", "role => web"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Fatalf("inventory exit %d lacks %q:\n%s", code, want, out)
		}
	}
	out, _, code = pulse(t, d, "rpc", "rpcutil", "get_fact", "fact=role", "-W", "role=web")
	if code != 0 || strings.Count(out, "value: web") != 6 || !strings.Contains(out, "Finished processing 6 / 6 hosts") {
		t.Fatalf("rpc get_fact exit %d:\n%s", code, out)
	}
}

func TestExitCodes(t *testing.T) {
	d := fleet(t)
	_, errOut, code := pulse(t, d, "ping", "-S", "role=web and (")
	if code != exitUsage || !strings.Contains(errOut, "column") {
		t.Fatalf("bad filter: exit %d, stderr %q; want 2 and a column", code, errOut)
	}
	nodes := filepath.Join(t.TempDir(), "nodes")
	os.WriteFile(nodes, []byte("ip-10-0-1-10\nip-10-0-9-99\n"), 0o644)
	out, _, code := pulse(t, d, "rpc", "rpcutil", "ping", "--nodes", nodes, "--timeout", "1s")
	if code != exitFailed || !strings.Contains(out, "No response from:") || !strings.Contains(out, "ip-10-0-9-99") {
		t.Fatalf("silent node: exit %d\n%s", code, out)
	}
	_, _, code = pulse(t, d, "service", "status", "nginx")
	if code != exitUsage {
		t.Fatalf("service ACTION NAME order: exit %d, want 2", code)
	}
	_, errOut, code = pulse(t, nil, "ping", "--nats", "nats://127.0.0.1:1")
	if code != exitFailed || !strings.Contains(errOut, "cannot reach NATS") {
		t.Fatalf("no broker: exit %d %q", code, errOut)
	}
}
