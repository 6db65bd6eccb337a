//go:build !agentonly

package main

import (
	"context"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/pulseops/pulse/demo"
)

// tourCommand is one `$ pulse ...` of the README's tour with the output
// lines it shows.
type tourCommand struct {
	args  []string
	grep  string // "| grep X" after the command
	lines []string
}

// readTour returns the commands of the first console block of the README's
// "A tour of the demo".
func readTour(t *testing.T) []tourCommand {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	start := strings.Index(readme, "\n## A tour of the demo")
	if start < 0 {
		t.Fatal("README has no tour")
	}
	block := readme[start:]
	i := strings.Index(block, "```console\n")
	if i < 0 {
		t.Fatal("the tour has no console block")
	}
	block = block[i+len("```console\n"):]
	block = block[:strings.Index(block, "```")]
	var cmds []tourCommand
	for _, line := range strings.Split(block, "\n") {
		if cmd, ok := strings.CutPrefix(line, "$ "); ok {
			var tc tourCommand
			cmd, tc.grep, _ = strings.Cut(cmd, " | grep ")
			if c, _, ok := strings.Cut(cmd, "  #"); ok {
				cmd = c
			}
			tc.args = strings.Fields(cmd)
			cmds = append(cmds, tc)
			continue
		}
		if len(cmds) > 0 && strings.TrimSpace(line) != "" && strings.TrimSpace(line) != "..." {
			cmds[len(cmds)-1].lines = append(cmds[len(cmds)-1].lines, strings.TrimRight(line, " "))
		}
	}
	return cmds
}

// decimal stands for timings and load averages, which differ every run.
var decimal = regexp.MustCompile(`\d+\.\d+`)

// The tour's commands, run in order against the demo fleet, print every
// line the README shows (any decimal number may differ).
func TestReadmeTour(t *testing.T) {
	cmds := readTour(t)
	if len(cmds) < 8 {
		t.Fatalf("the tour shows %d commands", len(cmds))
	}
	// The demo's shop serves on a free port here; the tour's URLs of it
	// are pointed there.
	d, err := demo.Start(context.Background(), demo.Options{Nodes: 11, Zones: []string{"eu-west-1a", "eu-west-1b"}, NATSPort: -1, ChangeDelay: -1, ShopAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Stop)
	for _, tc := range cmds {
		if len(tc.args) == 0 || tc.args[0] != "pulse" {
			t.Fatalf("tour command %q is not pulse", tc.args)
		}
		args := slices.Clone(tc.args[1:])
		for i, a := range args {
			args[i] = strings.ReplaceAll(a, "http://127.0.0.1:9781", d.ShopURL)
		}
		out, errOut, _ := pulse(t, d, args...)
		got := strings.Split(out, "\n")
		if tc.grep != "" {
			var kept []string
			for _, l := range got {
				if strings.Contains(l, tc.grep) {
					kept = append(kept, l)
				}
			}
			got = kept
		}
		for _, want := range tc.lines {
			parts := decimal.Split(want, -1)
			for i := range parts {
				parts[i] = regexp.QuoteMeta(parts[i])
			}
			re := regexp.MustCompile("^" + strings.Join(parts, `\d+\.\d+`) + "$")
			found := false
			for _, l := range got {
				if re.MatchString(strings.TrimRight(l, " ")) {
					found = true
					break
				}
			}
			if !found {
				t.Errorf("$ %s\nREADME shows %q, which the demo did not print:\n%s%s", strings.Join(tc.args, " "), want, out, errOut)
			}
		}
	}
}
