package ratelog

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestOncePerKeyPerPeriodWithCount(t *testing.T) {
	var buf bytes.Buffer
	l := New(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}})), time.Minute)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l.now = func() time.Time { return now }
	for i := 0; i < 1000; i++ {
		l.Warn("decode", "dropped a message", "reason", "decode")
	}
	l.Warn("version", "dropped a message", "reason", "version")
	now = now.Add(59 * time.Second)
	l.Warn("decode", "dropped a message", "reason", "decode")
	now = now.Add(time.Second)
	l.Warn("decode", "dropped a message", "reason", "decode")
	want := `level=WARN msg="dropped a message" reason=decode suppressed=0 next_after=1m0s
level=WARN msg="dropped a message" reason=version suppressed=0 next_after=1m0s
level=WARN msg="dropped a message" reason=decode suppressed=1000 next_after=1m0s
`
	if got := buf.String(); got != want {
		t.Fatalf("got\n%swant\n%s", got, want)
	}
	if strings.Count(buf.String(), "\n") != 3 {
		t.Fatal("more lines than keys and periods")
	}
}

// Keys made of what a flood chooses (a request id) cannot grow the logger
// without bound: past maxKeys, the keys whose period is over are forgotten.
func TestKeysAreBounded(t *testing.T) {
	l := New(slog.New(slog.DiscardHandler), time.Minute)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l.now = func() time.Time { return now }
	for i := 0; i < 3*maxKeys; i++ {
		if i%maxKeys == 0 {
			now = now.Add(time.Minute)
		}
		if ok, _ := l.Allow(string(rune(i))); !ok {
			t.Fatalf("key %d refused the first time", i)
		}
		if len(l.keys) > maxKeys {
			t.Fatalf("%d keys remembered", len(l.keys))
		}
	}
	if ok, _ := l.Allow(string(rune(3*maxKeys - 1))); ok {
		t.Fatal("a key of this period was forgotten")
	}
}
