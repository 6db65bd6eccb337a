package rules

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the committed rule files and golden files from the generators")

// checkGolden compares got with the file at path, or rewrites it with -update.
func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./rules -run %s -update to create it)", err, t.Name())
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the generator's output; run go test ./rules -run %s -update and review the diff.\ngot:\n%s", path, t.Name(), got)
	}
}

// TestCommittedFleetRules proves rules/pulse.rules.yml is exactly what
// FleetRules(DefaultFleetOptions()) renders, so nobody edits it by hand.
func TestCommittedFleetRules(t *testing.T) {
	got, err := FleetRules(DefaultFleetOptions())
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "pulse.rules.yml", got)
}

// TestCommittedSLORules proves every slo/<name>.yaml has a committed
// slo-<name>.rules.yml equal to GenerateSLO's output.
func TestCommittedSLORules(t *testing.T) {
	specs, err := filepath.Glob("slo/*.yaml")
	if err != nil || len(specs) == 0 {
		t.Fatalf("no SLO specs under slo/: %v", err)
	}
	for _, path := range specs {
		t.Run(filepath.Base(path), func(t *testing.T) {
			s, err := LoadSLO(path)
			if err != nil {
				t.Fatal(err)
			}
			if want := strings.TrimSuffix(filepath.Base(path), ".yaml"); s.Name != want {
				t.Fatalf("%s declares name %q; name the file after the SLO (%s.yaml)", path, s.Name, s.Name)
			}
			got, err := GenerateSLO(s)
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, "slo-"+s.Name+".rules.yml", got)
		})
	}
}
