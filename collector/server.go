package collector

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/pulseops/pulse/collector/remediation"
	"github.com/pulseops/pulse/internal/filter"
	"github.com/pulseops/pulse/internal/protocol"
	"github.com/pulseops/pulse/internal/rpc"
)

// ServerOptions configure the collector daemon: the fleet state and
// metrics, the action endpoint, the remediation engine and their HTTP
// server.
type ServerOptions struct {
	Collector Options
	// Listen is the HTTP address, e.g. 127.0.0.1:9780.
	Listen string
	// Rules maps alerts to remediations; nil turns the webhook off.
	Rules *remediation.RuleSet
	// ActionToken guards the action and remediation endpoints and
	// AlertToken the Alertmanager webhook. Empty tokens leave an endpoint
	// open, which only the demo on loopback should do.
	ActionToken string
	AlertToken  string
	// Signer signs the requests the collector sends.
	Signer *protocol.Signer
	// VerifyReply checks the replies it receives.
	VerifyReply func(*protocol.Envelope) error
	// Audit receives the collector's own audit lines: actions and
	// remediations it started.
	Audit io.Writer
	// MaxBodyBytes bounds request bodies (1 MiB).
	MaxBodyBytes int64
	// TLSCertFile and TLSKeyFile, when set, serve HTTPS instead of HTTP.
	TLSCertFile, TLSKeyFile string
}

// Server is a running collector daemon.
type Server struct {
	opts    ServerOptions
	Col     *Collector
	Engine  *remediation.Engine
	client  *rpc.Client
	actions *actionStore
	http    *http.Server
	ln      net.Listener
	log     *slog.Logger
	hooks   []func(protocol.Event)
	hub     *Hub
}

// NewServer builds the collector, its rpc client and remediation engine.
func NewServer(opts ServerOptions) (*Server, error) {
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = 1 << 20
	}
	if opts.Collector.Logger == nil {
		opts.Collector.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{opts: opts, log: opts.Collector.Logger.With("component", "collector-server"), actions: newActionStore(200)}
	s.hooks = append(s.hooks, opts.Collector.OnEvent)
	opts.Collector.OnEvent = s.emit
	col, err := New(opts.Collector)
	if err != nil {
		return nil, err
	}
	s.Col = col
	s.client = rpc.New(opts.Collector.Conn, rpc.Options{
		Collective: opts.Collector.Collective, Caller: "collector", Signer: opts.Signer,
		VerifyReply: opts.VerifyReply, Logger: opts.Collector.Logger,
	})
	if opts.Rules != nil {
		eng, err := remediation.New(remediation.Options{
			Rules: opts.Rules, Executor: &executor{c: s.client}, Fleet: col,
			Registerer: col.Registry(), Logger: opts.Collector.Logger, OnEvent: opts.Collector.OnEvent,
			Audit: opts.Audit, MaxBodyBytes: opts.MaxBodyBytes,
		})
		if err != nil {
			return nil, err
		}
		s.Engine = eng
		col.Handle("POST /api/v1/alerts", s.auth(opts.AlertToken, eng.AlertsHandler()))
		rh := s.auth(opts.ActionToken, eng.RemediationsHandler())
		col.Handle("/api/v1/remediations", rh)
		col.Handle("/api/v1/remediations/", rh)
	}
	col.Handle("POST /api/v1/actions", s.auth(opts.ActionToken, http.HandlerFunc(s.serveAction)))
	col.Handle("GET /api/v1/actions", s.auth(opts.ActionToken, http.HandlerFunc(s.serveActions)))
	col.Handle("GET /api/v1/actions/{id}", s.auth(opts.ActionToken, http.HandlerFunc(s.serveActionByID)))
	return s, nil
}

// emit hands an event to every listener.
func (s *Server) emit(e protocol.Event) {
	for _, h := range s.hooks {
		if h != nil {
			h(e)
		}
	}
}

// OnEvent adds a listener for collector and remediation events; call it
// before Start.
func (s *Server) OnEvent(f func(protocol.Event)) { s.hooks = append(s.hooks, f) }

// Handle mounts another handler on the collector's mux.
func (s *Server) Handle(pattern string, h http.Handler) { s.Col.Handle(pattern, h) }

// Auth wraps h with the human token check.
func (s *Server) Auth(h http.Handler) http.Handler { return s.auth(s.opts.ActionToken, h) }

// Start begins ingest and serves HTTP on Listen.
func (s *Server) Start(ctx context.Context) error {
	if err := s.Col.Start(ctx); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", s.opts.Listen)
	if err != nil {
		s.Col.Stop()
		return fmt.Errorf("collector HTTP address %s is not free (another pulse demo or collector? pick another with --listen): %w", s.opts.Listen, err)
	}
	s.ln = ln
	if s.opts.TLSCertFile != "" {
		// Load once here so a bad certificate fails the start, not the
		// first connection.
		if _, err := tls.LoadX509KeyPair(s.opts.TLSCertFile, s.opts.TLSKeyFile); err != nil {
			ln.Close()
			s.Col.Stop()
			return fmt.Errorf("collector TLS certificate: %w", err)
		}
	}
	s.http = &http.Server{
		Handler:           s.Col.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		// Long batches answer asynchronously, so a write never needs long.
		WriteTimeout: 5 * time.Minute,
		IdleTimeout:  2 * time.Minute,
		ErrorLog:     slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	go func() {
		var err error
		if s.opts.TLSCertFile != "" {
			err = s.http.ServeTLS(ln, s.opts.TLSCertFile, s.opts.TLSKeyFile)
		} else {
			err = s.http.Serve(ln)
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("http server stopped", "err", err)
		}
	}()
	return nil
}

// Addr is the address HTTP is served on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Stop shuts HTTP down, waits for running remediations and stops ingest.
func (s *Server) Stop() {
	if s.http != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = s.http.Shutdown(ctx)
		cancel()
	}
	if s.hub != nil {
		// Shutdown does not close upgraded websockets; the hub does.
		s.hub.Close()
	}
	if s.Engine != nil {
		s.Engine.Close()
	}
	s.Col.Stop()
}

// auth requires "Authorization: Bearer <token>" when token is set.
func (s *Server) auth(token string, h http.Handler) http.Handler {
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

// executor runs remediation actions through the orchestration client.
type executor struct{ c *rpc.Client }

func (e *executor) Run(ctx context.Context, a remediation.Action) ([]remediation.NodeResult, error) {
	call := rpc.Call{Agent: a.Agent, Action: a.Action, Data: a.Data, Filter: a.Filter, BatchSleep: a.BatchSleep}
	if a.Batch > 0 {
		call.Batch = strconv.Itoa(a.Batch)
	}
	// An alert that names nodes needs no discovery: address them directly.
	if ids := exactIdentities(a.Filter); ids != nil {
		call.Nodes = ids
	}
	res, err := e.c.Do(ctx, call)
	if err != nil {
		return nil, err
	}
	out := make([]remediation.NodeResult, 0, len(res.Replies)+len(res.NoResponse))
	for _, r := range res.Replies {
		out = append(out, remediation.NodeResult{Identity: r.Identity, Status: r.Status, Message: r.StatusMsg, Data: r.Data})
	}
	for _, n := range res.NoResponse {
		out = append(out, remediation.NodeResult{Identity: n, Status: protocol.UnknownError, Message: "no response"})
	}
	return out, nil
}

// exactIdentities returns the identities of a filter that selects nodes by
// exact identity alone, or nil.
func exactIdentities(f filter.Spec) []string {
	if len(f.Identity) == 0 || len(f.Fact) > 0 || len(f.Class) > 0 || len(f.Agent) > 0 || f.Compound != "" {
		return nil
	}
	for _, id := range f.Identity {
		if strings.HasPrefix(id, "/") || !protocol.ValidToken(id) {
			return nil
		}
	}
	return f.Identity
}
