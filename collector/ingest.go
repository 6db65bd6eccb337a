package collector

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pulseops/pulse/internal/protocol"
)

// Stream names for one collective.
func resultsStream(collective string) string  { return "PULSE_RESULTS_" + collective }
func registryStream(collective string) string { return "PULSE_REGISTRY_" + collective }

// subscribe starts ingest, through JetStream when the server has it and
// through core subscriptions otherwise. It returns a function that stops
// ingest and the mode used.
func (c *Collector) subscribe(ctx context.Context) (func(), string, error) {
	js, err := jetstream.New(c.opts.Conn)
	if err != nil {
		return nil, "", fmt.Errorf("collector: set up JetStream on the NATS connection: %w", err)
	}
	probeCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	_, err = js.AccountInfo(probeCtx)
	cancel()
	if err != nil {
		if errors.Is(err, jetstream.ErrJetStreamNotEnabled) || errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount) ||
			errors.Is(err, context.DeadlineExceeded) {
			c.log.Warn("JetStream is not available on the NATS server; falling back to core subscriptions, so a restarted collector starts with an empty fleet until nodes report again",
				"err", err)
			stop, err := c.subscribeCore()
			return stop, "core", err
		}
		return nil, "", fmt.Errorf("collector: ask NATS for JetStream account info: %w", err)
	}
	var stops []func()
	stopAll := func() {
		for _, s := range stops {
			s()
		}
	}
	for _, s := range []struct{ name, subject string }{
		{registryStream(c.opts.Collective), c.subj.RegistryAll()},
		{resultsStream(c.opts.Collective), c.subj.ResultsAll()},
	} {
		if err := c.ensureStream(ctx, js, s.name, s.subject); err != nil {
			stopAll()
			return nil, "", err
		}
		stop, err := c.consume(ctx, js, s.name)
		if err != nil {
			stopAll()
			return nil, "", err
		}
		stops = append(stops, stop)
	}
	return stopAll, "jetstream", nil
}

// ensureStream creates a last-value-per-subject stream, or brings the fields
// the collector depends on back into line on an existing one while keeping
// whatever else an operator set (limits, placement).
func (c *Collector) ensureStream(ctx context.Context, js jetstream.JetStream, name, subject string) error {
	want := jetstream.StreamConfig{
		Name:              name,
		Description:       "pulse: last message per node and check, so a restarted collector rebuilds the fleet",
		Subjects:          []string{subject},
		MaxMsgsPerSubject: 1,
		MaxMsgSize:        protocol.MaxMessageSize,
		Storage:           jetstream.FileStorage,
		Replicas:          c.opts.Replicas,
		Discard:           jetstream.DiscardOld,
	}
	s, err := js.Stream(ctx, name)
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound):
		if _, err := js.CreateStream(ctx, want); err != nil && !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			return fmt.Errorf("collector: create JetStream stream %s over %s with %d replicas (does another stream already cover these subjects?): %w",
				name, subject, c.opts.Replicas, err)
		}
		c.log.Info("created JetStream stream", "stream", name, "subject", subject, "replicas", c.opts.Replicas)
		return nil
	case err != nil:
		return fmt.Errorf("collector: look up JetStream stream %s: %w", name, err)
	}
	have := s.CachedInfo().Config
	if slices.Equal(have.Subjects, want.Subjects) && have.MaxMsgsPerSubject == 1 {
		return nil
	}
	have.Subjects, have.MaxMsgsPerSubject = want.Subjects, 1
	if _, err := js.UpdateStream(ctx, have); err != nil {
		return fmt.Errorf("collector: stream %s exists with subjects %v and %d messages per subject and cannot be changed to %s with 1: fix or delete the stream: %w",
			name, s.CachedInfo().Config.Subjects, s.CachedInfo().Config.MaxMsgsPerSubject, subject, err)
	}
	c.log.Warn("updated JetStream stream to keep the last message per subject", "stream", name, "subject", subject)
	return nil
}

// consume replays the last message of every subject in the stream and then
// follows new ones, through an ordered consumer that needs no acks and no
// durable state on the server.
func (c *Collector) consume(ctx context.Context, js jetstream.JetStream, stream string) (func(), error) {
	cons, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverLastPerSubjectPolicy,
	})
	if err != nil {
		return nil, fmt.Errorf("collector: create ordered consumer on stream %s: %w", stream, err)
	}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		var stored time.Time
		if md, err := m.Metadata(); err == nil {
			stored = md.Timestamp
		}
		c.handle(m.Subject(), m.Data(), stored)
	}, jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		c.bad.Warn("consume/"+stream, "JetStream consumer trouble; it resets and resumes by itself", "stream", stream, "err", err)
	}),
		// Short pulls and heartbeats notice a lost stream leader in seconds,
		// so the ordered consumer is recreated on the new one quickly.
		jetstream.PullExpiry(5*time.Second), jetstream.PullHeartbeat(time.Second))
	if err != nil {
		return nil, fmt.Errorf("collector: consume stream %s: %w", stream, err)
	}
	return cc.Stop, nil
}

func (c *Collector) subscribeCore() (func(), error) {
	var subs []*nats.Subscription
	stop := func() {
		for _, s := range subs {
			_ = s.Unsubscribe()
		}
	}
	for _, subject := range []string{c.subj.RegistryAll(), c.subj.ResultsAll()} {
		s, err := c.opts.Conn.Subscribe(subject, func(m *nats.Msg) { c.handle(m.Subject, m.Data, time.Time{}) })
		if err != nil {
			stop()
			return nil, fmt.Errorf("collector: subscribe to %s: %w", subject, err)
		}
		// A flooding node must not make NATS drop everyone's messages as a
		// slow consumer before the collector catches up.
		_ = s.SetPendingLimits(1<<20, 1<<30)
		subs = append(subs, s)
	}
	return stop, nil
}
