package rollout

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/pulseops/pulse/collector/api"
	"github.com/pulseops/pulse/internal/protocol"
)

// Every rollout's record travels on Subjects.Rollouts(id) each time it
// moves, and a JetStream stream keeps the last one of each rollout
// (bounded in number and age), so the collector shows rollouts the CLI ran
// and rebuilds them all after a restart.

func recordsStream(collective string) string {
	return protocol.Subjects{Collective: collective}.RolloutsStream()
}

// Bounds of the records stream.
const (
	maxRecords    = 10000
	recordsMaxAge = 180 * 24 * time.Hour
)

// EnsureRecords creates the collective's records stream when it is
// missing. Both the CLI and the collector call it, whichever runs first.
func EnsureRecords(ctx context.Context, js jetstream.JetStream, collective string, replicas int) error {
	subj := protocol.Subjects{Collective: collective}
	name := recordsStream(collective)
	if _, err := js.Stream(ctx, name); err == nil {
		return nil
	} else if !errors.Is(err, jetstream.ErrStreamNotFound) {
		if errors.Is(err, jetstream.ErrJetStreamNotEnabled) || errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount) {
			return fmt.Errorf("rollouts need JetStream on the bus, to record them and keep two off the same nodes: %w", err)
		}
		return fmt.Errorf("look up the rollout records stream %s: %w", name, err)
	}
	_, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name: name, Description: "pulse: the last record of every rollout",
		Subjects: []string{subj.RolloutsAll()}, MaxMsgsPerSubject: 1, MaxMsgs: maxRecords, MaxAge: recordsMaxAge,
		MaxMsgSize: protocol.MaxMessageSize, Storage: jetstream.FileStorage, Replicas: max(replicas, 1), Discard: jetstream.DiscardOld,
	})
	if err != nil && !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		return fmt.Errorf("create the rollout records stream %s: %w", name, err)
	}
	return nil
}

// Recorder publishes records as their rollout's runner, signed when it
// has a key.
type Recorder struct {
	js     jetstream.JetStream
	subj   protocol.Subjects
	from   string
	signer *protocol.Signer
}

// NewRecorder publishes records of collective's rollouts from from.
func NewRecorder(js jetstream.JetStream, collective, from string, signer *protocol.Signer) *Recorder {
	return &Recorder{js: js, subj: protocol.Subjects{Collective: collective}, from: from, signer: signer}
}

// Publish stores rec and waits for JetStream to say it has.
func (r *Recorder) Publish(ctx context.Context, rec *api.Rollout) error {
	b, err := protocol.EncodeRollout(r.from, rec.Updated, rec, r.signer)
	if err != nil {
		return fmt.Errorf("encode rollout %s: %w", rec.ID, err)
	}
	if _, err := r.js.Publish(ctx, r.subj.Rollouts(rec.ID), b); err != nil {
		return fmt.Errorf("publish rollout %s: %w", rec.ID, err)
	}
	return nil
}

// Store is the collector's view of every rollout: the last record of each,
// as the records stream has it.
type Store struct {
	log     *slog.Logger
	onEvent func(protocol.Event)

	mu      sync.Mutex
	recs    map[string]*api.Rollout
	started time.Time
}

// NewStore builds an empty store; onEvent (may be nil) hears of rollouts
// that start, pass a step and end.
func NewStore(onEvent func(protocol.Event), log *slog.Logger) *Store {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Store{log: log.With("component", "rollouts"), onEvent: onEvent, recs: map[string]*api.Rollout{}}
}

// Follow replays the records stream and follows it until ctx ends or stop
// is called. Records stored before Follow are history: they fill the
// store without raising events.
func (s *Store) Follow(ctx context.Context, js jetstream.JetStream, collective string, replicas int) (stop func(), err error) {
	if err := EnsureRecords(ctx, js, collective, replicas); err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.started = time.Now()
	s.mu.Unlock()
	cons, err := js.OrderedConsumer(ctx, recordsStream(collective), jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverLastPerSubjectPolicy})
	if err != nil {
		return nil, fmt.Errorf("follow the rollout records: %w", err)
	}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		var stored time.Time
		if md, err := m.Metadata(); err == nil {
			stored = md.Timestamp
		}
		s.apply(m.Data(), stored)
	}, jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		s.log.Debug("rollout records consumer trouble; it resumes by itself", "err", err)
	}), jetstream.PullExpiry(5*time.Second), jetstream.PullHeartbeat(time.Second))
	if err != nil {
		return nil, fmt.Errorf("follow the rollout records: %w", err)
	}
	return cc.Stop, nil
}

// apply takes one record off the bus.
func (s *Store) apply(data []byte, stored time.Time) {
	env, err := protocol.Open(data)
	if err == nil && env.Signed() {
		err = env.Verify()
	}
	var rec api.Rollout
	if err == nil {
		err = env.Rollout(&rec)
	}
	if err == nil && (rec.ID == "" || !protocol.ValidToken(rec.ID)) {
		err = fmt.Errorf("record with id %q", rec.ID)
	}
	if err != nil {
		s.log.Warn("dropped a rollout record that could not be read", "err", err)
		return
	}
	s.mu.Lock()
	prev := s.recs[rec.ID]
	if prev != nil && rec.Updated.Before(prev.Updated) {
		s.mu.Unlock()
		return
	}
	s.recs[rec.ID] = &rec
	historical := !stored.IsZero() && stored.Before(s.started)
	s.mu.Unlock()
	if historical || s.onEvent == nil {
		return
	}
	if msg, news := newsOf(prev, &rec); news {
		s.onEvent(protocol.Event{Type: protocol.EventRollout, Time: time.Now().UTC(), Message: msg, Data: rec})
	}
}

// newsOf says what a record tells that the one before did not: a rollout
// that started, a step that ended, a rollout that ended.
func newsOf(prev, rec *api.Rollout) (string, bool) {
	head := fmt.Sprintf("rollout %s of %s %s", rec.ID, rec.Package, rec.Version)
	switch {
	case rec.State != api.RolloutRunning && (prev == nil || prev.State == api.RolloutRunning):
		if rec.Reason != "" {
			return fmt.Sprintf("%s %s: %s", head, rec.State, rec.Reason), true
		}
		return fmt.Sprintf("%s %s on %d nodes", head, rec.State, len(rec.Nodes)), true
	case prev == nil:
		return fmt.Sprintf("%s started by %s on %d nodes", head, rec.StartedBy, len(rec.Nodes)), true
	}
	for i, st := range rec.Steps {
		if i < len(prev.Steps) && prev.Steps[i].State != st.State && (st.State == api.StepPassed || st.State == api.StepFailed) {
			return fmt.Sprintf("%s: step %s %s", head, st.Name, st.State), true
		}
	}
	return "", false
}

// List returns every record, newest first.
func (s *Store) List() []api.Rollout {
	s.mu.Lock()
	out := make([]api.Rollout, 0, len(s.recs))
	for _, r := range s.recs {
		out = append(out, cloneRecord(r))
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Started.Equal(out[j].Started) {
			return out[i].Started.After(out[j].Started)
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// Get returns one record.
func (s *Store) Get(id string) (api.Rollout, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.recs[id]
	if !ok {
		return api.Rollout{}, false
	}
	return cloneRecord(r), true
}
