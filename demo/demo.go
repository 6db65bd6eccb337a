// Package demo runs pulse's whole loop on one machine: an embedded NATS
// broker, a simulated fleet of real agents (each with its own connection,
// simulated facts and providers), the collector, a demo shop and, when
// installed, real Prometheus and Alertmanager. Only cmd imports it; it must
// never be imported by the packages it composes.
package demo

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/pulseops/pulse/collector"
	"github.com/pulseops/pulse/collector/app"
	"github.com/pulseops/pulse/collector/remediation"
	"github.com/pulseops/pulse/demo/shop"
	"github.com/pulseops/pulse/internal/broker"
	"github.com/pulseops/pulse/internal/bus"
	"github.com/pulseops/pulse/internal/registry"
	"github.com/pulseops/pulse/nodeagent"
	"github.com/pulseops/pulse/probes"
	"github.com/pulseops/pulse/rules"
)

// Options configure a demo.
type Options struct {
	Nodes int
	Zones []string
	// NATSHost and NATSPort for the embedded broker (port -1: any free one).
	NATSHost string
	NATSPort int
	// CollectorAddr and ShopAddr are HTTP listen addresses; empty turns the
	// part off, ":0" ports pick free ones.
	CollectorAddr string
	ShopAddr      string
	// Prometheus and Alertmanager: "auto" (start them when on PATH), "off"
	// or a binary path; with their listen addresses.
	Prometheus, Alertmanager         string
	PrometheusAddr, AlertmanagerAddr string
	// LoginFailureRate and LoginLatency inject faults into the shop.
	LoginFailureRate float64
	LoginLatency     time.Duration
	// Intervals of heartbeats and checks (DefaultIntervals when zero).
	Intervals Intervals
	// ChangeDelay is how long a simulated package or service change takes
	// (0: the providers' default; negative: none).
	ChangeDelay time.Duration
	// Dir keeps JetStream, generated configs and logs; a temporary one is
	// made (and removed) when empty.
	Dir string
	// UserKeyDir is where the demo leaves its user key and action token
	// for the CLI (the CLI's key directory, ~/.config/pulse); empty keeps
	// them in Dir only. Only one running demo owns them: a second one keeps
	// its own in its Dir, and its intro names them.
	UserKeyDir string
	Logger     *slog.Logger
}

// Demo is a running demo.
type Demo struct {
	opts         Options
	Broker       *broker.Broker
	Agents       []*nodeagent.Agent
	Specs        []NodeSpec
	nodes        []*simNode
	Collector    *app.App
	Shop         *shop.Shop
	ShopURL      string
	Prometheus   *Process
	Alertmanager *Process
	// ActionToken is the bearer token for the action and remediation API.
	ActionToken string
	// alertToken is Alertmanager's, kept apart from the humans' one.
	alertToken string
	// Identity is everyone's credentials on the demo's bus: the broker
	// refuses any other login and lets each node publish only as itself.
	Identity      *Identity
	log           *slog.Logger
	tmpDir        string
	stopCollector func() error
	shopSrv       *http.Server
	audit         *os.File
	cancel        context.CancelFunc
	// loadDone is closed when the simulated load stopped moving.
	loadDone chan struct{}
	// lease holds UserKeyDir's demo files while this demo owns them;
	// Holder is the demo that owns them instead, and Stale the children an
	// earlier demo left running.
	lease   *lease
	Holder  *Instance
	Stale   []Child
	started time.Time
}

type mapFacts map[string]any

func (m mapFacts) Facts() map[string]any { return m }

// Start brings everything up; on error what was started is stopped again.
func Start(ctx context.Context, opts Options) (d *Demo, err error) {
	if opts.Nodes <= 0 {
		return nil, errors.New("demo needs at least one node (--nodes)")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Intervals == (Intervals{}) {
		opts.Intervals = DefaultIntervals()
	}
	// Nothing is written before every address is known to be free, so a
	// demo that cannot start leaves the running one's files alone.
	holder, previous := peek(opts.UserKeyDir)
	if err := opts.checkPorts(holder, previous); err != nil {
		return nil, err
	}
	d = &Demo{opts: opts, log: opts.Logger.With("component", "demo"), Specs: Fleet(opts.Nodes, opts.Zones), started: time.Now()}
	ctx, d.cancel = context.WithCancel(ctx)
	defer func() {
		if err != nil {
			d.Stop()
			d = nil
		}
	}()
	userKeyDir := opts.UserKeyDir
	if userKeyDir != "" {
		if d.lease, d.Holder, previous, err = claim(userKeyDir); err != nil {
			return d, err
		}
		if d.lease == nil {
			userKeyDir = "" // another demo owns the CLI's files
		} else {
			d.Stale = previous.running()
		}
	}
	if opts.Dir == "" {
		if d.tmpDir, err = os.MkdirTemp("", "pulse-demo-"); err != nil {
			return d, err
		}
		opts.Dir = d.tmpDir
		d.opts.Dir = d.tmpDir
	}
	ids := make([]string, len(d.Specs))
	for i, sp := range d.Specs {
		ids[i] = sp.Identity
	}
	if d.Identity, err = newIdentity(opts.Dir, userKeyDir, ids); err != nil {
		return d, err
	}
	if d.Broker, err = broker.Start(broker.Options{Host: opts.NATSHost, Port: opts.NATSPort, JetStreamDir: opts.Dir + "/jetstream",
		ConfigFile: d.Identity.ServerConfigFile, Logger: opts.Logger}); err != nil {
		return d, err
	}
	if err := d.record(); err != nil {
		return d, err
	}
	if err := d.ensureRegistry(ctx); err != nil {
		return d, err
	}
	if opts.ShopAddr != "" {
		if err := d.startShop(); err != nil {
			return d, err
		}
	}
	// The collector starts before the fleet so it creates its JetStream
	// streams before the first heartbeats are published; it is told
	// where Prometheus and Alertmanager will listen, for its overview.
	var prom, am string
	if opts.CollectorAddr != "" {
		if prom, err = FindBinary(opts.Prometheus, "prometheus"); err != nil {
			return d, err
		}
		if am, err = FindBinary(opts.Alertmanager, "prometheus-alertmanager", "alertmanager"); err != nil {
			return d, err
		}
		var promURL, amURL string
		if prom != "" {
			promURL = "http://" + cmp.Or(opts.PrometheusAddr, "127.0.0.1:9090")
		}
		if am != "" {
			amURL = "http://" + cmp.Or(opts.AlertmanagerAddr, "127.0.0.1:9093")
		}
		if err := d.startCollector(ctx, promURL, amURL); err != nil {
			return d, err
		}
	}
	if err := d.startFleet(ctx); err != nil {
		return d, err
	}
	if opts.CollectorAddr != "" {
		if prom != "" || am != "" {
			logf, err := os.Create(opts.Dir + "/stack.log")
			if err != nil {
				return d, err
			}
			d.Prometheus, d.Alertmanager, err = StartStack(ctx, StackOptions{
				Dir: opts.Dir, Prometheus: prom, Alertmanager: am, Log: logf,
				PrometheusAddr: cmp.Or(opts.PrometheusAddr, "127.0.0.1:9090"), AlertmanagerAddr: cmp.Or(opts.AlertmanagerAddr, "127.0.0.1:9093"),
				Collector: d.Collector.Addr(), AlertToken: d.alertToken,
			})
			if err != nil {
				return d, err
			}
		}
	}
	if d.lease != nil && d.ActionToken != "" {
		if err := d.lease.writeToken(d.ActionToken); err != nil {
			return d, err
		}
	}
	return d, d.record()
}

// record tells later demos which demo owns the CLI's files, where it runs
// and which processes it started.
func (d *Demo) record() error {
	if d.lease == nil {
		return nil
	}
	in := &Instance{PID: os.Getpid(), Started: d.started, NATS: d.NATSURL(), Dir: d.opts.Dir}
	if d.Collector != nil {
		in.Collector = "http://" + d.Collector.Addr() + "/"
	}
	for _, p := range []*Process{d.Prometheus, d.Alertmanager} {
		if p != nil {
			in.Children = append(in.Children, Child{Name: p.Name, PID: p.PID(), Addr: strings.TrimPrefix(p.URL, "http://")})
		}
	}
	return d.lease.record(in)
}

func (d *Demo) startShop() error {
	d.Shop = shop.New(shop.Options{FailureRate: d.opts.LoginFailureRate, Latency: d.opts.LoginLatency, Logger: d.opts.Logger})
	ln, err := net.Listen("tcp", d.opts.ShopAddr)
	if err != nil {
		return fmt.Errorf("demo shop address %s is not free (use --shop-listen): %w", d.opts.ShopAddr, err)
	}
	d.ShopURL = "http://" + ln.Addr().String()
	d.shopSrv = &http.Server{Handler: d.Shop.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = d.shopSrv.Serve(ln) }()
	return nil
}

func (d *Demo) startFleet(ctx context.Context) error {
	var login *probes.Probe
	if d.ShopURL != "" {
		p, err := probes.Parse("login.yaml", probes.LoginYAML)
		if err != nil {
			return err
		}
		login = p.WithVars(map[string]string{"base_url": d.ShopURL})
	}
	for _, spec := range d.Specs {
		node, err := newSimNode(spec, d.opts.ChangeDelay, filepath.Join(d.opts.Dir, "nodes", spec.Identity))
		if err != nil {
			return err
		}
		d.nodes = append(d.nodes, node)
		nc, err := bus.Connect(bus.Config{URLs: []string{d.Broker.ClientURL()}, Name: "pulse agent " + spec.Identity,
			Credentials: bus.Credentials{CredsFile: d.Identity.Nodes[spec.Identity]}}, d.opts.Logger)
		if err != nil {
			return err
		}
		jobs := node.jobs(d.opts.Intervals)
		if login != nil {
			probe := login
			if spec.Role == "web" {
				// A web node's probe logs in to its own instance of the
				// shop, which a bad release of the shop package breaks.
				probe = login.WithVars(map[string]string{"base_url": d.ShopURL + "/node/" + spec.Identity})
				node.changed = d.shopChanged(node)
			}
			jobs = append(jobs, nodeagent.ProbeJob(probe, d.opts.Intervals.Probe, d.opts.Intervals.Probe))
		}
		a, err := nodeagent.New(nodeagent.Options{
			Identity: spec.Identity, Collective: "pulse", Conn: nc,
			Facts: mapFacts(spec.Facts), Classes: spec.Classes, Agents: node.agents(),
			Jobs: jobs, RegisterInterval: d.opts.Intervals.Register, Logger: d.opts.Logger,
			Verify: d.Identity.Verifier.Verify, Authorize: d.Identity.Policy.Authorize, Open: d.Identity.Policy.Open,
			WatchPackages: watchPackages, PackageVersion: node.pkgAgent.Version,
		})
		if err != nil {
			nc.Close()
			return err
		}
		if err := a.Start(ctx); err != nil {
			return err
		}
		d.Agents = append(d.Agents, a)
	}
	d.loadDone = make(chan struct{})
	go func() {
		defer close(d.loadDone)
		runLoad(ctx, d.nodes, func(err error) { d.log.Warn("simulated load", "err", err) })
	}()
	return nil
}

// shopChanged breaks node's instance of the shop while it runs the bad
// release of the shop package, and mends it when it runs another.
func (d *Demo) shopChanged(node *simNode) func(pkg string) {
	return func(pkg string) {
		if pkg != "shop" || d.Shop == nil {
			return
		}
		st, err := node.packages.Status(context.Background(), "shop")
		if err == nil && st.Ensure == BadShopVersion {
			d.Shop.SetBroken(node.spec.Identity, "shop "+BadShopVersion+" cannot reach the session store")
			return
		}
		d.Shop.SetBroken(node.spec.Identity, "")
	}
}

func (d *Demo) startCollector(ctx context.Context, prometheusURL, alertmanagerURL string) error {
	rs, err := remediation.ParseRules("remediation.yaml", rules.RemediationYAML)
	if err != nil {
		return err
	}
	d.ActionToken, d.alertToken = token(), token()
	// The collector's own audit: actions and remediations it started.
	audit, err := os.OpenFile(filepath.Join(d.opts.Dir, "collector-audit.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	d.audit = audit
	d.Collector, err = app.New(app.Options{Audit: audit,
		NATS: bus.Config{URLs: []string{d.Broker.ClientURL()}, Name: "pulse collector",
			Credentials: bus.Credentials{CredsFile: d.Identity.Local.Collector}},
		Listen: d.opts.CollectorAddr, Rules: rs, ActionToken: d.ActionToken, AlertToken: d.alertToken,
		Identity:   d.Identity.Collector,
		Collector:  collector.Options{Collective: "pulse", Logger: d.opts.Logger},
		Prometheus: prometheusURL, Alertmanager: alertmanagerURL, HistoryStep: 5 * time.Second,
	})
	if err != nil {
		return err
	}
	d.stopCollector, err = d.Collector.Start(ctx)
	return err
}

// ensureRegistry makes the fleet registry bucket as the collector would
// (with its credentials), also when the demo runs without one, so clients
// discover the demo's nodes from the registry.
func (d *Demo) ensureRegistry(ctx context.Context) error {
	nc, err := bus.Dial(bus.Config{URLs: []string{d.Broker.ClientURL()}, Name: "pulse demo",
		Credentials: bus.Credentials{CredsFile: d.Identity.Local.Collector}})
	if err != nil {
		return fmt.Errorf("connect to the demo's broker to make the fleet registry: %w", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	_, err = registry.Ensure(ctx, js, "pulse", 1)
	return err
}

func token() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// NATSURL is where clients connect.
func (d *Demo) NATSURL() string { return d.Broker.ClientURL() }

// Node returns the simulated providers of one node, for tests and fault
// injection.
func (d *Demo) Node(identity string) (*simNode, bool) {
	for _, n := range d.nodes {
		if n.spec.Identity == identity {
			return n, true
		}
	}
	return nil, false
}

// Stop shuts everything down in reverse order.
func (d *Demo) Stop() {
	d.Prometheus.Stop()
	d.Alertmanager.Stop()
	if d.stopCollector != nil {
		if err := d.stopCollector(); err != nil {
			d.log.Warn("collector stopped with an error", "err", err)
		}
	}
	if d.audit != nil {
		d.audit.Close()
	}
	for _, a := range d.Agents {
		a.Stop()
	}
	if d.shopSrv != nil {
		_ = d.shopSrv.Close()
	}
	if d.cancel != nil {
		d.cancel()
	}
	if d.Broker != nil {
		d.Broker.Shutdown()
	}
	if d.loadDone != nil {
		<-d.loadDone
	}
	if d.tmpDir != "" {
		_ = os.RemoveAll(d.tmpDir)
	}
	if d.lease != nil {
		d.lease.release()
	}
}
