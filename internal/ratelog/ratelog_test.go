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
