// Package childproc holds what the node agent's runners of outside programs
// (nrpe plugins, external facts, provider commands) share: bounded output
// capture and killing a child's whole process group. It never starts a
// shell.
package childproc

// Buffer keeps the first Max bytes written to it and counts the rest. It
// never fails a write, so a child printing without end costs no memory and
// is not killed by SIGPIPE (or sees EPIPE) for talking too much; the caller
// decides what truncation means after the child exits.
type Buffer struct {
	Max     int
	buf     []byte
	dropped int
}

func (b *Buffer) Write(p []byte) (int, error) {
	room := min(max(b.Max-len(b.buf), 0), len(p))
	b.buf = append(b.buf, p[:room]...)
	b.dropped += len(p) - room
	return len(p), nil
}

// Bytes returns what was kept.
func (b *Buffer) Bytes() []byte { return b.buf }

// String returns what was kept as a string.
func (b *Buffer) String() string { return string(b.buf) }

// Truncated reports whether any bytes were dropped.
func (b *Buffer) Truncated() bool { return b.dropped > 0 }
