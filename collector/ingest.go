package collector

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pulseops/pulse/internal/protocol"
	"github.com/pulseops/pulse/internal/registry"
)

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
			c.readiness.ready() // nothing to replay
			return stop, "core", err
		}
		return nil, "", fmt.Errorf("collector: ask NATS for JetStream account info: %w", err)
	}
	var (
		stops   []func()
		replays []<-chan struct{}
	)
	stopAll := func() {
		for _, s := range stops {
			s()
		}
	}
	for _, s := range []struct{ name, subject string }{
		{c.subj.RegistryStream(), c.subj.RegistryAll()},
		{c.subj.ResultsStream(), c.subj.ResultsAll()},
	} {
		if err := c.ensureStream(ctx, js, s.name, s.subject); err != nil {
			stopAll()
			return nil, "", err
		}
		stop, replayed, err := c.consume(ctx, js, s.name)
		if err != nil {
			stopAll()
			return nil, "", err
		}
		stops = append(stops, stop)
		replays = append(replays, replayed)
	}
	// The changes stream keeps history, bounded in number and age, not the
	// last message per subject; its replay gives each node's last change.
	if err := c.ensureChangesStream(ctx, js); err != nil {
		stopAll()
		return nil, "", err
	}
	stop, replayed, err := c.consume(ctx, js, c.subj.ChangesStream())
	if err != nil {
		stopAll()
		return nil, "", err
	}
	stops = append(stops, stop)
	replays = append(replays, replayed)
	// The fleet registry lives beside the streams; clients read it without
	// the collector, which only makes sure it is there.
	if changed, err := registry.Ensure(ctx, js, c.opts.Collective, c.opts.Replicas); err != nil {
		stopAll()
		return nil, "", fmt.Errorf("collector: %w", err)
	} else if changed {
		c.log.Info("created or updated the fleet registry bucket", "bucket", registry.Bucket(c.opts.Collective), "replicas", c.opts.Replicas)
	}
	// Ready once every stream is replayed, even after Start stopped
	// waiting: until then /-/ready and /metrics say so.
	go func() {
		for _, done := range replays {
			select {
			case <-done:
			case <-ctx.Done():
				return
			}
		}
		c.readiness.ready()
	}()
	// Ingest is started once what the streams held is applied, so nothing
	// served afterwards (/metrics, the node API) shows a fleet half rebuilt,
	// a node up with its counters not yet back. A replay that stalls (a
	// stream without a leader) does not keep the collector from starting.
	wait := time.NewTimer(replayWait)
	defer wait.Stop()
	for i, done := range replays {
		select {
		case <-done:
		case <-wait.C:
			c.log.Warn("JetStream replay still running; serving what has been applied so far", "stream", []string{"registry", "results", "changes"}[i], "waited", replayWait)
			return stopAll, "jetstream", nil
		case <-ctx.Done():
			stopAll()
			return nil, "", ctx.Err()
		}
	}
	c.readiness.ready()
	return stopAll, "jetstream", nil
}

// replayWait bounds how long Start waits for the streams' replay.
const replayWait = 30 * time.Second

// ensureStream creates a last-value-per-subject stream with bounds, or
// brings the fields the collector depends on back into line on an existing
// one: the subject, one message per subject, discarding the oldest, and a
// maximum age and size (an operator's own are kept, none is not). Whatever
// else an operator set (placement, replicas) is kept. Only the nodes may
// publish on these subjects (internal/issuer), so only they fill the
// streams, each only its own subjects.
func (c *Collector) ensureStream(ctx context.Context, js jetstream.JetStream, name, subject string) error {
	want := jetstream.StreamConfig{
		Name:              name,
		Description:       "pulse: last message per node and check, so a restarted collector rebuilds the fleet",
		Subjects:          []string{subject},
		MaxMsgsPerSubject: 1,
		MaxMsgSize:        protocol.MaxMessageSize,
		MaxAge:            c.opts.StreamMaxAge,
		MaxBytes:          c.opts.StreamMaxBytes,
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
	old := have
	have.Subjects, have.MaxMsgsPerSubject, have.Discard = want.Subjects, 1, jetstream.DiscardOld
	if have.MaxAge <= 0 {
		have.MaxAge = want.MaxAge
	}
	if have.MaxBytes <= 0 {
		have.MaxBytes = want.MaxBytes
	}
	if slices.Equal(have.Subjects, old.Subjects) && have.MaxMsgsPerSubject == old.MaxMsgsPerSubject && have.Discard == old.Discard &&
		have.MaxAge == old.MaxAge && have.MaxBytes == old.MaxBytes {
		return nil
	}
	if _, err := js.UpdateStream(ctx, have); err != nil {
		return fmt.Errorf("collector: stream %s exists with subjects %v, %d messages per subject, discard %s, max age %s and max bytes %d, and cannot be changed to %s with 1, discard old and bounds: fix or delete the stream: %w",
			name, old.Subjects, old.MaxMsgsPerSubject, old.Discard, old.MaxAge, old.MaxBytes, subject, err)
	}
	c.log.Warn("updated JetStream stream to keep the last message per subject, bounded, discarding the oldest", "stream", name, "subject", subject,
		"max_age", have.MaxAge, "max_bytes", have.MaxBytes)
	return nil
}

// consume replays the last message of every subject in the stream and then
// follows new ones, through an ordered consumer that needs no acks and no
// durable state on the server. replayed is closed once the message that was
// newest when consuming began has been applied: the stream's last message
// is the last of its subject, so it is among those replayed.
func (c *Collector) consume(ctx context.Context, js jetstream.JetStream, stream string) (stop func(), replayed <-chan struct{}, err error) {
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return nil, nil, fmt.Errorf("collector: look up JetStream stream %s: %w", stream, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("collector: JetStream stream %s info: %w", stream, err)
	}
	last, done := info.State.LastSeq, make(chan struct{})
	closeDone := sync.OnceFunc(func() { close(done) })
	progress := &replay{stream: stream, target: last}
	c.readiness.add(progress)
	if info.State.Msgs == 0 {
		progress.target = 0
		closeDone()
	}
	cons, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverLastPerSubjectPolicy,
		// After a reset nats.go recreates the consumer under one name,
		// retrying until it answers. The server places it (one replica) on
		// a member it believes up, and a member that crashed (killed, not
		// shut down) is believed up for minutes: a consumer put there never
		// answers, and retrying its name waits on that member for as long.
		// So a reset gives up after two tries, and the next one, under a
		// new name, is placed anew (TestCollectorSurvivesItsBrokerCrash).
		MaxResetAttempts: 2,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("collector: create ordered consumer on stream %s: %w", stream, err)
	}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		var stored time.Time
		md, err := m.Metadata()
		if err == nil {
			stored = md.Timestamp
		}
		c.handle(m.Subject(), m.Data(), stored)
		if err == nil {
			progress.at.Store(md.Sequence.Stream)
			if md.Sequence.Stream >= last {
				closeDone()
			}
		}
	}, jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		c.bad.Warn("consume/"+stream, "JetStream consumer trouble; it resets and resumes by itself", "stream", stream, "err", err)
	}),
		// Short pulls and heartbeats notice a lost stream leader in seconds,
		// so the ordered consumer is recreated on the new one quickly.
		jetstream.PullExpiry(5*time.Second), jetstream.PullHeartbeat(time.Second))
	if err != nil {
		return nil, nil, fmt.Errorf("collector: consume stream %s: %w", stream, err)
	}
	return cc.Stop, done, nil
}

func (c *Collector) subscribeCore() (func(), error) {
	var subs []*nats.Subscription
	stop := func() {
		for _, s := range subs {
			_ = s.Unsubscribe()
		}
	}
	for _, subject := range []string{c.subj.RegistryAll(), c.subj.ResultsAll(), c.subj.ChangesAll()} {
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

// handle ingests one message. stored is when the broker stored it (zero for
// core NATS): a message stored before the collector started is history,
// which rebuilds state without raising events. When a node was last heard
// from is its own signed time, never the broker's.
func (c *Collector) handle(subject string, data []byte, stored time.Time) {
	now := c.opts.Now()
	if stored.IsZero() || stored.After(now) {
		stored = now
	}
	tokens := strings.Split(subject, ".")
	switch {
	case len(tokens) == 4 && tokens[2] == "registry":
		c.health.messages.WithLabelValues("registration").Inc()
		c.handleRegistration(subject, tokens[3], data, stored, now)
	case len(tokens) == 5 && tokens[2] == "results":
		c.health.messages.WithLabelValues("result").Inc()
		c.handleResult(subject, tokens[3], tokens[4], data, stored, now)
	case len(tokens) == 4 && tokens[2] == "changes":
		c.health.messages.WithLabelValues("change").Inc()
		c.handleChange(subject, tokens[3], data, stored, now)
	default:
		c.health.messages.WithLabelValues("unknown").Inc()
		c.malformed("unknown", "subject", subject, fmt.Errorf("subject %q is neither a registry nor a results subject", subject))
	}
}

func (c *Collector) malformed(kind, reason, subject string, err error) {
	c.health.malformed.WithLabelValues(kind, reason).Inc()
	c.bad.Warn(kind+"/"+reason, "dropped a message (the count by reason is pulse_collector_malformed_messages_total)",
		"kind", kind, "reason", reason, "subject", subject, "err", err)
}

// open reads the envelope of a message of kind that arrived on the subject
// of node id, and checks that it comes from that node, is that kind and
// passes Verify. What fails is counted and logged by reason.
func (c *Collector) open(kind, subject, id string, data []byte) (*protocol.Envelope, bool) {
	if !utf8.ValidString(id) {
		c.malformed(kind, "subject", subject, fmt.Errorf("identity %q is not UTF-8", id))
		return nil, false
	}
	env, err := protocol.Open(data)
	if err != nil {
		c.malformed(kind, protocol.ErrorReason(err), subject, err)
		return nil, false
	}
	switch {
	case string(env.Kind) != kind:
		c.malformed(kind, protocol.ReasonKind, subject, fmt.Errorf("a %s from %s arrived on a %s subject", env.Kind, env.From, kind))
		return nil, false
	case env.From != id:
		c.malformed(kind, "identity_mismatch", subject,
			fmt.Errorf("%s from %q arrived on the subject of %q: a node may only speak for itself", kind, env.From, id))
		return nil, false
	}
	if v := c.opts.Verify; v != nil {
		if err := v(env); err != nil {
			c.malformed(kind, "unverified", subject, err)
			return nil, false
		}
	}
	return env, true
}

func (c *Collector) handleRegistration(subject, id string, data []byte, stored, now time.Time) {
	env, ok := c.open("registration", subject, id, data)
	if !ok {
		return
	}
	reg, err := env.Registration()
	if err != nil {
		c.malformed("registration", protocol.ErrorReason(err), subject, err)
		return
	}
	r := *reg
	if inFuture(r.Time, now, c.opts.Skew) {
		c.malformed("registration", reasonFuture, subject, fmt.Errorf("heartbeat from %s is dated %s ahead (allowed skew %s): check the node's clock",
			id, r.Time.Sub(now).Round(time.Millisecond), c.opts.Skew))
		return
	}

	c.mu.Lock()
	o := c.state.applyRegistration(r, stored, now)
	c.mu.Unlock()
	c.account("registration", subject, o)
}

func (c *Collector) handleResult(subject, id, name string, data []byte, stored, now time.Time) {
	if !utf8.ValidString(name) {
		c.malformed("result", "subject", subject, fmt.Errorf("check %q is not UTF-8", name))
		return
	}
	env, ok := c.open("result", subject, id, data)
	if !ok {
		return
	}
	res, err := env.Result()
	if err != nil {
		c.malformed("result", protocol.ErrorReason(err), subject, err)
		return
	}
	r := *res
	switch {
	case inFuture(r.Time, now, c.opts.Skew):
		c.malformed("result", reasonFuture, subject, fmt.Errorf("result of %s from %s is dated %s ahead (allowed skew %s): check the node's clock",
			name, id, r.Time.Sub(now).Round(time.Millisecond), c.opts.Skew))
		return
	case r.Name != name:
		c.malformed("result", "name_mismatch", subject,
			fmt.Errorf("result for %q arrived on the subject of %q", r.Name, name))
		return
	case r.Kind != "check" && r.Kind != "probe":
		c.malformed("result", "kind", subject, fmt.Errorf("result kind %q is neither check nor probe", r.Kind))
		return
	}
	o := c.state.clean(&r)

	c.mu.Lock()
	if !c.state.historical(stored) {
		c.health.lag.Observe(max(now.Sub(r.Time).Seconds(), 0))
	}
	c.state.applyResult(r, stored, now, &o)
	c.mu.Unlock()
	c.account("result", subject, o)
}

// account turns what applying a message did into metrics, log lines and
// events: a refusal is a malformed message of its reason, dropped items
// count by reason, an overflowing fact label is counted and logged.
func (c *Collector) account(kind, subject string, o outcome) {
	if o.refused != "" {
		c.malformed(kind, o.refused, subject, o.err)
	}
	for reason, n := range o.dropped {
		c.health.dropped.WithLabelValues(reason).Add(float64(n))
	}
	if o.dropped["checks_per_node"] > 0 {
		c.bad.Warn("checks_per_node", "node has too many checks and probes; dropping results for new ones",
			"subject", subject, "max", maxEntriesPerNode)
	}
	for _, ov := range o.overflowed {
		c.health.overflow.WithLabelValues(ov.label).Inc()
		c.bad.Warn("overflow/"+ov.label, "fact label has too many distinct values; new values become "+overflowValue,
			"label", ov.label, "fact", ov.fact, "value", ov.value, "identity", ov.identity, "max", c.opts.MaxLabelValues)
	}
	if o.truncated && o.refused == "" {
		c.health.truncated.Inc()
	}
	c.emit(o.events)
}
