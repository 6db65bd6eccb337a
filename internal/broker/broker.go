// Package broker embeds the real nats-server: the demo, `pulse broker` and
// every integration test run it in-process. It adds nothing to NATS beyond
// choosing options; it never implements protocol of its own.
package broker

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Options configure an embedded broker.
type Options struct {
	// Host and Port to listen on; Port -1 picks a free port.
	Host string
	Port int
	// Name of this server in a cluster; defaults to nats-server's choice.
	Name string
	// ClusterListen ("host:port") and Routes form a NATS cluster when set.
	ClusterName   string
	ClusterListen string
	Routes        []string
	// JetStreamDir enables JetStream with file storage there when non-empty.
	JetStreamDir string
	// MaxPayload bounds one message; 0 keeps nats-server's default (1 MiB).
	MaxPayload int32
	// TLS, when set, makes clients connect with TLS; a config whose
	// ClientAuth is tls.RequireAndVerifyClientCert also makes every client
	// present a certificate from its ClientCAs (security.ServerTLSConfig
	// builds one).
	TLS *tls.Config
	// ConfigFile is a nats-server configuration file read first, through
	// nats-server's own parser; the options above win over what it sets.
	// `pulse keys server-config` writes the one that makes the broker trust
	// pulse's issuer: operator, system account and a full account resolver,
	// so every client must log in with issued credentials and gets the
	// subject permissions of its role. Without it anyone who reaches the
	// port may publish and subscribe to anything.
	ConfigFile string
	// Server lets callers set anything else before start.
	Server func(*server.Options)
	Logger *slog.Logger
}

// Broker is a running embedded nats-server.
type Broker struct {
	srv *server.Server
}

// Start runs a nats-server with opts and waits until it accepts clients.
func Start(opts Options) (*Broker, error) {
	so := &server.Options{}
	if opts.ConfigFile != "" {
		fo, err := server.ProcessConfigFile(opts.ConfigFile)
		if err != nil {
			return nil, fmt.Errorf("nats-server configuration %s: %w", opts.ConfigFile, err)
		}
		so = fo
	}
	so.Host, so.Port, so.NoSigs = opts.Host, opts.Port, true
	if opts.Name != "" {
		so.ServerName = opts.Name
	}
	if opts.MaxPayload != 0 {
		so.MaxPayload = opts.MaxPayload
	}
	if so.Host == "" {
		so.Host = "127.0.0.1"
	}
	if opts.JetStreamDir != "" {
		so.JetStream = true
		so.StoreDir = opts.JetStreamDir
	}
	if opts.ClusterListen != "" {
		host, port, err := splitHostPort(opts.ClusterListen)
		if err != nil {
			return nil, fmt.Errorf("cluster listen address %q: %w", opts.ClusterListen, err)
		}
		so.Cluster.Name = opts.ClusterName
		if so.Cluster.Name == "" {
			so.Cluster.Name = "pulse"
		}
		so.Cluster.Host, so.Cluster.Port = host, port
		// A JetStream cluster refuses to start without server names, and
		// raft identifies peers by them, so the default must be the same
		// on every restart: derive it from the cluster address.
		if so.ServerName == "" && so.JetStream {
			so.ServerName = fmt.Sprintf("%s-%s-%d", so.Cluster.Name, strings.ReplaceAll(host, ".", "_"), port)
			if port <= 0 {
				// A random cluster port has no stable name to offer.
				so.ServerName = fmt.Sprintf("%s-%d", so.Cluster.Name, time.Now().UnixNano())
			}
		}
		for _, r := range opts.Routes {
			u, err := url.Parse(r)
			if err != nil {
				return nil, fmt.Errorf("cluster route %q: %w", r, err)
			}
			so.Routes = append(so.Routes, u)
		}
	}
	if opts.TLS != nil {
		so.TLS = true
		so.TLSConfig = opts.TLS
		so.TLSVerify = opts.TLS.ClientAuth == tls.RequireAndVerifyClientCert
		so.TLSTimeout = 5
	}
	if opts.Server != nil {
		opts.Server(so)
	}
	// Fail early and clearly on a port in use: nats-server would otherwise
	// only log it and never become ready.
	if so.Port > 0 {
		ln, err := net.Listen("tcp", net.JoinHostPort(so.Host, strconv.Itoa(so.Port)))
		if err != nil {
			return nil, fmt.Errorf("nats listen address %s:%d is not free (is another pulse demo or nats-server running? pick another with --listen): %w", so.Host, so.Port, err)
		}
		ln.Close()
	}
	srv, err := server.NewServer(so)
	if err != nil {
		return nil, fmt.Errorf("configure nats-server: %w", err)
	}
	if opts.Logger != nil {
		srv.SetLoggerV2(&logAdapter{l: opts.Logger.With("component", "nats")}, false, false, false)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		return nil, errors.New("nats-server did not become ready within 10s")
	}
	return &Broker{srv: srv}, nil
}

// ClientURL is the URL clients connect to.
func (b *Broker) ClientURL() string { return b.srv.ClientURL() }

// Server exposes the underlying nats-server for tests and monitoring.
func (b *Broker) Server() *server.Server { return b.srv }

// Shutdown stops the server and waits for it to finish.
func (b *Broker) Shutdown() {
	b.srv.Shutdown()
	b.srv.WaitForShutdown()
}

func splitHostPort(hp string) (string, int, error) {
	h, p, err := net.SplitHostPort(hp)
	if err != nil {
		return "", 0, err
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		return "", 0, fmt.Errorf("port %q is not a number", p)
	}
	return h, n, nil
}

type logAdapter struct{ l *slog.Logger }

func (a *logAdapter) Noticef(f string, v ...any) { a.l.Debug(fmt.Sprintf(f, v...)) }
func (a *logAdapter) Warnf(f string, v ...any)   { a.l.Warn(fmt.Sprintf(f, v...)) }
func (a *logAdapter) Fatalf(f string, v ...any)  { a.l.Error(fmt.Sprintf(f, v...)) }
func (a *logAdapter) Errorf(f string, v ...any)  { a.l.Error(fmt.Sprintf(f, v...)) }
func (a *logAdapter) Debugf(f string, v ...any)  { a.l.Debug(fmt.Sprintf(f, v...)) }
func (a *logAdapter) Tracef(f string, v ...any)  {}
