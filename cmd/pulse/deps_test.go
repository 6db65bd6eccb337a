//go:build !agentonly

package main

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

func goList(t *testing.T, args ...string) []string {
	t.Helper()
	out, err := exec.Command("go", append([]string{"list"}, args...)...).Output()
	if err != nil {
		t.Fatalf("go list %v: %v", args, err)
	}
	return strings.Fields(string(out))
}

// What a node runs must not carry the collector, the orchestration client,
// the broker (nats-server) or the testing package: the agent-only build is
// the agent's whole attack surface and memory.
func TestAgentOnlyDependencies(t *testing.T) {
	deps := goList(t, "-deps", "-tags", "agentonly", ".")
	for _, d := range deps {
		for _, bad := range []string{
			"github.com/pulseops/pulse/collector",
			"github.com/pulseops/pulse/internal/rpc",
			"github.com/pulseops/pulse/internal/broker",
			"github.com/nats-io/nats-server/",
			"github.com/prometheus/client_golang/",
		} {
			if d == bad || strings.HasPrefix(d, bad+"/") || strings.HasSuffix(bad, "/") && strings.HasPrefix(d, bad) {
				t.Errorf("the agent-only build links %s", d)
			}
		}
		if d == "testing" {
			t.Error("the agent-only build links the testing package")
		}
	}
	if !slices.Contains(deps, "github.com/pulseops/pulse/nodeagent") {
		t.Fatalf("go list found no agent in the agent-only build: %v", deps)
	}
}

// Every command file is in exactly one build on purpose: a file without
// //go:build !agentonly lands in the agent-only build, so adding one to
// the list below is a decision, not an accident.
func TestAgentOnlyCommandFiles(t *testing.T) {
	got := goList(t, "-tags", "agentonly", "-f", "{{join .GoFiles \" \"}}", ".")
	want := []string{"agent.go", "commands_agent.go", "facts_agent.go", "keys.go", "localfacts.go", "main.go"}
	if !slices.Equal(got, want) {
		t.Fatalf("files of the agent-only build: %v\nwant %v: give a new command file the build tag //go:build !agentonly, or list it here if nodes need it", got, want)
	}
}

// Only the packages that exist for tests import testing, so no test
// helper ends up in the pulse binary.
func TestOnlyTestHelpersImportTesting(t *testing.T) {
	helpers := []string{
		"github.com/pulseops/pulse/collector/collectortest",
		"github.com/pulseops/pulse/internal/broker/brokertest",
		"github.com/pulseops/pulse/internal/hostlock",
		"github.com/pulseops/pulse/internal/testkit",
	}
	for _, line := range strings.Split(strings.Join(goList(t, "-f", "{{.ImportPath}}:{{join .Imports \",\"}}", "github.com/pulseops/pulse/..."), "\n"), "\n") {
		pkg, imports, _ := strings.Cut(line, ":")
		if slices.Contains(strings.Split(imports, ","), "testing") && !slices.Contains(helpers, pkg) {
			t.Errorf("%s imports testing: move the test helper into a package only tests import", pkg)
		}
	}
	for _, d := range goList(t, "-deps", ".") {
		if slices.Contains(helpers, d) {
			t.Errorf("the pulse binary links the test helper %s", d)
		}
	}
}
