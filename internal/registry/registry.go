// Package registry is the fleet registry: a JetStream key-value bucket with
// one key per node, whose value is the node's last registration envelope,
// exactly as it published it on its registry subject. Nodes write their own
// key on every heartbeat (Put), with a time to live of a few heartbeats, so
// a node that stops registering drops out by itself. Clients list the keys
// (Keys: who is registered, one stream info request) or read every value
// (Read: one batched direct get, for filters on facts) and so know which
// nodes must answer, with no collector in between.
//
// The package speaks JetStream's documented API and nothing of its own; it
// never decides what to do with what it reads. A value is checked as the
// collector checks a heartbeat: protocol version, kind, the node it names,
// the signature when the reader has node keys, and its freshness.
package registry

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/pulseops/pulse/internal/protocol"
)

// Beats is how many heartbeat intervals a node's key outlives the
// registration that wrote it: one late or lost heartbeat keeps a node
// listed, three do not.
const Beats = 3

// MaxAge bounds how long the bucket keeps any key, whatever time to live
// its node asked for: a backstop for a node that asked for none.
const MaxAge = 24 * time.Hour

// Bucket is the name of collective's fleet bucket (protocol.Subjects
// FleetBucket), and Stream the JetStream stream that holds it.
func Bucket(collective string) string { return protocol.Subjects{Collective: collective}.FleetBucket() }

// Stream: see Bucket.
func Stream(collective string) string { return protocol.Subjects{Collective: collective}.FleetStream() }

// keyPrefix is what every key's subject starts with.
func keyPrefix(collective string) string { return "$KV." + Bucket(collective) + "." }

// TTL is how long a registration sent every interval stays in the bucket:
// Beats intervals, rounded up to whole seconds (the server counts TTLs in
// seconds), at least one second.
func TTL(interval time.Duration) time.Duration {
	ttl := (Beats*interval + time.Second - 1).Truncate(time.Second)
	return max(ttl, time.Second)
}

// Config is the fleet bucket of collective as a stream: a key-value bucket
// as nats.go makes one (so `nats kv ls/get` read it), one value per key,
// per-message time to live allowed, bounded by MaxAge.
//
// Roll-up headers are refused. A node may write only its own key, but a
// message carrying "Nats-Rollup: all" on its own key would purge every other
// node's. That also leaves out delete markers when keys expire
// (SubjectDeleteMarkerTTL needs roll-ups): readers of this bucket read it
// whole and do not watch it.
func Config(collective string, replicas int) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:              Stream(collective),
		Description:       "pulse fleet registry: every node's last registration, expiring " + fmt.Sprint(Beats) + " heartbeats after it",
		Subjects:          []string{keyPrefix(collective) + ">"},
		MaxMsgsPerSubject: 1,
		MaxMsgs:           -1,
		MaxBytes:          -1,
		MaxAge:            MaxAge,
		MaxMsgSize:        protocol.MaxMessageSize,
		MaxConsumers:      -1,
		Storage:           jetstream.FileStorage,
		Replicas:          max(replicas, 1),
		Discard:           jetstream.DiscardNew,
		Duplicates:        2 * time.Minute,
		DenyDelete:        true,
		AllowDirect:       true,
		AllowMsgTTL:       true,
		AllowRollup:       false,
	}
}

// Ensure creates collective's fleet bucket, or brings the settings readers
// and writers depend on back into line on an existing one (keeping an
// operator's placement and replicas). It reports whether it changed
// anything.
func Ensure(ctx context.Context, js jetstream.JetStream, collective string, replicas int) (changed bool, err error) {
	want := Config(collective, replicas)
	s, err := js.Stream(ctx, want.Name)
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound):
		if _, err := js.CreateStream(ctx, want); err != nil && !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			return false, fmt.Errorf("create the fleet registry bucket %s (stream %s): %w", Bucket(collective), want.Name, err)
		}
		return true, nil
	case err != nil:
		return false, fmt.Errorf("look up the fleet registry bucket %s: %w", Bucket(collective), err)
	}
	have := s.CachedInfo().Config
	old := have
	have.Subjects, have.MaxMsgsPerSubject, have.AllowDirect, have.AllowMsgTTL, have.AllowRollup = want.Subjects, 1, true, true, false
	if have.MaxAge <= 0 {
		have.MaxAge = want.MaxAge
	}
	if have.Subjects[0] == old.Subjects[0] && len(old.Subjects) == 1 && have.MaxMsgsPerSubject == old.MaxMsgsPerSubject &&
		have.AllowDirect == old.AllowDirect && have.AllowMsgTTL == old.AllowMsgTTL && have.AllowRollup == old.AllowRollup && have.MaxAge == old.MaxAge {
		return false, nil
	}
	// Delete markers need roll-ups, which this bucket refuses.
	have.SubjectDeleteMarkerTTL = 0
	if _, err := js.UpdateStream(ctx, have); err != nil {
		return false, fmt.Errorf("the fleet registry bucket %s exists with settings pulse cannot bring into line (one value per key, direct get, per-key TTL, no roll-ups): fix or delete stream %s: %w",
			Bucket(collective), want.Name, err)
	}
	return true, nil
}
