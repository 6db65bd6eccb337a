package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/pulseops/pulse/internal/filter"
	"github.com/pulseops/pulse/internal/protocol"
)

// Entry is one node's key: its last registration, opened but with its
// body not yet decoded, since a filter on identities alone (or none) never
// needs the facts.
type Entry struct {
	Identity string
	Envelope *protocol.Envelope
	// Stored is when the server stored the value; TTL how long the node
	// asked for it to be kept (0 when it asked for nothing readable).
	Stored time.Time
	TTL    time.Duration
	seq    uint64
	reg    *protocol.Registration
}

// Registration decodes the entry's body once.
func (e *Entry) Registration() (*protocol.Registration, error) {
	if e.reg != nil {
		return e.reg, nil
	}
	r, err := e.Envelope.Registration()
	if err != nil {
		return nil, err
	}
	e.reg = r
	return r, nil
}

// Target is the node as filters see it, from its registration.
func (e *Entry) Target() (*filter.Target, error) {
	r, err := e.Registration()
	if err != nil {
		return nil, err
	}
	return &filter.Target{Identity: e.Identity, Facts: r.Facts, Classes: r.Classes, Agents: r.Agents}, nil
}

// Skipped is an entry a reader left out, and why.
type Skipped struct {
	Key    string `json:"key"`
	Reason string `json:"reason"`
	Err    string `json:"error"`
}

// Snapshot is the bucket as one Read saw it.
type Snapshot struct {
	// Entries are the fresh, well-formed keys, sorted by identity.
	Entries []*Entry
	// Corrupt are values that are not a registration envelope of this
	// protocol version for their own key, or fail their signature; Stale
	// counts the well-formed ones older than their time to live (the
	// server removes those a moment later).
	Corrupt []Skipped
	Stale   int
	Took    time.Duration
}

// ReadOptions tune Read.
type ReadOptions struct {
	// Verify, when set, checks every value's envelope (security.NodeKeys
	// Verify does); a value it refuses is corrupt.
	Verify func(*protocol.Envelope) error
	// Timeout bounds the wait for the next part of the answer (default 2s).
	Timeout time.Duration
	// Skew is how far a node's clock may lag the reader's before its value
	// counts as stale early (default 5s).
	Skew time.Duration
	Now  func() time.Time
}

// ErrUnavailable wraps every failure to read a bucket that exists.
var ErrUnavailable = errors.New("the fleet registry could not be read")

// pageSize is how many values one direct get asks for. The server also
// stops at its max_pending bytes; Read asks again from where it stopped.
var pageSize = 100000

// Read reads every key of collective's bucket in batched direct gets: a
// request and a stream of values to an inbox, with no consumer on the
// server. It needs publish permission on the stream's direct get subject
// only. ErrNoBucket means there is no bucket; an empty bucket is an empty
// Snapshot.
func Read(ctx context.Context, nc *nats.Conn, collective string, o ReadOptions) (*Snapshot, error) {
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Second
	}
	if o.Skew <= 0 {
		o.Skew = 5 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	start := time.Now()
	r := &reader{o: o, prefix: keyPrefix(collective), now: o.Now(), byID: map[string]*Entry{}, events: make(chan event, 4)}
	inbox := nc.NewInbox()
	sub, err := nc.Subscribe(inbox, r.take)
	if err != nil {
		return nil, fmt.Errorf("%w: subscribe to %s: %v", ErrUnavailable, inbox, err)
	}
	defer sub.Unsubscribe()
	_ = sub.SetPendingLimits(-1, -1)
	api := protocol.Subjects{Collective: collective}.FleetRead()
	ask := func(seq uint64) error {
		req, _ := json.Marshal(map[string]any{"next_by_subj": r.prefix + ">", "batch": pageSize, "seq": seq})
		if err := nc.PublishRequest(api, inbox, req); err != nil {
			return fmt.Errorf("%w: %v", ErrUnavailable, err)
		}
		return nc.Flush()
	}
	if err := ask(0); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	timer := time.NewTimer(o.Timeout)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-timer.C:
			if r.progress.Swap(false) {
				timer.Reset(o.Timeout)
				continue
			}
			return nil, fmt.Errorf("%w: no answer from the server within %s (bucket %s)", ErrUnavailable, o.Timeout, Bucket(collective))
		case ev := <-r.events:
			switch {
			case ev.status == "503":
				return nil, fmt.Errorf("%w (bucket %s)", ErrNoBucket, Bucket(collective))
			case ev.status == "404": // nothing (more) to read
			case ev.status != "204":
				return nil, fmt.Errorf("%w: the server answered %s %s (bucket %s)", ErrUnavailable, ev.status, ev.desc, Bucket(collective))
			case ev.pending > 0:
				if err := ask(ev.last + 1); err != nil {
					return nil, err
				}
				timer.Reset(o.Timeout)
				continue
			}
			return r.snapshot(time.Since(start)), nil
		}
	}
}

// event is a control message of the answer: its end, or an error status.
type event struct {
	status, desc string
	pending      uint64
	last         uint64
}

// reader collects one Read's answer; take runs on the subscription's one
// goroutine, and Read looks at byID and corrupt only after the last event.
type reader struct {
	o        ReadOptions
	prefix   string
	now      time.Time
	byID     map[string]*Entry
	corrupt  []Skipped
	stale    map[string]bool
	events   chan event
	progress atomic.Bool
}

func (r *reader) take(m *nats.Msg) {
	r.progress.Store(true)
	if status := m.Header.Get("Status"); status != "" {
		pending, _ := strconv.ParseUint(m.Header.Get("Nats-Num-Pending"), 10, 64)
		last, _ := strconv.ParseUint(m.Header.Get("Nats-Last-Sequence"), 10, 64)
		select {
		case r.events <- event{status: status, desc: m.Header.Get("Description"), pending: pending, last: last}:
		default: // Read gave up already; one answer ends with one status
		}
		return
	}
	subject := m.Header.Get("Nats-Subject")
	key := strings.TrimPrefix(subject, r.prefix)
	if op := m.Header.Get("KV-Operation"); op == "DEL" || op == "PURGE" || m.Header.Get("Nats-Marker-Reason") != "" {
		delete(r.byID, key)
		return
	}
	seq, _ := strconv.ParseUint(m.Header.Get("Nats-Sequence"), 10, 64)
	e, reason, err := r.entry(key, subject, seq, m)
	if err != nil {
		r.corrupt = append(r.corrupt, Skipped{Key: key, Reason: reason, Err: err.Error()})
		return
	}
	if old := r.byID[key]; old != nil && old.seq > seq {
		return
	}
	if r.isStale(e) {
		if r.stale == nil {
			r.stale = map[string]bool{}
		}
		r.stale[key] = true
		delete(r.byID, key)
		return
	}
	delete(r.stale, key)
	r.byID[key] = e
}

// entry checks one value as the collector checks a heartbeat: an envelope
// of this protocol version, a registration, from the node whose key it is,
// signed by that node when the reader knows node keys.
func (r *reader) entry(key, subject string, seq uint64, m *nats.Msg) (*Entry, string, error) {
	if !strings.HasPrefix(subject, r.prefix) || !protocol.ValidToken(key) {
		return nil, "key", fmt.Errorf("subject %q is not a node's key", subject)
	}
	env, err := protocol.Open(m.Data)
	if err != nil {
		return nil, protocol.ErrorReason(err), err
	}
	if env.Kind != protocol.KindRegistration {
		return nil, protocol.ReasonKind, fmt.Errorf("value is a %s, not a registration", env.Kind)
	}
	if env.From != key {
		return nil, "forged", fmt.Errorf("value names node %q, not the key's", env.From)
	}
	if r.o.Verify != nil {
		if err := r.o.Verify(env); err != nil {
			return nil, "forged", err
		}
	}
	e := &Entry{Identity: key, Envelope: env, seq: seq}
	if ts, err := time.Parse(time.RFC3339Nano, m.Header.Get("Nats-Time-Stamp")); err == nil {
		e.Stored = ts
	}
	if ttl := m.Header.Get("Nats-TTL"); ttl != "" {
		e.TTL = parseTTL(ttl)
	}
	return e, "", nil
}

// isStale reports whether e's registration is older than its time to live
// (and the allowed clock skew): the time the node signed, plus the TTL it
// asked for or, without one, Beats of the interval its body names.
func (r *reader) isStale(e *Entry) bool {
	ttl := e.TTL
	if ttl <= 0 {
		reg, err := e.Registration()
		if err != nil || reg.Interval <= 0 {
			ttl = MaxAge
		} else {
			ttl = TTL(time.Duration(reg.Interval * float64(time.Second)))
		}
	}
	return e.Envelope.Time.Add(ttl + r.o.Skew).Before(r.now)
}

// parseTTL reads a Nats-TTL header: seconds, or a Go duration; "never"
// and anything unreadable are 0.
func parseTTL(s string) time.Duration {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && n > 0 {
		return time.Duration(n) * time.Second
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return d
	}
	return 0
}

func (r *reader) snapshot(took time.Duration) *Snapshot {
	s := &Snapshot{Entries: make([]*Entry, 0, len(r.byID)), Corrupt: r.corrupt, Stale: len(r.stale), Took: took}
	for _, e := range r.byID {
		s.Entries = append(s.Entries, e)
	}
	sort.Slice(s.Entries, func(i, j int) bool { return s.Entries[i].Identity < s.Entries[j].Identity })
	sort.Slice(s.Corrupt, func(i, j int) bool { return s.Corrupt[i].Key < s.Corrupt[j].Key })
	return s
}
