package facts

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pulseops/pulse/internal/testkit"
)

// failing is a source that returns some facts and an error, the way System
// does on a root with missing files.
type failing struct{ partial map[string]any }

func (failing) Name() string { return "broken" }
func (f failing) Gather(context.Context) (map[string]any, error) {
	return f.partial, errors.New("disk on fire")
}

// counting is a source whose facts change on every gather, so a test can
// see refreshes.
type counting struct{ n atomic.Int64 }

func (*counting) Name() string { return "counter" }
func (c *counting) Gather(context.Context) (map[string]any, error) {
	return map[string]any{"gathers": float64(c.n.Add(1))}, nil
}

func TestGathererMerge(t *testing.T) {
	log, logs := testLogger(t)
	g := NewGatherer([]Source{
		Static{"role": "web", "cluster": "alpha", "os": map[string]any{"name": "debian", "family": "debian"}},
		failing{partial: map[string]any{"disk": "sda"}},
		Static{"role": "db", "os": map[string]any{"name": "alpine"}},
	}, log)

	if f := g.Facts(); f == nil || len(f) != 0 {
		t.Errorf("Facts before Gather = %v, want an empty map", f)
	}
	got := g.Gather(context.Background())
	want := map[string]any{
		"role": "db", "cluster": "alpha", "disk": "sda",
		"os": map[string]any{"name": "alpine"}, // top-level override, not a deep merge
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Gather = %v\nwant %v", got, want)
	}
	if !reflect.DeepEqual(g.Facts(), want) {
		t.Errorf("Facts = %v, want the snapshot %v", g.Facts(), want)
	}
	errs := g.Errors()
	if len(errs) != 1 || errs["broken"] == nil || errs["broken"].Error() != "disk on fire" {
		t.Errorf("Errors = %v, want only broken: disk on fire", errs)
	}
	for _, want := range []string{"component=facts", "source=broken", `err="disk on fire"`, "partial_facts=1"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
}

func TestStaticIsCopied(t *testing.T) {
	s := Static{"n": 3, "tags": []string{"a"}, "m": map[string]any{"k": "v"}}
	got, _ := s.Gather(context.Background())
	got["m"].(map[string]any)["k"] = "changed"
	if s["m"].(map[string]any)["k"] != "v" {
		t.Error("changing gathered facts changed the Static source")
	}
	if got["n"] != 3.0 || !reflect.DeepEqual(got["tags"], []any{"a"}) {
		t.Errorf("Static not normalized: %#v", got)
	}
}

func TestGathererRun(t *testing.T) {
	c := &counting{}
	g := NewGatherer([]Source{c}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		g.Run(ctx, time.Millisecond)
		close(done)
	}()
	// Readers race the refreshes; -race checks the snapshot handling.
	testkit.WaitFor(t, 10*time.Second, "three refreshes", func() bool {
		n, _ := g.Facts()["gathers"].(float64)
		return n >= 3
	})
	cancel()
	<-done
}
