package rollout

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/pulseops/pulse/internal/protocol"
)

// Locks keeps which rollout holds which node, one key per node in a
// JetStream key-value bucket shared by every CLI and collector on the bus:
// a node is taken with a create that fails when the key exists, so two
// rollouts never both take it. Keys expire LockTTL after their holder last
// refreshed them, so a rollout whose process died frees its nodes.
type Locks struct {
	kv  jetstream.KeyValue
	log *slog.Logger
	ttl time.Duration
}

// LockTTL is how long a node stays held after its rollout last said it
// still runs; a running rollout refreshes its keys every third of it.
const LockTTL = 2 * time.Minute

// lockBucket names the bucket of one collective.
func lockBucket(collective string) string {
	return protocol.Subjects{Collective: collective}.RolloutLocks()
}

// OpenLocks opens (creating when missing) the collective's lock bucket.
func OpenLocks(ctx context.Context, js jetstream.JetStream, collective string, log *slog.Logger) (*Locks, error) {
	return openLocks(ctx, js, collective, LockTTL, log)
}

func openLocks(ctx context.Context, js jetstream.JetStream, collective string, ttl time.Duration, log *slog.Logger) (*Locks, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: lockBucket(collective), Description: "pulse: which rollout holds which node", History: 1, TTL: ttl,
	})
	if err != nil {
		if errors.Is(err, jetstream.ErrJetStreamNotEnabled) || errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount) {
			return nil, fmt.Errorf("rollouts need JetStream on the bus, to keep two rollouts off the same nodes and to record them: %w", err)
		}
		return nil, fmt.Errorf("open the rollout lock bucket %s: %w", lockBucket(collective), err)
	}
	return &Locks{kv: kv, log: log.With("component", "rollout-locks"), ttl: ttl}, nil
}

// Hold says who holds a node.
type Hold struct {
	Rollout string    `json:"rollout"`
	By      string    `json:"by"`
	Package string    `json:"package"`
	Version string    `json:"version"`
	Since   time.Time `json:"since"`
}

// ConflictError is a rollout refused because another holds some of its
// nodes. Nothing changed.
type ConflictError struct {
	// Held maps each node another rollout holds to that rollout.
	Held map[string]Hold
}

func (e *ConflictError) Error() string {
	byRollout := map[string][]string{}
	holds := map[string]Hold{}
	for n, h := range e.Held {
		byRollout[h.Rollout] = append(byRollout[h.Rollout], n)
		holds[h.Rollout] = h
	}
	var parts []string
	for id, ns := range byRollout {
		sort.Strings(ns)
		h := holds[id]
		parts = append(parts, fmt.Sprintf("%s %s held by rollout %s (%s %s, started by %s at %s; see pulse rollouts show %s)",
			names(ns), map[bool]string{true: "is", false: "are"}[len(ns) == 1], id, h.Package, h.Version, h.By, h.Since.Local().Format("15:04:05"), id))
	}
	sort.Strings(parts)
	return strings.Join(parts, "; ") + ": nothing was changed; wait for it to end, or leave those nodes out"
}

// lockConcurrency bounds the key operations in flight at once.
const lockConcurrency = 16

// Acquire takes every node for h, or none.
func (l *Locks) Acquire(ctx context.Context, nodes []string, h Hold) (func(), error) {
	value, err := json.Marshal(h)
	if err != nil {
		return nil, err
	}
	var (
		mu   sync.Mutex
		revs = map[string]uint64{}
		held = map[string]Hold{}
		errs []error
		sem  = make(chan struct{}, lockConcurrency)
		wg   sync.WaitGroup
	)
	for _, n := range nodes {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			rev, err := l.kv.Create(ctx, lockKey(n), value)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				revs[n] = rev
			case errors.Is(err, jetstream.ErrKeyExists):
				other := Hold{Rollout: "unknown"}
				if e, gerr := l.kv.Get(ctx, lockKey(n)); gerr == nil {
					_ = json.Unmarshal(e.Value(), &other)
				}
				held[n] = other
			default:
				errs = append(errs, fmt.Errorf("hold %s: %w", n, err))
			}
		})
	}
	wg.Wait()
	if len(held) > 0 || len(errs) > 0 {
		l.release(revs)
		if len(held) > 0 {
			return nil, &ConflictError{Held: held}
		}
		return nil, errors.Join(errs...)
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go l.refresh(revs, value, stop, done)
	var once sync.Once
	return func() {
		once.Do(func() {
			close(stop)
			<-done
			l.release(revs)
		})
	}, nil
}

// refresh keeps the keys from expiring while the rollout runs. revs is the
// refresher's until done is closed.
func (l *Locks) refresh(revs map[string]uint64, value []byte, stop, done chan struct{}) {
	defer close(done)
	t := time.NewTicker(l.ttl / 3)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), l.ttl/3)
		for n, rev := range revs {
			next, err := l.kv.Update(ctx, lockKey(n), value, rev)
			if err != nil {
				l.log.Warn("could not keep a node held; another rollout may take it", "node", n, "err", err)
				continue
			}
			revs[n] = next
		}
		cancel()
	}
}

// release lets go of the keys this rollout holds, and only those: a key
// refreshed by another holder since (it expired and was taken) stays.
func (l *Locks) release(revs map[string]uint64) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sem := make(chan struct{}, lockConcurrency)
	var wg sync.WaitGroup
	for n, rev := range revs {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			if err := l.kv.Purge(ctx, lockKey(n), jetstream.LastRevision(rev)); err != nil {
				l.log.Warn("could not release a node; it frees itself when its key expires", "node", n, "err", err)
			}
		})
	}
	wg.Wait()
}

var plainKey = regexp.MustCompile(`^[-_=A-Za-z0-9]+$`)

// lockKey is a node's key: its identity when that is a valid key, else
// its base64url form behind a "/", which a plain identity never holds.
func lockKey(node string) string {
	if plainKey.MatchString(node) {
		return node
	}
	return "b64/" + base64.RawURLEncoding.EncodeToString([]byte(node))
}
