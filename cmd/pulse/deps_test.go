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

// The rooms of ARCHITECTURE.md and what each may import, held to the code:
// imports run downward, the listening core never reaches the acting parts,
// the API package stays light enough for the CLI, and only cmd composes
// the demo.
func TestImportRules(t *testing.T) {
	const m = "github.com/pulseops/pulse/"
	imports := map[string][]string{}
	for _, line := range goList(t, "-f", "{{.ImportPath}}:{{join .Imports \",\"}}", m+"...") {
		pkg, list, _ := strings.Cut(line, ":")
		imports[strings.TrimPrefix(pkg, m)] = strings.Split(list, ",")
	}
	under := func(p, room string) bool { return p == room || strings.HasPrefix(p, room+"/") }
	rules := []struct {
		room     string // a package and those under it
		except   []string
		mayNot   []string // rooms it must not import
		whyNotOk string
	}{
		{room: "internal", mayNot: []string{"collector", "nodeagent", "probes", "demo", "bench", "faults", "rules", "dashboards", "cmd"}, whyNotOk: "internal packages sit below every other room"},
		{room: "probes", mayNot: []string{"collector", "nodeagent", "demo", "bench", "faults", "cmd"}, whyNotOk: "probes only use internal"},
		{room: "nodeagent", mayNot: []string{"collector", "demo", "bench", "faults", "cmd", "internal/rpc", "internal/broker"}, whyNotOk: "a node links no collector, client or broker"},
		{room: "collector/api", mayNot: []string{"collector/app", "collector/act", "collector/hub", "collector/web", "collector/remediation", "collector/rollout", "collector/delivery", "nodeagent", "github.com/prometheus/client_golang"}, whyNotOk: "the CLI imports the API package alone"},
		{room: "collector/hub", mayNot: []string{"collector/app", "collector/act", "collector/web", "collector/remediation", "nodeagent"}, whyNotOk: "the hub only fans out events"},
		{room: "collector/web", mayNot: []string{"collector/app", "collector/act", "collector/hub", "collector/remediation", "nodeagent"}, whyNotOk: "the web view only reads"},
		{room: "collector/remediation", mayNot: []string{"collector/app", "collector/act", "collector/hub", "collector/web", "internal/rpc", "nodeagent/facts"}, whyNotOk: "the engine acts through an Executor"},
		{room: "collector/rollout", mayNot: []string{"collector/app", "collector/act", "collector/hub", "collector/web", "collector/remediation", "collector/delivery", "nodeagent"}, whyNotOk: "rollouts act through the orchestration client, as the CLI does"},
		{room: "collector/delivery", mayNot: []string{"collector/app", "collector/act", "collector/hub", "collector/web", "collector/remediation", "collector/rollout", "internal/rpc", "nodeagent"}, whyNotOk: "delivery metrics only count"},
		{room: "collector/alerts", mayNot: []string{"collector/app", "collector/act", "collector/hub", "collector/web", "internal/rpc", "nodeagent"}, whyNotOk: "the alerts view only reads"},
		{room: "collector/slo", mayNot: []string{"collector/app", "collector/act", "collector/hub", "collector/web", "collector/remediation", "internal/rpc", "nodeagent", "github.com/prometheus/client_golang"}, whyNotOk: "the SLO view only reads Prometheus"},
		{room: "collector", except: []string{"collector/app", "collector/act", "collector/alerts", "collector/slo", "collector/hub", "collector/web", "collector/remediation", "collector/rollout", "collector/delivery", "collector/api", "collector/collectortest"},
			mayNot: []string{"collector/app", "collector/act", "collector/hub", "collector/web", "collector/remediation", "internal/rpc", "nodeagent"}, whyNotOk: "the listening core never acts on the fleet"},
	}
	for pkg, deps := range imports {
		for _, r := range rules {
			if !under(pkg, r.room) || slices.ContainsFunc(r.except, func(e string) bool { return under(pkg, e) }) {
				continue
			}
			for _, d := range deps {
				d = strings.TrimPrefix(d, m)
				for _, bad := range r.mayNot {
					if under(d, bad) {
						t.Errorf("%s imports %s: %s (ARCHITECTURE.md)", pkg, d, r.whyNotOk)
					}
				}
			}
		}
		// pulse bench runs the demo's simulated fleet, at demo's level.
		if pkg != "cmd/pulse" && pkg != "bench" && slices.ContainsFunc(deps, func(d string) bool { return under(strings.TrimPrefix(d, m), "demo") }) && !under(pkg, "demo") {
			t.Errorf("%s imports the demo: only cmd/pulse composes it", pkg)
		}
	}
	if len(imports) < 20 {
		t.Fatalf("go list found only %d packages", len(imports))
	}
}
