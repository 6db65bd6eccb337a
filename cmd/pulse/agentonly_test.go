//go:build !agentonly

package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pulseops/pulse/internal/broker"
)

// TestAgentOnlyBuild builds pulse with -tags agentonly, as nodes install
// it, and checks that it is the agent and nothing else, and that a full
// client sees its agent answer.
func TestAgentOnlyBuild(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "pulse")
	build := exec.Command("go", "build", "-tags", "agentonly", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build -tags agentonly: %v\n%s", err, out)
	}

	help, err := exec.Command(bin, "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("pulse --help: %v\n%s", err, help)
	}
	for _, want := range []string{"agent-only build", "\n  agent ", "\n  facts ", "\n  keys "} {
		if !strings.Contains(string(help), want) {
			t.Errorf("--help lacks %q:\n%s", want, help)
		}
	}
	for _, absent := range []string{"\n  ping ", "\n  collector ", "\n  demo ", "\n  broker "} {
		if strings.Contains(string(help), absent) {
			t.Errorf("--help of the agent-only build offers %q:\n%s", absent, help)
		}
	}
	// A node has the facts command, facter's habit, without the client.
	facts, err := exec.Command(bin, "facts", "--facts-root", factsRoot, "architecture", "os.release.major").CombinedOutput()
	if err != nil || string(facts) != "architecture => x86_64\nos.release.major => 12\n" {
		t.Errorf("pulse facts in the agent-only build: %v\n%s", err, facts)
	}
	ping := exec.Command(bin, "ping")
	out, _ := ping.CombinedOutput()
	if code := ping.ProcessState.ExitCode(); code != exitUsage || !strings.Contains(string(out), `unknown command "ping"`) {
		t.Errorf("pulse ping in the agent-only build: exit %d, want %d and an unknown command:\n%s", code, exitUsage, out)
	}

	b, err := broker.Start(broker.Options{Host: "127.0.0.1", Port: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Shutdown)
	cfg := filepath.Join(dir, "agent.yaml")
	if err := os.WriteFile(cfg, []byte("identity: slim-01\nnats: ["+b.ClientURL()+"]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	agent := exec.CommandContext(ctx, bin, "agent", "--config", cfg)
	var logs bytes.Buffer
	agent.Stdout, agent.Stderr = &logs, &logs
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); _ = agent.Wait() })

	deadline := time.Now().Add(30 * time.Second)
	for {
		out, _, code := pulse(t, nil, "ping", "--nats", b.ClientURL(), "--discovery-timeout", "2s")
		if code == exitOK && strings.Contains(out, "slim-01 ") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the agent-only build never answered ping (exit %d):\n%s\nagent log:\n%s", code, out, logs.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
}
