package collector

import (
	"time"

	"github.com/pulseops/pulse/internal/protocol"
)

// The reasons a message that read and verified well is still refused for
// being stale, as pulse_collector_malformed_messages_total labels them.
const (
	reasonReplayed = "replayed" // the newest message of its stream, again
	reasonOlder    = "older"    // older than one already accepted
	reasonFuture   = "future"   // dated further ahead than the allowed skew
)

// freshness is where one stream of a node stands — its heartbeats, or the
// results of one of its checks: the newest message accepted from it. A
// message is applied only if it is newer, so a captured heartbeat or result
// replayed later changes nothing: a killed node cannot be kept up, a
// counter cannot go back, an old OK cannot hide a CRITICAL.
//
// Within one run of the agent (one boot id) the sequence orders messages,
// whatever the node's clock does; a message of another run is newer only
// if it was sent later than the newest accepted. A replay of an earlier
// run therefore never passes, and a restarted agent is accepted as soon as
// it speaks. (A node whose clock stepped back across a restart is refused
// until its clock passes the last time it sent: counted as "older".)
type freshness struct {
	boot string
	seq  uint64
	time time.Time
}

// accept records s, sent at t, and returns "" when it comes after the
// newest accepted message; otherwise it returns why not and records nothing.
func (f *freshness) accept(s protocol.Stream, t time.Time) string {
	switch {
	case f.boot == "":
	case s.Boot == f.boot && s.Seq == f.seq:
		return reasonReplayed
	case s.Boot == f.boot && s.Seq < f.seq:
		return reasonOlder
	case s.Boot != f.boot && !t.After(f.time):
		return reasonOlder
	}
	f.boot, f.seq, f.time = s.Boot, s.Seq, t
	return ""
}

// inFuture reports whether t, a node's signed time, is further ahead of now
// than skew allows: the node's clock is wrong, or the message is not what
// it says.
func inFuture(t, now time.Time, skew time.Duration) bool {
	return t.Sub(now) > skew
}
