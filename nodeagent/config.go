package nodeagent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/nats-io/nats.go"
	"go.yaml.in/yaml/v4"

	"github.com/pulseops/pulse/internal/bus"
	"github.com/pulseops/pulse/internal/config"
	"github.com/pulseops/pulse/internal/filter"
	"github.com/pulseops/pulse/internal/protocol"
	"github.com/pulseops/pulse/internal/security"
	"github.com/pulseops/pulse/nodeagent/actions"
	"github.com/pulseops/pulse/nodeagent/checks"
	"github.com/pulseops/pulse/nodeagent/facts"
	"github.com/pulseops/pulse/probes"
)

// Config is the agent's YAML configuration file (`pulse agent --config`).
// Unknown keys are errors.
type Config struct {
	// Identity defaults to the host name.
	Identity   string `yaml:"identity"`
	Collective string `yaml:"collective"`
	// NATS is how the agent reaches the bus: URLs, TLS, credentials (the
	// same block as the collector's; a plain list of URLs also works).
	NATS             bus.Config    `yaml:"nats"`
	RegisterInterval time.Duration `yaml:"register_interval"`
	Facts            FactsConfig   `yaml:"facts"`
	// ClassesFile is a Puppet classes.txt: one class per line.
	ClassesFile string `yaml:"classes_file"`
	// AuditLog is a file of JSON lines, one per request that reached an
	// action; "-" is standard error.
	AuditLog string         `yaml:"audit_log"`
	Package  ProviderConfig `yaml:"package"`
	Service  ProviderConfig `yaml:"service"`
	NRPE     NRPEConfig     `yaml:"nrpe"`
	URLTest  URLTestConfig  `yaml:"urltest"`
	Checks   []CheckConfig  `yaml:"checks"`
	Probes   []ProbeConfig  `yaml:"probes"`
	// WatchPackages are packages whose installed version the node reports
	// with every heartbeat (and right after it changes one), so metrics
	// and rollout gates can split by version: a short list, at most
	// MaxWatchPackages, such as the application the node runs.
	WatchPackages []string `yaml:"watch_packages"`
	// Security turns on signed requests, authorization and NATS
	// credentials. Without it the agent answers anyone on the bus.
	Security *SecurityConfig `yaml:"security"`

	// path and doc locate keys for errors about the files they name.
	path string
	doc  *yaml.Node
}

// SecurityConfig is the agent's `security:` block. Relative paths are taken
// from the config file's directory.
type SecurityConfig struct {
	// KeyFile is the node's own private key (`pulse keys init --name
	// <identity> --dir /etc/pulse`); replies, registrations and results are
	// signed with it.
	KeyFile string `yaml:"key_file"`
	// Issuers are the signing keys whose callers' requests are believed:
	// a request carrying its caller's credentials (issued by `pulse keys
	// issue user|collector`) runs when one of these issued them, so new
	// users need no change on any node. `pulse keys issuer` prints them.
	Issuers IssuersConfig `yaml:"issuers"`
	// TrustFile lists the keys whose requests are believed when they carry
	// no credentials (fleets on a broker pulse does not issue for).
	TrustFile string `yaml:"trust_file"`
	// PolicyFile is the authorization policy; without one every verified
	// caller may run every action.
	PolicyFile string `yaml:"policy_file"`
	// Skew is how far in the future a request may be dated (default 5s).
	Skew time.Duration `yaml:"skew"`
	// RequireSignatures refuses unsigned requests (default true).
	RequireSignatures *bool `yaml:"require_signatures"`
	// SignMessages signs replies, registrations and results with KeyFile
	// (default true when KeyFile is set). Turn it off where the broker's
	// subject permissions already say which node sent a message; they keep
	// their time, sequence and protocol version either way.
	SignMessages *bool `yaml:"sign_messages"`
	// NATS is where older configs put the connection's TLS and
	// credentials; it is still read, and merged into the top-level nats
	// block, which is the place for them now.
	NATS *bus.Config `yaml:"nats"`
}

// IssuersConfig lists the public signing keys of the roles that send
// requests.
type IssuersConfig struct {
	Users      []string `yaml:"users"`
	Collectors []string `yaml:"collectors"`
}

func (ic IssuersConfig) empty() bool { return len(ic.Users) == 0 && len(ic.Collectors) == 0 }

// requireSignatures applies the default.
func (s *SecurityConfig) requireSignatures() bool {
	return s.RequireSignatures == nil || *s.RequireSignatures
}

// FactsConfig selects the fact sources.
type FactsConfig struct {
	// Root of the filesystem system facts are read from (default /).
	Root            string        `yaml:"root"`
	Files           []string      `yaml:"files"`
	ExternalDir     string        `yaml:"external_dir"`
	ExternalTimeout time.Duration `yaml:"external_timeout"`
	EC2             *EC2Config    `yaml:"ec2"`
	// Interval between refreshes (default 5m).
	Interval time.Duration `yaml:"interval"`
}

// Sources are the fact sources of this block, in the order their facts
// override each other. `pulse facts --local` gathers the same.
func (fc FactsConfig) Sources(log *slog.Logger) []facts.Source {
	srcs := []facts.Source{facts.NewSystem(facts.SystemOptions{Root: fc.Root})}
	for _, f := range fc.Files {
		srcs = append(srcs, facts.NewFile(f))
	}
	if fc.ExternalDir != "" {
		srcs = append(srcs, facts.NewExternalDir(fc.ExternalDir, fc.ExternalTimeout, log))
	}
	if fc.EC2 != nil && fc.EC2.Enabled {
		srcs = append(srcs, facts.NewEC2(facts.EC2Options{BaseURL: fc.EC2.BaseURL, Timeout: fc.EC2.Timeout}))
	}
	return srcs
}

// EC2Config turns on instance metadata facts.
type EC2Config struct {
	Enabled bool          `yaml:"enabled"`
	BaseURL string        `yaml:"base_url"`
	Timeout time.Duration `yaml:"timeout"`
}

// ProviderConfig picks a provider: "auto" (default) or a name.
type ProviderConfig struct {
	Provider string `yaml:"provider"`
	// Disabled leaves the agent out entirely.
	Disabled bool `yaml:"disabled"`
}

// NRPEConfig configures nrpe commands.
type NRPEConfig struct {
	// Config is an existing nrpe.cfg whose commands are imported.
	Config         string              `yaml:"config"`
	PluginDir      string              `yaml:"plugin_dir"`
	AllowArguments bool                `yaml:"allow_arguments"`
	PreferBuiltin  bool                `yaml:"prefer_builtin"`
	Commands       map[string][]string `yaml:"commands"`
}

// URLTestConfig configures the urltest agent, which fetches a URL on
// request and reports its phase timings.
type URLTestConfig struct {
	Disabled bool `yaml:"disabled"`
	// AllowHosts, when set, are the only hosts a test may fetch (the URL's
	// and every redirect's): names, *.domain, addresses or networks.
	AllowHosts []string `yaml:"allow_hosts"`
	// Timeout is the longest one test may take (default 10s).
	Timeout time.Duration `yaml:"timeout"`
}

// CheckConfig schedules one nrpe command.
type CheckConfig struct {
	Name string `yaml:"name"`
	// Command names an nrpe command; it defaults to Name.
	Command  string        `yaml:"command"`
	Interval time.Duration `yaml:"interval"`
	Timeout  time.Duration `yaml:"timeout"`
	Splay    time.Duration `yaml:"splay"`
}

// command is the nrpe command the check runs.
func (ch CheckConfig) command() string {
	if ch.Command == "" {
		return ch.Name
	}
	return ch.Command
}

// ProbeConfig schedules one probe spec file.
type ProbeConfig struct {
	File     string            `yaml:"file"`
	Vars     map[string]string `yaml:"vars"`
	Interval time.Duration     `yaml:"interval"`
	Splay    time.Duration     `yaml:"splay"`
}

// LoadConfig reads and validates an agent config file; every error names
// the file and the line.
func LoadConfig(path string) (*Config, error) {
	var c Config
	doc, err := config.LoadNode(path, &c)
	if err != nil {
		return nil, err
	}
	if err := c.mergeSecurityNATS(); err != nil {
		return nil, config.At(path, config.Find(doc, "security", "nats"), "%v", err)
	}
	if len(c.NATS.URLs) == 0 {
		c.NATS.URLs = []string{bus.DefaultURL}
	}
	c.NATS.ResolvePaths(filepath.Dir(path))
	if err := c.NATS.Validate(); err != nil {
		return nil, config.At(path, config.Find(doc, "nats"), "%v", err)
	}
	// Issued credentials name the node: the broker lets them publish only
	// under that name, so it is the identity.
	if c.NATS.CredsFile != "" {
		info, err := bus.ReadCreds(c.NATS.CredsFile)
		if err != nil {
			return nil, config.At(path, config.Find(doc, "nats", "creds_file"), "%v", err)
		}
		switch {
		case c.Identity == "":
			c.Identity = info.Name
		case c.Identity != info.Name:
			return nil, config.At(path, config.Find(doc, "identity"), "identity %q is not the name its credentials %s were issued to (%q): the broker lets them publish only as %q; remove identity or issue credentials for %q",
				c.Identity, c.NATS.CredsFile, info.Name, info.Name, c.Identity)
		}
	}
	if c.Identity == "" {
		h, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("%s: no identity set and no host name: %w", path, err)
		}
		c.Identity = h
	}
	if !protocol.ValidToken(c.Identity) {
		return nil, config.At(path, config.Find(doc, "identity"), "identity %q cannot be a NATS subject token: no dots, spaces or wildcards", c.Identity)
	}
	seen := map[string]bool{}
	for i, ch := range c.Checks {
		if err := checks.ValidName(ch.Name); err != nil {
			return nil, config.At(path, config.Find(doc, "checks", i, "name"), "check name: %v", err)
		}
		if seen[ch.Name] {
			return nil, config.At(path, config.Find(doc, "checks", i, "name"), "check %q is defined twice", ch.Name)
		}
		seen[ch.Name] = true
		if ch.Interval < 0 || ch.Timeout < 0 || ch.Splay < 0 {
			return nil, config.At(path, config.Find(doc, "checks", i), "check %q: durations must not be negative", ch.Name)
		}
	}
	if sc := c.Security; sc != nil {
		rel := func(p *string) {
			if *p != "" && !filepath.IsAbs(*p) {
				*p = filepath.Join(filepath.Dir(path), *p)
			}
		}
		for _, p := range []*string{&sc.KeyFile, &sc.TrustFile, &sc.PolicyFile} {
			rel(p)
		}
		if sc.requireSignatures() && sc.TrustFile == "" && sc.Issuers.empty() {
			return nil, config.At(path, config.Find(doc, "security"), "security: require_signatures is on (the default) but neither issuers nor trust_file says whom to believe: set issuers (`pulse keys issuer` prints them), or trust_file, or require_signatures: false to accept unsigned requests")
		}
		if !sc.Issuers.empty() {
			if _, err := security.NewIssuers(sc.Issuers.Users, sc.Issuers.Collectors); err != nil {
				return nil, config.At(path, config.Find(doc, "security", "issuers"), "security.issuers: %v", err)
			}
		}
		if sc.Skew < 0 {
			return nil, config.At(path, config.Find(doc, "security", "skew"), "security: skew must not be negative")
		}
	}
	if len(c.WatchPackages) > MaxWatchPackages {
		return nil, config.At(path, config.Find(doc, "watch_packages"), "watch_packages lists %d packages; at most %d: every one is a series per node", len(c.WatchPackages), MaxWatchPackages)
	}
	if len(c.WatchPackages) > 0 && c.Package.Disabled {
		return nil, config.At(path, config.Find(doc, "watch_packages"), "watch_packages needs the package agent, which package.disabled turns off")
	}
	// The package manager's own name rules are checked when the agent is
	// built (actions' ValidateName); here only what any manager refuses.
	for i, w := range c.WatchPackages {
		if w == "" || slices.Contains(c.WatchPackages[:i], w) {
			return nil, config.At(path, config.Find(doc, "watch_packages", i), "watch_packages: %q is empty or listed twice", w)
		}
	}
	if err := actions.ParseAllowHosts(c.URLTest.AllowHosts); err != nil {
		return nil, config.At(path, config.Find(doc, "urltest", "allow_hosts"), "urltest.allow_hosts: %v", err)
	}
	if c.URLTest.Timeout < 0 {
		return nil, config.At(path, config.Find(doc, "urltest", "timeout"), "urltest.timeout must not be negative")
	}
	for i, p := range c.Probes {
		if p.File == "" {
			return nil, config.At(path, config.Find(doc, "probes", i), "probe needs a file")
		}
		if !filepath.IsAbs(p.File) {
			c.Probes[i].File = filepath.Join(filepath.Dir(path), p.File)
		}
	}
	c.path, c.doc = path, doc
	return &c, nil
}

// ref wraps an error about what a key refers to (an nrpe.cfg, a probe, a
// key file) with the config file, the key's line and the key.
func (c *Config) ref(err error, key ...any) error {
	return config.Ref(c.path, c.doc, err, key...)
}

// Build turns a config into agent Options: fact sources gathered once (and
// refreshed every facts.interval while the agent runs, through
// Options.Refresh), RPC agents with their providers, scheduled checks and
// probes, and the audit log opened. It fails on anything that would only
// fail later: a missing nrpe.cfg, an unknown provider, a check naming an
// unknown command, an invalid probe spec.
func (c *Config) Build(ctx context.Context, log *slog.Logger) (Options, error) {
	g := facts.NewGatherer(c.Facts.Sources(log), log)
	g.Gather(ctx)
	opts, err := c.options(g.Facts(), log)
	if err != nil {
		return Options{}, err
	}
	opts.Facts = g
	opts.Refresh = func(ctx context.Context) { g.Run(ctx, c.Facts.Interval) }
	switch c.AuditLog {
	case "":
	case "-":
		opts.Audit = NewAudit(os.Stderr)
	default:
		f, err := os.OpenFile(c.AuditLog, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		if err != nil {
			return Options{}, c.ref(err, "audit_log")
		}
		opts.Audit = NewAudit(f)
	}
	return opts, nil
}

// Check validates the config as Build would, without doing anything: only
// the system facts are read (to choose the "auto" providers); no external
// fact program runs, no instance metadata is asked for and no audit log is
// created. `pulse agent --config-check` uses it.
func (c *Config) Check(ctx context.Context, log *slog.Logger) (Options, error) {
	sys, _ := facts.NewSystem(facts.SystemOptions{Root: c.Facts.Root}).Gather(ctx)
	return c.options(sys, log)
}

// options builds everything of Options that reads files only; nodeFacts
// chooses the "auto" providers.
func (c *Config) options(nodeFacts map[string]any, log *slog.Logger) (Options, error) {
	var classes []string
	if c.ClassesFile != "" {
		cl, err := facts.LoadClasses(c.ClassesFile)
		if err != nil {
			return Options{}, c.ref(err, "classes_file")
		}
		classes = cl
	}
	runner := actions.NewExecRunner(actions.ExecRunnerOptions{}, log)
	var agents []actions.Agent
	var packageVersion func(context.Context, string) (string, error)
	if !c.Package.Disabled {
		name := c.Package.Provider
		if name == "" || name == "auto" {
			fam, _ := filter.Lookup(nodeFacts, "os.family")
			s, _ := fam.(string)
			name = actions.DetectPackageProvider(s)
		}
		p, err := actions.NewPackageProvider(name, runner)
		if err != nil {
			return Options{}, c.ref(err, "package", "provider")
		}
		pa := actions.NewPackageAgent(p, log)
		agents = append(agents, pa)
		for _, w := range c.WatchPackages {
			if err := p.ValidateName(w); err != nil {
				return Options{}, fmt.Errorf("watch_packages: %w", err)
			}
		}
		packageVersion = pa.Version
	}
	if !c.Service.Disabled {
		name := c.Service.Provider
		if name == "" || name == "auto" {
			name = actions.DetectServiceProvider(c.Facts.Root)
		}
		p, err := actions.NewServiceProvider(name, runner)
		if err != nil {
			return Options{}, c.ref(err, "service", "provider")
		}
		agents = append(agents, actions.NewServiceAgent(p, log))
	}
	cmds := map[string][]string{}
	allowArgs := c.NRPE.AllowArguments
	if c.NRPE.Config != "" {
		nc, err := checks.LoadNRPE(c.NRPE.Config)
		if err != nil {
			return Options{}, c.ref(err, "nrpe", "config")
		}
		for k, v := range nc.Commands {
			cmds[k] = v
		}
		allowArgs = allowArgs || nc.DontBlameNRPE
	}
	for k, v := range c.NRPE.Commands {
		cmds[k] = v
	}
	cr := checks.NewRunner(checks.RunnerOptions{
		PluginDir: c.NRPE.PluginDir, Root: c.Facts.Root, Commands: cmds,
		AllowArguments: allowArgs, PreferBuiltin: c.NRPE.PreferBuiltin, Log: log,
	})
	agents = append(agents, actions.NewNRPEAgent(cr, log))
	if !c.URLTest.Disabled {
		ut, err := actions.NewURLTestAgent(actions.URLTestOptions{AllowHosts: c.URLTest.AllowHosts, Timeout: c.URLTest.Timeout}, log)
		if err != nil {
			return Options{}, c.ref(err, "urltest")
		}
		agents = append(agents, ut)
	}
	var jobs []Job
	for i, ch := range c.Checks {
		cmd := ch.command()
		if _, ok := cmds[cmd]; !ok && cmd != "check_load" {
			return Options{}, config.At(c.path, config.Find(c.doc, "checks", i), "check %q runs nrpe command %q, which is not configured: add it under nrpe.commands or to the nrpe.cfg", ch.Name, cmd)
		}
		jobs = append(jobs, CheckJob(cr, ch))
	}
	for i, pc := range c.Probes {
		p, err := probes.Load(pc.File)
		if err != nil {
			return Options{}, c.ref(err, "probes", i, "file")
		}
		jobs = append(jobs, ProbeJob(p.WithVars(pc.Vars), pc.Interval, pc.Splay))
	}
	opts := Options{
		Identity: c.Identity, Collective: c.Collective, Classes: classes,
		Agents: agents, RegisterInterval: c.RegisterInterval, Jobs: jobs, Logger: log,
		WatchPackages: c.WatchPackages, PackageVersion: packageVersion,
	}
	if err := c.applySecurity(&opts, log); err != nil {
		return Options{}, err
	}
	return opts, nil
}

// applySecurity loads the node key, trusted keys and policy into opts.
func (c *Config) applySecurity(opts *Options, log *slog.Logger) error {
	sc := c.Security
	if sc == nil {
		if log != nil {
			log.Warn("no security block in the agent config: this agent runs requests from anyone who can publish on the bus", "component", "agent")
		}
		return nil
	}
	if sc.KeyFile != "" {
		id, err := security.LoadIdentity(sc.KeyFile)
		if err != nil {
			return c.ref(err, "security", "key_file")
		}
		if sc.SignMessages == nil || *sc.SignMessages {
			opts.Signer = id.Signer
		}
	}
	v := &security.Verifier{Require: sc.requireSignatures()}
	if sc.TrustFile != "" {
		t, err := security.LoadTrust(sc.TrustFile)
		if err != nil {
			return c.ref(err, "security", "trust_file")
		}
		v.Trust = t
	}
	if !sc.Issuers.empty() {
		is, err := security.NewIssuers(sc.Issuers.Users, sc.Issuers.Collectors)
		if err != nil {
			return fmt.Errorf("security.issuers: %w", err)
		}
		v.Issuers = is
	}
	opts.Verify = v.Verify
	if sc.PolicyFile != "" {
		// Callers issued credentials are not listed anywhere, so a policy
		// naming one is checked against the trusted keys only when there
		// are no issuers.
		trust := v.Trust
		if v.Issuers != nil {
			trust = nil
		}
		p, err := security.LoadPolicy(sc.PolicyFile, trust)
		if err != nil {
			return c.ref(err, "security", "policy_file")
		}
		opts.Authorize, opts.Open = p.Authorize, p.Open
	}
	opts.Skew = sc.Skew
	return nil
}

// mergeSecurityNATS moves the TLS and credentials of an older config's
// security.nats block into the top-level nats block. Both at once would
// leave a reader guessing which one counts, so that is an error.
func (c *Config) mergeSecurityNATS() error {
	if c.Security == nil || c.Security.NATS == nil {
		return nil
	}
	old := *c.Security.NATS
	c.Security.NATS = nil
	if len(old.URLs) > 0 || old.Name != "" || old.ConnectTimeout != 0 {
		return errors.New("security.nats holds only TLS, credentials and inbox_prefix: put urls, name and connect_timeout in the top-level nats block")
	}
	if c.NATS.Secured() || c.NATS.InboxPrefix != "" {
		return errors.New("NATS TLS and credentials are set both in security.nats and in the top-level nats block: keep the top-level block only")
	}
	c.NATS.TLS, c.NATS.Credentials, c.NATS.InboxPrefix = old.TLS, old.Credentials, old.InboxPrefix
	return nil
}

// Connect dials the config's NATS servers with its TLS and credentials.
func (c *Config) Connect(log *slog.Logger) (*nats.Conn, error) {
	bc := c.NATS
	if bc.Name == "" {
		bc.Name = "pulse agent " + c.Identity
	}
	return bus.Connect(bc, log)
}

// CheckJob schedules an nrpe command as a check; a check that cannot start
// is UNKNOWN with the reason as its output.
func CheckJob(r *checks.Runner, ch CheckConfig) Job {
	cmd := ch.command()
	return Job{
		Name: ch.Name, Kind: "check", Interval: ch.Interval, Timeout: ch.Timeout, Splay: ch.Splay,
		Run: func(ctx context.Context) Outcome {
			start := time.Now()
			o, err := r.Run(ctx, cmd, nil, ch.Timeout)
			if err != nil {
				return Outcome{Status: protocol.StateUnknown, Output: "UNKNOWN: " + err.Error(), Duration: time.Since(start)}
			}
			return Outcome{Status: o.Status, Output: o.Output, LongOutput: o.LongOutput, Perfdata: o.Perfdata, Duration: o.Duration}
		},
	}
}

// ProbeJob schedules a probe; a failed probe is CRITICAL with the failed
// step and reason as output.
func ProbeJob(p *probes.Probe, interval, splay time.Duration) Job {
	if interval <= 0 {
		interval = p.Interval
	}
	return Job{
		Name: p.Name, Kind: "probe", Interval: interval, Timeout: p.Timeout, Splay: splay,
		Run: func(ctx context.Context) Outcome {
			r := probes.Run(ctx, p)
			o := Outcome{Status: protocol.StateOK, Output: fmt.Sprintf("PROBE OK - %s in %.3fs", p.Name, r.Duration.Seconds()), Steps: r.Steps, Duration: r.Duration}
			if !r.Success {
				o.Status = protocol.StateCritical
				o.Output = fmt.Sprintf("PROBE CRITICAL - %s failed at step %s: %s", p.Name, r.FailedStep, r.Error)
			}
			return o
		},
	}
}
