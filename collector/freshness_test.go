package collector

import (
	"testing"
	"time"

	"github.com/pulseops/pulse/internal/protocol"
)

func TestFreshness(t *testing.T) {
	var f freshness
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	for i, tc := range []struct {
		boot string
		seq  uint64
		at   int
		want string
	}{
		{"a", 5, 10, ""},             // the first message of a stream
		{"a", 5, 10, reasonReplayed}, // the same again
		{"a", 4, 9, reasonOlder},     // an earlier one of the same run
		{"a", 6, 8, ""},              // later in the run, though the clock stepped back
		{"b", 1, 7, reasonOlder},     // another run, sent before the newest accepted
		{"b", 1, 8, reasonOlder},     // ... or at the same time
		{"b", 1, 20, ""},             // the agent restarted
		{"a", 99, 15, reasonOlder},   // the previous run, replayed
		{"b", 2, 21, ""},             // and the new run goes on
		{"b", 2, 21, reasonReplayed},
	} {
		if got := f.accept(protocol.Stream{Boot: tc.boot, Seq: tc.seq}, at(tc.at)); got != tc.want {
			t.Fatalf("step %d (%s/%d at %d): %q, want %q", i, tc.boot, tc.seq, tc.at, got, tc.want)
		}
	}
	if !inFuture(at(6), at(0), 5*time.Second) || inFuture(at(5), at(0), 5*time.Second) {
		t.Fatal("skew bound")
	}
}
