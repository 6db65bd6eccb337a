//go:build !agentonly

package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pulseops/pulse/demo"
	"github.com/pulseops/pulse/internal/testkit"
)

// readStory returns the commands of the console block under the README
// tour's "Rolling out a release".
func readStory(t *testing.T) []tourCommand {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(b), "\n### Rolling out a release")
	if !ok {
		t.Fatal("the README's tour has no \"Rolling out a release\"")
	}
	_, block, ok = strings.Cut(block, "```console\n")
	if !ok {
		t.Fatal("\"Rolling out a release\" has no console block")
	}
	block, _, _ = strings.Cut(block, "```")
	var cmds []tourCommand
	for _, line := range strings.Split(block, "\n") {
		if cmd, ok := strings.CutPrefix(line, "$ "); ok {
			cmd, _, _ = strings.Cut(cmd, "  #")
			cmds = append(cmds, tourCommand{args: strings.Fields(cmd)})
			continue
		}
		if len(cmds) > 0 && strings.TrimSpace(line) != "" && strings.TrimSpace(line) != "..." {
			cmds[len(cmds)-1].lines = append(cmds[len(cmds)-1].lines, strings.TrimRight(line, " "))
		}
	}
	return cmds
}

// storyVaries stands for what differs every run: numbers (timings, clock
// times) and rollout ids.
var storyVaries = regexp.MustCompile(`[0-9a-f]{12}|\d+`)

// The README's rollout story, run as shown against the demo fleet: a
// release that breaks logins is halted at its canary and rolled back (exit
// 1), a good one goes out in steps (exit 0), both are listed; every line
// the README shows is printed (ids and numbers may differ). Then the
// collector's delivery series say what happened: two deployments in the
// canary's group, one failed, one restore by rollback.
func TestReadmeRolloutStory(t *testing.T) {
	cmds := readStory(t)
	if len(cmds) < 3 {
		t.Fatalf("the story shows %d commands", len(cmds))
	}
	d, err := demo.Start(context.Background(), demo.Options{Nodes: 11, Zones: []string{"eu-west-1a", "eu-west-1b"}, NATSPort: -1,
		CollectorAddr: "127.0.0.1:0", ShopAddr: "127.0.0.1:0", Prometheus: "off", Alertmanager: "off", ChangeDelay: -1,
		Intervals: demo.Intervals{Register: time.Second, Load: time.Second, Nginx: time.Second, Probe: 2 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Stop)
	collectorURL := "http://" + d.Collector.Addr()
	testkit.WaitFor(t, 30*time.Second, "every web node's first login probe", func() bool {
		out, _, _ := pulse(t, d, "ping")
		return strings.Contains(out, "11 replies")
	})
	codes := []int{}
	for _, tc := range cmds {
		if len(tc.args) < 2 || tc.args[0] != "pulse" {
			t.Fatalf("story command %q is not pulse", tc.args)
		}
		var out, errOut string
		var code int
		if tc.args[1] == "rollouts" {
			api := []string{"--collector", collectorURL, "--token", d.ActionToken}
			// The collector follows the records on the bus: it has the
			// last one a moment after the CLI published it.
			testkit.WaitFor(t, 10*time.Second, "the collector to have the rollouts' final records", func() bool {
				js, _, _ := pulseCtx(context.Background(), append([]string{"rollouts", "--json"}, api...)...)
				return strings.Count(js, `"state": "running"`) == 0 && strings.Count(js, `"started_by"`) == 2
			})
			out, errOut, code = pulseCtx(context.Background(), append(slices.Clone(tc.args[1:]), api...)...)
		} else {
			out, errOut, code = pulse(t, d, tc.args[1:]...)
		}
		codes = append(codes, code)
		got := strings.Split(out, "\n")
		for _, want := range tc.lines {
			want = strings.ReplaceAll(want, "http://127.0.0.1:9781", d.ShopURL)
			parts := storyVaries.Split(want, -1)
			for i := range parts {
				parts[i] = regexp.QuoteMeta(parts[i])
			}
			re := regexp.MustCompile("^" + strings.Join(parts, `(?:[0-9a-f]{12}|\d+)`) + "$")
			if !slices.ContainsFunc(got, func(l string) bool { return re.MatchString(strings.TrimRight(l, " ")) }) {
				t.Errorf("$ %s\nREADME shows %q, which the demo did not print:\n%s%s", strings.Join(tc.args, " "), want, out, errOut)
			}
		}
	}
	if !slices.Equal(codes[:2], []int{1, 0}) {
		t.Fatalf("exit codes %v: the bad release exits 1, the good one 0", codes)
	}
	// What the collector derived, incrementally, from the changes and the
	// rollouts' records.
	canary := `az="eu-west-1a",cluster="alfa",role="web"`
	want := []string{
		`pulse_deployments_total{` + canary + `} 2`,
		`pulse_change_failures_total{` + canary + `} 1`,
		`pulse_restore_duration_seconds_count{` + canary + `,source="rollback"} 1`,
		`pulse_deployments_total{az="eu-west-1b",cluster="beta",role="web"} 1`,
		`pulse_change_failures_total{az="eu-west-1b",cluster="beta",role="web"} 0`,
		`pulse_package_info{az="eu-west-1a",cluster="alfa",identity="ip-10-0-1-10",package="shop",role="web",version="` + demo.GoodShopVersion + `"} 1`,
	}
	var missing []string
	var metrics string
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(collectorURL + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		metrics, missing = string(b), nil
		for _, w := range want {
			if !strings.Contains(metrics, w+"\n") {
				missing = append(missing, w)
			}
		}
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			var delivery []string
			for _, l := range strings.Split(metrics, "\n") {
				if strings.HasPrefix(l, "pulse_deployments_total") || strings.HasPrefix(l, "pulse_change_failures_total") || strings.HasPrefix(l, "pulse_restore_duration_seconds_count") {
					delivery = append(delivery, l)
				}
			}
			t.Fatalf("after 20s /metrics lacks %q; the delivery series are:\n%s", missing, strings.Join(delivery, "\n"))
		}
		time.Sleep(100 * time.Millisecond) // poll interval, not a wait for state
	}
}
