// Package app is the collector daemon as one value that `pulse collector`,
// the demo and the tests start the same way: New checks the options; Run
// connects to the bus (or uses the connection it is given), builds the
// listening core (collector), the acting parts (act, remediation), the
// event hub and the web view, serves them on one HTTP listener, and stops
// them all when its context ends. It never touches signals or exits the
// process.
package app

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	toolkit "github.com/prometheus/exporter-toolkit/web"
	"golang.org/x/sync/errgroup"

	"github.com/pulseops/pulse/collector"
	"github.com/pulseops/pulse/collector/act"
	"github.com/pulseops/pulse/collector/alerts"
	"github.com/pulseops/pulse/collector/api"
	"github.com/pulseops/pulse/collector/delivery"
	"github.com/pulseops/pulse/collector/history"
	"github.com/pulseops/pulse/collector/hub"
	"github.com/pulseops/pulse/collector/remediation"
	"github.com/pulseops/pulse/collector/rollout"
	"github.com/pulseops/pulse/collector/slo"
	"github.com/pulseops/pulse/collector/web"
	"github.com/pulseops/pulse/internal/bus"
	"github.com/pulseops/pulse/internal/issuer"
	"github.com/pulseops/pulse/internal/protocol"
	"github.com/pulseops/pulse/internal/rpc"
	"github.com/pulseops/pulse/internal/security"
)

// Options configure the collector daemon.
type Options struct {
	// NATS is how Run reaches the bus when Conn is nil; Run connects and
	// closes the connection when it returns.
	NATS bus.Config
	// Conn, when set, is an open connection Run uses and leaves open: the
	// demo and tests that own one pass it.
	Conn *nats.Conn
	// Collector configures the listening core. Its Conn is set by Run; its
	// OnEvent, when set, receives every event the app emits.
	Collector collector.Options
	// Listen is the HTTP address, e.g. 127.0.0.1:9780.
	Listen string
	// WebConfigFile is an exporter-toolkit web configuration file
	// (tls_server_config: HTTPS, client certificates), re-read on every
	// new connection so renewed certificates apply without a restart.
	WebConfigFile string
	// Rules maps alerts to remediations; nil turns the webhook off.
	Rules *remediation.RuleSet
	// ActionToken guards the action and remediation endpoints and the
	// event websocket, AlertToken the Alertmanager webhook. Empty tokens
	// leave an endpoint open, which only the demo on loopback should do.
	ActionToken string
	AlertToken  string
	// Identity is who the collector's requests (actions, remediations)
	// come from: its issued credentials, whose key signs them and whose JWT
	// goes with them, or an ed25519 key that agents list in their trusted
	// keys. Its name is the caller; without it the caller is "collector"
	// and requests go unsigned.
	Identity *security.Identity
	// VerifyReply checks reply signatures, for brokers that are not
	// trusted to say which node sent a reply.
	VerifyReply func(*protocol.Envelope) error
	// Audit receives the collector's own audit lines: actions and
	// remediations it started.
	Audit io.Writer
	// MaxBodyBytes bounds request bodies (1 MiB).
	MaxBodyBytes int64
	// WebOrigins are browser origins allowed to open the event websocket
	// besides the collector's own address.
	WebOrigins []string
	// Alertmanager and Prometheus are their base URLs, for what the
	// overview shows: the alerts Alertmanager holds (else what its webhook
	// sent) and the SLOs Prometheus' recording rules compute. The PromQL
	// gates of rollouts the action API runs query Prometheus too.
	Alertmanager, Prometheus string
	// HistoryStep is how often the overview's history samples the fleet
	// (15s).
	HistoryStep time.Duration
	// ChangeFailureWindow is how long after a deployment a failure on its
	// nodes counts against it (delivery.DefaultFailureWindow).
	ChangeFailureWindow time.Duration
}

// App is the collector daemon. Run it once.
type App struct {
	opts  Options
	tls   bool // the web config serves HTTPS
	log   *slog.Logger
	ready chan struct{}

	mu      sync.Mutex
	started bool
	// Set before ready is closed and kept after Run returns.
	col    *collector.Collector
	engine *remediation.Engine
	addr   string
}

// New checks opts and builds an App; it starts nothing and connects to
// nothing. Every error is one the user fixes in the configuration.
func New(opts Options) (*App, error) {
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = 1 << 20
	}
	if opts.Collector.Logger == nil {
		opts.Collector.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Listen == "" {
		return nil, errors.New("collector: no HTTP listen address: set listen, e.g. 127.0.0.1:9780")
	}
	if err := collector.CheckOptions(opts.Collector); err != nil {
		return nil, err
	}
	for _, u := range []struct{ key, url string }{{"alertmanager_url", opts.Alertmanager}, {"prometheus_url", opts.Prometheus}} {
		if err := checkURL(u.url); err != nil {
			return nil, fmt.Errorf("collector: %s: %w", u.key, err)
		}
	}
	if opts.Conn == nil {
		if err := opts.NATS.Validate(); err != nil {
			return nil, err
		}
	}
	tlsOn := false
	if opts.WebConfigFile != "" {
		// Checked once here so a bad certificate fails the start, not the
		// first connection.
		var err error
		if tlsOn, err = CheckWebConfig(opts.WebConfigFile); err != nil {
			return nil, err
		}
	}
	return &App{opts: opts, tls: tlsOn, log: opts.Collector.Logger.With("component", "collector-app"), ready: make(chan struct{})}, nil
}

// Ready is closed once Run serves: ingest runs and HTTP listens.
func (a *App) Ready() <-chan struct{} { return a.ready }

// Addr is the address HTTP is served on, once Ready.
func (a *App) Addr() string { return a.addr }

// Collector is the listening core, once Ready.
func (a *App) Collector() *collector.Collector { return a.col }

// Engine is the remediation engine once Ready, nil without rules.
func (a *App) Engine() *remediation.Engine { return a.engine }

// Run builds every part, serves until ctx ends or a part fails, then stops
// them all and returns; no goroutine it started outlives it. The error is
// the one that stopped it (nil when ctx ended).
func (a *App) Run(ctx context.Context) error {
	a.mu.Lock()
	if a.started {
		a.mu.Unlock()
		return errors.New("collector: Run called twice: an App runs once; build another with New")
	}
	a.started = true
	a.mu.Unlock()

	nc := a.opts.Conn
	if nc == nil {
		bc := a.opts.NATS
		if bc.Name == "" {
			bc.Name = "pulse collector"
		}
		var err error
		if nc, err = bus.Connect(bc, a.opts.Collector.Logger); err != nil {
			return err
		}
		defer nc.Close()
	}
	p, err := a.build(nc)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", a.opts.Listen)
	if err != nil {
		return fmt.Errorf("collector HTTP address %s is not free (another pulse demo or collector? pick another with --listen): %w", a.opts.Listen, err)
	}
	defer ln.Close()

	srv := &http.Server{
		Handler:           p.mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		// Long batches answer asynchronously, so a write never needs long.
		WriteTimeout: 5 * time.Minute,
		IdleTimeout:  2 * time.Minute,
		ErrorLog:     slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	g, gctx := errgroup.WithContext(runCtx)
	// HTTP serves from the start, so /-/ready can say the collector is
	// replaying its streams (and /metrics, until it has, that it serves no
	// partial metrics) instead of leaving a scraper hanging.
	g.Go(func() error {
		// exporter-toolkit serves plain HTTP without a web config, HTTPS
		// with one, and loads the certificates anew for each connection.
		flags := &toolkit.FlagConfig{WebConfigFile: &a.opts.WebConfigFile, WebListenAddresses: &[]string{a.opts.Listen}}
		err := toolkit.Serve(ln, srv, flags, a.log)
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("collector HTTP server: %w", err)
	})
	// The acting parts start only once the fleet is rebuilt, so no
	// remediation is decided on a fleet half replayed; until then the
	// webhook answers 503 and Alertmanager sends again. stopped keeps a
	// shutdown during the replay from racing their start.
	var (
		lifeMu  sync.Mutex
		stopped bool
	)
	g.Go(func() error {
		<-gctx.Done()
		lifeMu.Lock()
		stopped = true
		lifeMu.Unlock()
		// Shutdown stops accepting and waits for handlers; running
		// actions and remediations are cancelled beside it, so a handler
		// waiting for one returns promptly.
		var wg sync.WaitGroup
		wg.Go(func() {
			p.actions.Stop()
			p.rollouts.Stop()
			if p.engine != nil {
				p.engine.Stop()
			}
		})
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		wg.Wait()
		return nil
	})
	if err := p.col.Start(gctx); err != nil {
		cancel()
		_ = g.Wait()
		return err
	}
	defer p.col.Stop()
	lifeMu.Lock()
	if !stopped {
		p.actions.Start(gctx)
		p.rollouts.Start(gctx)
		if p.engine != nil {
			p.engine.Start(gctx)
		}
	}
	lifeMu.Unlock()
	g.Go(func() error { return p.hub.Run(gctx) })
	g.Go(func() error { return p.history.Run(gctx) })
	a.col, a.engine, a.addr = p.col, p.engine, ln.Addr().String()
	close(a.ready)
	a.log.Info("collector serving", "http", a.scheme()+"://"+a.addr)
	return g.Wait()
}

func (a *App) scheme() string {
	if a.tls {
		return "https"
	}
	return "http"
}

// Start runs the app in the background and returns once it is Ready, or
// with the error that kept it from starting. stop ends it and returns
// Run's error; it may be called more than once. The demo and tests use it;
// `pulse collector` calls Run.
func (a *App) Start(ctx context.Context) (stop func() error, err error) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	select {
	case <-a.ready:
	case err := <-done:
		cancel()
		return nil, err
	}
	var (
		once   sync.Once
		runErr error
	)
	return func() error {
		once.Do(func() {
			cancel()
			runErr = <-done
		})
		return runErr
	}, nil
}

// parts are what one Run builds.
type parts struct {
	col      *collector.Collector
	engine   *remediation.Engine
	actions  *act.API
	hub      *hub.Hub
	history  *history.History
	rollouts *rollout.Service
	mux      *http.ServeMux
}

// build wires the parts together on nc and mounts their routes.
func (a *App) build(nc *nats.Conn) (*parts, error) {
	o := a.opts
	var (
		listeners []func(protocol.Event)
		p         = &parts{mux: http.NewServeMux()}
	)
	emit := func(e protocol.Event) {
		for _, l := range listeners {
			l(e)
		}
	}
	if o.Collector.OnEvent != nil {
		listeners = append(listeners, o.Collector.OnEvent)
	}
	co := o.Collector
	co.Conn, co.OnEvent = nc, emit
	col, err := collector.New(co)
	if err != nil {
		return nil, err
	}
	p.col = col
	ro := rpc.Options{Collective: col.Collective(), Caller: "collector", VerifyReply: o.VerifyReply, Logger: o.Collector.Logger}
	if id := o.Identity; id != nil {
		ro.Caller, ro.Signer, ro.JWT = issuer.CallerToken(issuer.RoleCollector, id.Name), id.Signer, id.JWT
	}
	client := rpc.New(nc, ro)
	humans := func(h http.Handler) http.Handler { return bearer(o.ActionToken, h) }
	col.Register(p.mux)
	if o.Rules != nil {
		eng, err := remediation.New(remediation.Options{
			Rules: o.Rules, Executor: act.Executor{Client: client}, Fleet: col,
			Registerer: col.Registry(), Logger: o.Collector.Logger, OnEvent: emit,
			Audit: o.Audit, MaxBodyBytes: o.MaxBodyBytes,
		})
		if err != nil {
			return nil, err
		}
		p.engine = eng
		p.mux.Handle("POST /api/v1/alerts", bearer(o.AlertToken, eng.AlertsHandler()))
		rh := humans(eng.RemediationsHandler())
		p.mux.Handle("/api/v1/remediations", rh)
		p.mux.Handle("/api/v1/remediations/", rh)
	}
	// The overview's data: alerts with their remediation (for humans, as
	// remediations are), SLOs and the last hour (open, as /metrics is).
	ao := alerts.Options{Alertmanager: o.Alertmanager}
	if p.engine != nil {
		ao.Engine = p.engine
	}
	p.mux.Handle("GET /api/v1/alerts", humans(alerts.Handler(ao)))
	p.mux.Handle("GET /api/v1/slos", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		api.WriteJSON(w, http.StatusOK, slo.View(r.Context(), slo.Options{Prometheus: o.Prometheus}))
	}))
	p.history = history.New(history.Options{Source: col, Step: o.HistoryStep})
	p.mux.Handle("GET /api/v1/history", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { api.WriteJSON(w, http.StatusOK, p.history.View()) }))
	p.actions = act.New(act.Options{Client: client, Audit: o.Audit, OnEvent: emit, MaxBodyBytes: o.MaxBodyBytes, Logger: o.Collector.Logger})
	p.actions.Register(p.mux, humans)
	p.rollouts = rollout.NewService(rollout.ServiceOptions{
		Conn: nc, Collective: col.Collective(), Replicas: o.Collector.Replicas, Client: client, Caller: ro.Caller, Signer: ro.Signer,
		Prometheus: o.Prometheus, OnEvent: emit, MaxBodyBytes: o.MaxBodyBytes, Logger: o.Collector.Logger,
	})
	p.rollouts.Register(p.mux, humans)
	p.hub = hub.New(hub.Options{
		AllowedOrigins: o.WebOrigins, Token: o.ActionToken, Lookup: col.Target,
		Registerer: col.Registry(), Logger: o.Collector.Logger,
	})
	listeners = append(listeners, p.hub.Publish)
	// Delivery metrics come from the same events everyone sees.
	tracker := delivery.New(delivery.Options{
		Registerer: col.Registry(), LabelNames: col.LabelNames(), Labels: col.LabelValues,
		FailureWindow: o.ChangeFailureWindow, Logger: o.Collector.Logger,
	})
	listeners = append(listeners, tracker.Observe)
	p.mux.Handle("GET /api/v1/events", p.hub.Handler())
	web.Register(p.mux, col)
	return p, nil
}

// bearer requires "Authorization: Bearer <token>" when token is set.
func bearer(token string, h http.Handler) http.Handler {
	if token == "" {
		return h
	}
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := []byte(r.Header.Get("Authorization"))
		if subtle.ConstantTimeCompare(got, want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="pulse"`)
			http.Error(w, "missing or wrong bearer token: send Authorization: Bearer <token>", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// checkURL accepts "" or an http(s) base URL such as http://127.0.0.1:9093.
func checkURL(s string) error {
	if s == "" {
		return nil
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return fmt.Errorf("%q is not an http:// or https:// URL such as http://127.0.0.1:9093", s)
	}
	return nil
}
