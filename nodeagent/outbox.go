package nodeagent

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The outbox: results are published with JetStream acknowledgements and
// kept until the results stream has them, so a broker outage or restart
// loses none. A plain publish while the connection is down, or before the
// restarted broker has its stream back, is gone without a word; here each
// result waits, in order, and is published again once the bus takes it.
// The wait is bounded: beyond ResultBuffer results the oldest is dropped,
// and counted (daemon_stats results_dropped), so a long outage costs memory
// only up to the bound. Every result carries the check's cumulative run
// counts, so even a dropped one is counted by the next.

// DefaultResultBuffer is how many unacknowledged results an agent keeps.
const DefaultResultBuffer = 1000

// ackWait bounds one acknowledged publish.
const ackWait = 2 * time.Second

type outgoing struct {
	subject string
	data    []byte
	// id is the result's boot and sequence: sent as Nats-Msg-Id, so a
	// result sent again after its acknowledgement was lost is stored once.
	id string
}

type outbox struct {
	a *Agent
	// publish sends one result and waits for the stream's acknowledgement.
	publish func(ctx context.Context, m outgoing) error

	// plainPublish sends without waiting for anyone.
	plainPublish func(m outgoing) error

	mu    sync.Mutex
	queue []outgoing // oldest first
	wake  chan struct{}
	// acked is set once the stream has acknowledged a result: from then
	// on a publish nobody acknowledges is retried. Until then a timeout
	// means no stream covers results (a broker without JetStream, whose
	// collector subscribes directly): the result was delivered, and there
	// is nothing that could acknowledge it. The outbox then publishes
	// plainly, and tries an acknowledged publish again every probeEvery in
	// case a stream appears.
	acked      bool
	plainUntil time.Time
}

// probeEvery is how long an outbox that found no stream publishes plainly
// before it asks for an acknowledgement again.
const probeEvery = 30 * time.Second

func newOutbox(a *Agent) *outbox {
	o := &outbox{a: a, wake: make(chan struct{}, 1)}
	js, err := jetstream.New(a.opts.Conn)
	if err != nil {
		// jetstream.New fails only on a nil connection, which New refused.
		panic(err)
	}
	o.publish = func(ctx context.Context, m outgoing) error {
		ctx, cancel := context.WithTimeout(ctx, ackWait)
		defer cancel()
		_, err := js.Publish(ctx, m.subject, m.data, jetstream.WithMsgID(m.id))
		return err
	}
	o.plainPublish = func(m outgoing) error { return a.opts.Conn.Publish(m.subject, m.data) }
	return o
}

// add queues a result, dropping the oldest when the buffer is full.
func (o *outbox) add(m outgoing) {
	o.mu.Lock()
	if len(o.queue) >= o.a.opts.ResultBuffer {
		o.queue = o.queue[1:]
		o.a.stats.ResultsDropped.Add(1)
		o.a.bad.Warn("outbox-full", "result buffer full: dropped the oldest unpublished result (daemon_stats results_dropped counts them); the next result of its check carries its runs",
			"buffer", o.a.opts.ResultBuffer)
	}
	o.queue = append(o.queue, m)
	o.a.stats.ResultsPending.Store(uint64(len(o.queue)))
	o.mu.Unlock()
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

func (o *outbox) head() (outgoing, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.queue) == 0 {
		return outgoing{}, false
	}
	return o.queue[0], true
}

func (o *outbox) pop() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.queue) > 0 {
		o.queue = o.queue[1:]
	}
	o.a.stats.ResultsPending.Store(uint64(len(o.queue)))
}

// run publishes queued results, oldest first, until ctx ends; then it tries
// for a moment to send what is left, as a stopping agent should.
func (o *outbox) run(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for {
		m, ok := o.head()
		if !ok {
			select {
			case <-ctx.Done():
				return
			case <-o.wake:
				continue
			}
		}
		if ctx.Err() != nil {
			o.flush()
			return
		}
		if o.send(ctx, m) {
			backoff = 100 * time.Millisecond
			continue
		}
		o.a.stats.ResultsRetried.Add(1)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// send publishes m once and reports whether it is done with: acknowledged,
// delivered where nothing acknowledges, or refused by the stream for good.
func (o *outbox) send(ctx context.Context, m outgoing) bool {
	if o.a.opts.Conn.Status() != nats.CONNECTED {
		// Published now, it would wait in the client's reconnect buffer
		// and time out here while it is sent later: wait instead.
		return false
	}
	if o.plain() {
		if err := o.plainPublish(m); err != nil {
			return false
		}
		o.pop()
		return true
	}
	err := o.publish(ctx, m)
	var apiErr *jetstream.APIError
	switch {
	case err == nil:
		o.mu.Lock()
		o.acked = true
		o.mu.Unlock()
		o.pop()
		return true
	case errors.As(err, &apiErr):
		// The stream refused this message (too large, say): sending it
		// again cannot help.
		o.a.stats.ResultsDropped.Add(1)
		o.a.bad.Warn("outbox-refused", "the results stream refused a result; dropped", "subject", m.subject, "err", err)
		o.pop()
		return true
	case errors.Is(err, context.DeadlineExceeded) && o.a.opts.Conn.IsConnected() && !o.everAcked():
		// Delivered to whoever subscribes; no stream to acknowledge it.
		o.mu.Lock()
		o.plainUntil = time.Now().Add(probeEvery)
		o.mu.Unlock()
		o.a.log.Info("no JetStream stream acknowledges results; publishing them without acknowledgement (a broker outage may lose some)", "retry_in", probeEvery)
		o.pop()
		return true
	default:
		// No responders (the stream is not back yet), not connected, or
		// no acknowledgement from a stream that gave them before.
		o.a.bad.Warn("outbox-retry", "result not acknowledged by the results stream; kept and sent again", "subject", m.subject, "err", err)
		return false
	}
}

// plain reports whether results go out without acknowledgement for now.
func (o *outbox) plain() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return !o.acked && time.Now().Before(o.plainUntil)
}

func (o *outbox) everAcked() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.acked
}

// flush tries, for at most a second in all, to send what is still queued
// while the agent stops.
func (o *outbox) flush() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	for ctx.Err() == nil && o.a.opts.Conn.Status() == nats.CONNECTED {
		m, ok := o.head()
		if !ok || !o.send(ctx, m) {
			return
		}
	}
}
