// Package collector is the collector's listening core: it turns the fleet's
// NATS traffic (registrations and check and probe results) into node and
// check state, Prometheus metrics keyed by allow-listed facts, liveness
// events and a read-only JSON API. It rebuilds its state from JetStream on
// start, so it keeps nothing on disk of its own. The daemon around it (the
// action API, remediation, the event hub, the web view and their HTTP
// server) is collector/app.
//
// It must never act on the fleet: it only listens. It never trusts a message
// to speak for another node, never lets facts become labels outside the
// allow-list, and never lets one node or one fact grow the metrics without
// bound; whatever it refuses it counts.
package collector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/pulseops/pulse/internal/buildinfo"
	"github.com/pulseops/pulse/internal/protocol"
	"github.com/pulseops/pulse/internal/ratelog"
)

// LabelRule turns one fact into one label on every per-node series.
type LabelRule struct {
	// Fact is the fact path; "os.name" looks up facts["os.name"] and then
	// facts["os"]["name"].
	Fact string `yaml:"fact" json:"fact"`
	// Label is the label name; empty means the fact path, sanitised.
	Label string `yaml:"label" json:"label"`
}

// DefaultLabels is the allow-list used when Options.Labels is nil.
func DefaultLabels() []LabelRule {
	return []LabelRule{
		{Fact: "ec2_placement_availability_zone", Label: "az"},
		{Fact: "role", Label: "role"},
		{Fact: "cluster", Label: "cluster"},
	}
}

// The bounds of each JetStream stream unless Options say otherwise: a day
// of messages, and a gibibyte, about a million results of 1 KiB.
const (
	DefaultStreamMaxAge   = 24 * time.Hour
	DefaultStreamMaxBytes = 1 << 30
)

// Options configure a Collector. Zero values take the defaults named.
type Options struct {
	// Conn is the NATS connection to listen on; the caller owns and closes it.
	Conn *nats.Conn
	// Collective scopes the subjects and stream names ("pulse").
	Collective string
	// Labels is the fact allow-list; nil means DefaultLabels(). An empty,
	// non-nil slice means no fact labels at all.
	Labels []LabelRule
	// MaxLabelValues caps the distinct values of each fact label (1000).
	MaxLabelValues int
	// MaxSeries caps the fleet series /metrics exposes (500000).
	MaxSeries int
	// HeartbeatMisses is how many heartbeats a node may miss before it is
	// down (3).
	HeartbeatMisses int
	// StaleIntervals is how many of its intervals a result may age before it
	// is stale (3).
	StaleIntervals int
	// Skew is how far ahead of the collector's clock a node's signed time
	// may be (5s); messages dated later are refused.
	Skew time.Duration
	// MaxOutputBytes bounds a result's output and long output (4096).
	MaxOutputBytes int
	// MaxConcurrentScrapes bounds /metrics requests served at once
	// (DefaultMaxConcurrentScrapes); more get 503 at once.
	MaxConcurrentScrapes int
	// Replicas of the JetStream streams when they are created (1).
	Replicas int
	// StreamMaxAge and StreamMaxBytes bound each JetStream stream (24h,
	// 1 GiB): a message older, or past the size, is discarded, oldest
	// first, so a restarted collector replays bounded data however much
	// was published.
	StreamMaxAge   time.Duration
	StreamMaxBytes int64
	// ChangesMaxAge and ChangesMaxMsgs bound the stream of change events:
	// older or more are discarded, oldest first (30 days, 100000).
	ChangesMaxAge  time.Duration
	ChangesMaxMsgs int
	Logger         *slog.Logger
	// Now is the clock; tests inject one. Defaults to time.Now.
	Now func() time.Time
	// Verify, when set, must accept a registration's or result's envelope
	// (its signature and signer) before its body is read; a refused one is
	// dropped and counted as malformed with reason "unverified", so a
	// process on the bus cannot forge a node.
	Verify func(*protocol.Envelope) error
	// OnEvent receives node_up, node_down and check_state events. It is
	// called from the ingest goroutines and must not block.
	OnEvent func(protocol.Event)
}

// Collector ingests the fleet's registrations and results and serves them.
type Collector struct {
	opts   Options
	log    *slog.Logger
	rules  []labelRule
	subj   protocol.Subjects
	reg    *prometheus.Registry
	health *healthMetrics
	fleet  *fleetCollector

	mu    sync.RWMutex
	state *fleetModel

	// changes has its own lock: change events are few, and the fleet's
	// lock is for the fleet (changes.go).
	changes *changeLog

	// runMu serialises Start and Stop; running and mode are read without
	// it, so /healthz and /-/ready answer while Start replays.
	runMu     sync.Mutex
	running   atomic.Bool
	mode      atomic.Value // "jetstream" or "core", for /healthz
	stop      func()
	readiness *readiness

	// bad logs a flood of bad input once a minute per reason.
	bad *ratelog.Logger

	// metricsHTTP serves /metrics: limited and counted.
	metricsHTTP http.Handler
}

// New checks opts, fills in defaults and builds a Collector that is not yet
// listening; call Start.
func New(opts Options) (*Collector, error) {
	if opts.Conn == nil {
		return nil, errors.New("collector: Options.Conn is nil: connect to NATS first and pass the connection")
	}
	rules, err := opts.complete()
	if err != nil {
		return nil, err
	}
	c := &Collector{
		opts:  opts,
		log:   opts.Logger.With("component", "collector", "collective", opts.Collective),
		rules: rules,
		subj:  protocol.Subjects{Collective: opts.Collective},
		reg:   prometheus.NewRegistry(),
	}
	c.bad = ratelog.New(c.log, time.Minute)
	c.readiness = newReadiness()
	c.state = newFleetModel(fleetConfig{
		rules: rules, maxLabelValues: opts.MaxLabelValues, maxSeries: opts.MaxSeries,
		heartbeatMisses: opts.HeartbeatMisses, staleIntervals: opts.StaleIntervals, maxOutputBytes: opts.MaxOutputBytes,
	})
	c.changes = newChangeLog()
	c.health = newHealthMetrics(c.reg)
	c.fleet = newFleetCollector(c)
	c.reg.MustRegister(c.fleet, newChangeMetrics(c),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "pulse_build_info",
			Help:        "Always 1; labelled with the version, revision and Go version pulse was built from.",
			ConstLabels: buildinfo.Get().Labels(),
		}, func() float64 { return 1 }))
	// One handler for every mux the API is mounted on, so the scrape limit
	// is one. promhttp's own instrumentation counts scrapes by status code
	// (promhttp_metric_handler_requests_total), the refused ones too.
	c.metricsHTTP = promhttp.InstrumentMetricHandler(c.reg,
		limitScrapes(opts.MaxConcurrentScrapes, &metricsHandler{c: c}))
	return c, nil
}

// CheckOptions reports what New would refuse in opts, apart from the
// connection, so a daemon can check its configuration before it connects.
func CheckOptions(opts Options) error {
	_, err := opts.complete()
	return err
}

// complete checks o and fills in its defaults.
func (opts *Options) complete() ([]labelRule, error) {
	if opts.Collective == "" {
		opts.Collective = "pulse" // as the agent and the CLI default
	}
	if !protocol.ValidToken(opts.Collective) || strings.ContainsAny(opts.Collective, `/\`) {
		return nil, fmt.Errorf("collector: collective %q is not a valid name: use letters, digits, - and _ only", opts.Collective)
	}
	if opts.Labels == nil {
		opts.Labels = DefaultLabels()
	}
	rules, err := compileLabels(opts.Labels)
	if err != nil {
		return nil, err
	}
	for _, f := range []struct {
		name string
		v    *int
		def  int
	}{
		{"MaxLabelValues", &opts.MaxLabelValues, 1000},
		{"MaxSeries", &opts.MaxSeries, 500000},
		{"HeartbeatMisses", &opts.HeartbeatMisses, 3},
		{"StaleIntervals", &opts.StaleIntervals, 3},
		{"MaxOutputBytes", &opts.MaxOutputBytes, 4096},
		{"Replicas", &opts.Replicas, 1},
		{"MaxConcurrentScrapes", &opts.MaxConcurrentScrapes, DefaultMaxConcurrentScrapes},
		{"ChangesMaxMsgs", &opts.ChangesMaxMsgs, defaultChangesMaxMsgs},
	} {
		if *f.v < 0 {
			return nil, fmt.Errorf("collector: %s is %d: it must be positive, or 0 for the default %d", f.name, *f.v, f.def)
		}
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Skew <= 0 {
		opts.Skew = 5 * time.Second
	}
	if opts.StreamMaxAge < 0 || opts.StreamMaxBytes < 0 {
		return nil, errors.New("collector: stream limits must not be negative (0 takes the defaults, 24h and 1 GiB)")
	}
	if opts.StreamMaxAge == 0 {
		opts.StreamMaxAge = DefaultStreamMaxAge
	}
	if opts.StreamMaxBytes == 0 {
		opts.StreamMaxBytes = DefaultStreamMaxBytes
	}
	if opts.ChangesMaxAge < 0 {
		return nil, fmt.Errorf("collector: ChangesMaxAge is %s: it must be positive, or 0 for the default %s", opts.ChangesMaxAge, defaultChangesMaxAge)
	}
	if opts.ChangesMaxAge == 0 {
		opts.ChangesMaxAge = defaultChangesMaxAge
	}
	return rules, nil
}

// Collective is the collective the collector listens to.
func (c *Collector) Collective() string { return c.opts.Collective }

// Ingest applies one message as if it had arrived on subject and the broker
// had stored it at stored (zero: now). The bus subscriptions call it, and
// so do tests and tools that feed a collector without a broker.
func (c *Collector) Ingest(subject string, data []byte, stored time.Time) {
	c.handle(subject, data, stored)
}

// Registry is the collector's own Prometheus registry, for callers that add
// metrics of their own (the remediation engine, the event hub) to /metrics.
// Its Gather includes the fleet's series.
func (c *Collector) Registry() *Registry { return &Registry{Registry: c.reg, fleet: c.fleet} }

// Start ensures the JetStream streams exist, replays the last registration
// and result of every node and check, and keeps consuming new ones until Stop
// or until ctx ends. Without JetStream it falls back to core subscriptions
// and logs a warning; state then starts empty.
func (c *Collector) Start(ctx context.Context) error {
	c.runMu.Lock()
	defer c.runMu.Unlock()
	if c.running.Load() {
		return errors.New("collector: Start called twice: call Stop first")
	}
	c.mu.Lock()
	c.state.started = c.opts.Now()
	c.mu.Unlock()
	runCtx, cancel := context.WithCancel(ctx)
	// Running from here: /healthz and /-/ready say "replaying", not
	// "stopped", while subscribe waits for the replay. Stop waits for
	// runMu, so it never sees the collector half started.
	c.running.Store(true)
	c.readiness.started.Store(true)
	stopIngest, mode, err := c.subscribe(runCtx)
	if err != nil {
		c.running.Store(false)
		cancel()
		return err
	}
	c.mode.Store(mode)
	stopOnce := sync.OnceFunc(stopIngest)
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.sweepLoop(runCtx)
		stopOnce() // ctx ended: ingest ends with it
	}()
	c.stop = func() {
		cancel()
		<-done
	}
	c.running.Store(true)
	return nil
}

// Stop ends ingest and the liveness sweep. The HTTP handler keeps serving the
// last state. Stop is safe to call more than once.
func (c *Collector) Stop() {
	c.runMu.Lock()
	defer c.runMu.Unlock()
	if !c.running.Load() {
		return
	}
	c.stop()
	c.running.Store(false)
}

// sweepLoop turns missed heartbeats into node_down events. Metrics and the API
// compute liveness from the clock themselves, so the loop only decides when
// events fire.
func (c *Collector) sweepLoop(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			c.sweep()
		}
	}
}

// sweep marks nodes that stopped heartbeating as down and tells OnEvent.
func (c *Collector) sweep() {
	now := c.opts.Now()
	c.mu.Lock()
	evs := c.state.sweep(now)
	c.mu.Unlock()
	c.emit(evs)
}

// emit hands events to OnEvent; it must be called without c.mu held so that
// a handler may read the collector.
func (c *Collector) emit(evs []protocol.Event) {
	if c.opts.OnEvent == nil {
		return
	}
	for _, e := range evs {
		c.opts.OnEvent(e)
	}
}
