// Package ratelog keeps a flood of bad input from flooding the log as well:
// the agent and the collector log each kind of bad message at most once per
// period, with the number of like ones since the last line, and count every
// one in their metrics. It never drops anything but log lines.
package ratelog

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Logger logs at most one line per key per period.
type Logger struct {
	log    *slog.Logger
	period time.Duration
	now    func() time.Time

	mu   sync.Mutex
	keys map[string]*key
}

type key struct {
	last       time.Time
	suppressed int
}

// maxKeys bounds the keys a Logger remembers: past it, keys not used for a
// period are forgotten, and if that is not enough, all of them.
const maxKeys = 4096

// New logs through log at most once per key per period (a minute when
// period is 0). Keys should come from a small set, such as the reasons a
// message is refused; at most maxKeys are remembered.
func New(log *slog.Logger, period time.Duration) *Logger {
	if period <= 0 {
		period = time.Minute
	}
	return &Logger{log: log, period: period, now: time.Now, keys: map[string]*key{}}
}

// Allow reports whether a line for key may be logged now, and how many
// calls for key were refused since the last line that was.
func (l *Logger) Allow(k string) (bool, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	s := l.keys[k]
	if s == nil {
		if len(l.keys) >= maxKeys {
			l.prune(now)
		}
		s = &key{}
		l.keys[k] = s
	} else if now.Sub(s.last) < l.period {
		s.suppressed++
		return false, 0
	}
	n := s.suppressed
	s.last, s.suppressed = now, 0
	return true, n
}

// prune forgets the keys whose period is over. Lock must be held.
func (l *Logger) prune(now time.Time) {
	for k, s := range l.keys {
		if now.Sub(s.last) >= l.period {
			delete(l.keys, k)
		}
	}
	if len(l.keys) >= maxKeys {
		clear(l.keys)
	}
}

// Warn logs msg with args at warning level unless key was logged within the
// period; the line carries "suppressed", the number of lines for key left
// out since the last one, and says when the next may come.
func (l *Logger) Warn(k, msg string, args ...any) {
	l.Log(slog.LevelWarn, k, msg, args...)
}

// Log is Warn at another level.
func (l *Logger) Log(level slog.Level, k, msg string, args ...any) {
	ok, n := l.Allow(k)
	if !ok {
		return
	}
	args = append(args, "suppressed", n, "next_after", l.period.String())
	l.log.Log(context.Background(), level, msg, args...)
}
