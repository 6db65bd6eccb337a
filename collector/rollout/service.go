package rollout

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pulseops/pulse/internal/protocol"
)

// ServiceOptions configure the collector's rollouts.
type ServiceOptions struct {
	Conn       *nats.Conn
	Collective string
	// Replicas of the records stream when the collector creates it.
	Replicas int
	// Client runs the rollouts' requests, as Caller, signed by Signer's
	// client; Signer also signs the records.
	Client     Doer
	Caller     string
	Signer     *protocol.Signer
	Prometheus string
	// OnEvent hears of rollouts that start, pass a step and end, whoever
	// runs them.
	OnEvent      func(protocol.Event)
	MaxBodyBytes int64
	Logger       *slog.Logger
}

// Service is the collector's part in rollouts: it follows every rollout's
// record and runs the rollouts the action API is asked for.
type Service struct {
	opts  ServiceOptions
	log   *slog.Logger
	store *Store
	api   *API

	mu         sync.Mutex
	stopFollow func()
}

// NewService builds the service; Start connects it to JetStream.
func NewService(o ServiceOptions) *Service {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Service{opts: o, log: o.Logger.With("component", "rollouts"), store: NewStore(o.OnEvent, o.Logger)}
	s.api = NewAPI(nil, s.store, o.MaxBodyBytes, o.Logger)
	return s
}

// Store is every rollout's last record.
func (s *Service) Store() *Store { return s.store }

// Register mounts the rollout endpoints on mux.
func (s *Service) Register(mux *http.ServeMux, guard func(http.Handler) http.Handler) {
	s.api.Register(mux, guard)
}

// Start follows the records and lets the API run rollouts. Without
// JetStream on the bus there are no rollouts: that is logged, the API
// says so, and the rest of the collector runs on.
func (s *Service) Start(ctx context.Context) {
	o := s.opts
	js, err := jetstream.New(o.Conn)
	if err == nil {
		actx, cancel := context.WithTimeout(ctx, 10*time.Second)
		var locks *Locks
		if locks, err = OpenLocks(actx, js, o.Collective, o.Logger); err == nil {
			var runner *Runner
			runner, err = New(Options{
				Client: o.Client, Caller: o.Caller, Via: protocol.ViaAPI, Prometheus: o.Prometheus, Locks: locks,
				Publish: NewRecorder(js, o.Collective, o.Caller, o.Signer).Publish, Logger: o.Logger,
			})
			if err == nil {
				var stop func()
				if stop, err = s.store.Follow(actx, js, o.Collective, o.Replicas); err == nil {
					s.mu.Lock()
					s.stopFollow = stop
					s.mu.Unlock()
					s.api.setRunner(runner)
				}
			}
		}
		cancel()
	}
	if err != nil {
		s.api.setUnavailable(fmt.Sprintf("rollouts are off in this collector: %v", err))
		s.log.Warn("rollouts are off: the collector could not reach their JetStream stream and lock bucket", "err", err)
	}
	s.api.Start(ctx)
}

// Stop halts the rollouts the collector runs (they roll back), waits for
// them and stops following the records.
func (s *Service) Stop() {
	s.api.Stop()
	s.mu.Lock()
	stop := s.stopFollow
	s.stopFollow = nil
	s.mu.Unlock()
	if stop != nil {
		stop()
	}
}
