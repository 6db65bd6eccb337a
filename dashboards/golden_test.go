package dashboards

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

var update = flag.Bool("update", false, "rewrite dashboards/json from the generator")

// TestCommittedJSON proves the JSON Grafana provisions is exactly what the
// Go code generates: nobody edited it by hand, nobody forgot to
// regenerate. Run `go test ./dashboards -run TestCommittedJSON -update`
// (or `pulse dashboards generate --out dashboards/json`) after a change.
func TestCommittedJSON(t *testing.T) {
	files, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if _, err := WriteDir("json"); err != nil {
			t.Fatal(err)
		}
	}
	committed, err := filepath.Glob("json/*.json")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range committed {
		names = append(names, filepath.Base(p))
	}
	var want []string
	for n := range files {
		want = append(want, n)
	}
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Fatalf("dashboards/json holds %v, the generator makes %v; run go test ./dashboards -run TestCommittedJSON -update", names, want)
	}
	for name, b := range files {
		got, err := os.ReadFile(filepath.Join("json", name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, b) {
			t.Errorf("dashboards/json/%s differs from the generator's output; run go test ./dashboards -run TestCommittedJSON -update", name)
		}
	}
}

// TestGenerateIsDeterministic guards the golden comparison: two runs must
// give the same bytes.
func TestGenerateIsDeterministic(t *testing.T) {
	a, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	b, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	for name := range a {
		if !bytes.Equal(a[name], b[name]) {
			t.Errorf("%s differs between two runs", name)
		}
	}
}
