//go:build !agentonly

package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/spf13/cobra"

	"github.com/pulseops/pulse/collector/api"
	"github.com/pulseops/pulse/internal/bus"
	"github.com/pulseops/pulse/internal/config"
	"github.com/pulseops/pulse/internal/filter"
	"github.com/pulseops/pulse/internal/issuer"
	"github.com/pulseops/pulse/internal/protocol"
	"github.com/pulseops/pulse/internal/rpc"
	"github.com/pulseops/pulse/internal/security"
)

// clientFlags are the flags every client command shares.
type clientFlags struct {
	natsURL          string
	collective       string
	configFile       string
	json             bool
	timeout          time.Duration
	discoveryTimeout time.Duration
	quiet            time.Duration
	nodesFile        string
	discovery        string
	collectorURL     string
	limit            rpc.Count
	one              bool
	filterFlags
	display    string
	batch      rpc.Count
	batchSleep time.Duration
	batchHalt  bool
	// Security: the signing key and the node keys replies are checked
	// against. NATS TLS and credentials are in bus.
	keyFile      string
	nodeKeysFile string
	bus          bus.Config
	// signed records whether connect found a key, for the hint finish
	// prints when nobody answered.
	signed, credsUsed bool
	keyName           string
	// noMatch is set when collector discovery found nodes, none of which
	// matches the filter.
	noMatch bool
	// nc, caller and signer are the connection connect opened and who it
	// speaks as, for commands that use JetStream beside requests.
	nc     *nats.Conn
	caller string
	signer *protocol.Signer
}

func addClientFlags(c *cobra.Command, f *clientFlags) {
	fs := c.Flags()
	fs.StringVar(&f.natsURL, "nats", "nats://127.0.0.1:4222", "NATS server URL(s), comma separated")
	fs.StringVar(&f.collective, "collective", "pulse", "collective (subject namespace) to talk to")
	fs.StringVar(&f.configFile, "config", defaultClientConfig(), "client config file (YAML of flag names to values)")
	fs.BoolVar(&f.json, "json", false, "print machine-readable JSON")
	secondsVar(fs, &f.timeout, "timeout", 5*time.Second, "how long to wait for replies")
	secondsVar(fs, &f.discoveryTimeout, "discovery-timeout", 2*time.Second, "longest broadcast discovery")
	fs.DurationVar(&f.quiet, "discovery-quiet", 300*time.Millisecond, "end discovery once no new node answered for this long")
	fs.StringVar(&f.nodesFile, "nodes", "", "file of node identities, one per line, to target instead of discovering")
	fs.StringVar(&f.discovery, "discovery", "registry", "how to find the targets: registry (the fleet registry in JetStream: ends when every expected node answered, names the silent ones; falls back to broadcast when there is none), broadcast (ask the bus: for NATS without JetStream) or collector (every node the collector knows)")
	fs.StringVar(&f.collectorURL, "collector", "http://127.0.0.1:9780", "collector URL for --discovery collector")
	fs.Var(&f.limit, "limit", "act on at most N or N% of the discovered nodes")
	fs.BoolVar(&f.one, "one", false, "act on one node only (same as --limit 1)")
	addFilterFlags(c, &f.filterFlags)
	fs.StringVar(&f.keyFile, "key", "", "ed25519 key that signs requests when no credentials are used (default: ~/.config/pulse/id.key)")
	fs.StringVar(&f.nodeKeysFile, "node-keys", "", "YAML list of node identities and keys; replies not signed by the node's key are dropped")
	addBusFlags(c, &f.bus)
}

// addBusFlags are the flags of internal/bus's Config, the same settings as
// the `nats:` block of the agent's and the collector's config; --nats
// fills its URLs.
func addBusFlags(c *cobra.Command, b *bus.Config) {
	fs := c.Flags()
	fs.StringVar(&b.CAFile, "tls-ca", "", "CA file that signs the NATS server certificate (turns on TLS)")
	fs.StringVar(&b.CertFile, "tls-cert", "", "client certificate for NATS")
	fs.StringVar(&b.KeyFile, "tls-key", "", "client certificate key for NATS")
	fs.StringVar(&b.User, "nats-user", "", "NATS user name")
	fs.StringVar(&b.Password, "nats-password", "", "NATS password (prefer PULSE_NATS_PASSWORD)")
	fs.StringVar(&b.NKeySeedFile, "nkey", "", "NATS nkey seed file")
	fs.StringVar(&b.CredsFile, "creds", "", "NATS .creds file from `pulse keys issue user NAME`: logs in and signs requests (default: ~/.config/pulse/id.creds, then the one pulse demo left)")
	fs.StringVar(&b.InboxPrefix, "inbox-prefix", "", "reply inbox prefix the broker permits this user (default for --nats-user: _INBOX_<user>)")
	fs.DurationVar(&b.ConnectTimeout, "connect-timeout", 3*time.Second, "how long to try to reach NATS")
}

func addBatchFlags(c *cobra.Command, f *clientFlags) {
	fs := c.Flags()
	fs.StringVar(&f.display, "display", "all", "which replies to print: ok, failed or all")
	fs.Var(&f.batch, "batch", "act on N or N% of the nodes at a time")
	secondsVar(fs, &f.batchSleep, "batch-sleep", time.Second, "pause between batches")
	fs.BoolVar(&f.batchHalt, "batch-halt-on-failure", false, "stop after a batch in which a node failed or did not answer")
}

func defaultClientConfig() string {
	if d, err := os.UserConfigDir(); err == nil {
		return filepath.Join(d, "pulse", "client.yaml")
	}
	return ""
}

// resolve applies env and config file values to flags the user left alone.
func (f *clientFlags) resolve(c *cobra.Command) error {
	file := map[string]string{}
	path := f.configFile
	if env := os.Getenv("PULSE_CONFIG"); env != "" && !c.Flags().Changed("config") {
		path = env
	}
	if path != "" {
		if _, err := os.Stat(path); err == nil {
			var raw map[string]any
			if err := config.Load(path, &raw); err != nil {
				return usageError{err}
			}
			for k, v := range raw {
				file[k] = fmt.Sprint(v)
			}
		} else if c.Flags().Changed("config") {
			return usage("config file %s: %v", path, err)
		}
	}
	if err := config.Resolve(c.Flags(), "PULSE", file); err != nil {
		return usageError{err}
	}
	if f.display != "" && f.display != "all" && f.display != "ok" && f.display != "failed" {
		return usage("--display must be ok, failed or all, not %q", f.display)
	}
	if f.one {
		f.limit = rpc.Nodes(1)
	}
	return nil
}

// filterFlags are the node filter flags of every command that selects
// nodes.
type filterFlags struct {
	with       []string
	facts      []string
	identities []string
	classes    []string
	agents     []string
	sel        string
}

func addFilterFlags(c *cobra.Command, f *filterFlags) {
	fs := c.Flags()
	fs.StringArrayVarP(&f.with, "with", "W", nil, `fact and class filter, e.g. "cluster=alfa role::web" (a term with an operator is a fact, a bare word a class)`)
	fs.StringArrayVarP(&f.facts, "with-fact", "F", nil, "fact filter: name=value, != < > <= >=, =~regex or =/regex/")
	fs.StringArrayVarP(&f.identities, "with-identity", "I", nil, "identity filter, exact or /regex/")
	fs.StringArrayVarP(&f.classes, "with-class", "C", nil, "class filter, exact or /regex/")
	fs.StringArrayVarP(&f.agents, "with-agent", "A", nil, "agent filter, exact or /regex/")
	fs.StringVarP(&f.sel, "select", "S", "", `compound filter, e.g. "role=web and not cluster=beta"`)
}

// spec builds the filter from the filter flags; a parse error exits 2.
func (f *filterFlags) spec() (filter.Spec, error) {
	s := filter.Spec{Fact: f.facts, Identity: f.identities, Class: f.classes, Agent: f.agents, Compound: f.sel}
	for _, w := range f.with {
		if err := s.AddWith(w); err != nil {
			return s, err
		}
	}
	if _, err := filter.Compile(s); err != nil {
		return s, err
	}
	return s, nil
}

// call builds an rpc.Call from the flags.
func (f *clientFlags) call(agent, action string, data any) (rpc.Call, error) {
	spec, err := f.spec()
	if err != nil {
		return rpc.Call{}, err
	}
	c := rpc.Call{
		Agent: agent, Action: action, Data: data, Filter: spec,
		Timeout: f.timeout, DiscoveryTimeout: f.discoveryTimeout, Quiet: f.quiet,
		Limit: f.limit, Batch: f.batch, BatchSleep: f.batchSleep, HaltOnFailure: f.batchHalt,
	}
	switch {
	case f.discovery == "collector" && f.nodesFile == "":
		nodes, err := (&api.Client{Base: f.collectorURL}).Discover(spec)
		if err != nil {
			return c, fmt.Errorf("--discovery collector: %w", err)
		}
		if nodes == nil {
			nodes = []string{}
		}
		if len(nodes) == 0 && !spec.Empty() {
			// Nothing matched: the collector's whole fleet says whether
			// that is the filter or an empty registry.
			all, err := (&api.Client{Base: f.collectorURL}).Discover(filter.Spec{})
			if err != nil {
				return c, fmt.Errorf("--discovery collector: %w", err)
			}
			f.noMatch = len(all) > 0
		}
		c.Nodes = nodes
	case f.discovery == "registry":
		c.Discovery = rpc.DiscoverRegistry
	case f.discovery != "broadcast" && f.discovery != "collector":
		return c, usage("--discovery must be registry, broadcast or collector, not %q", f.discovery)
	}
	if f.nodesFile != "" {
		nodes, err := readNodes(f.nodesFile)
		if err != nil {
			return c, usageError{err}
		}
		c.Nodes, c.NarrowNodes = nodes, true
	}
	return c, nil
}

// connect opens a client connection that fails fast with advice.
// With issued credentials (--creds, PULSE_CREDS, or found in the user's
// config directory: their own id.creds, then the demo's) it logs in with
// them and signs every request with their key, carrying their JWT so agents
// see who issued it. Without, it signs with the user's ed25519 key when one
// is found. It checks reply signatures against --node-keys when given.
func (f *clientFlags) connect() (*rpc.Client, func(), error) {
	opts := rpc.Options{Collective: f.collective, Caller: caller()}
	bc := f.bus
	if bc.Credentials.Empty() {
		bc.CredsFile = security.FindCreds()
	}
	if bc.CredsFile != "" {
		id, err := security.LoadCreds(bc.CredsFile)
		if err != nil {
			return nil, nil, usage("--creds: %v", err)
		}
		opts.Signer, opts.JWT, opts.Caller = id.Signer, id.JWT, issuer.CallerToken(issuer.RoleUser, id.Name)
		f.signed, f.keyName, f.credsUsed = true, id.Name, true
	} else {
		id, err := security.FindKey(f.keyFile)
		if err != nil {
			return nil, nil, usage("--key: %v", err)
		}
		if id != nil {
			opts.Signer, opts.Caller = id.Signer, "user="+id.Name
			f.signed, f.keyName = true, id.Name
		}
	}
	if f.nodeKeysFile != "" {
		nk, err := security.LoadNodeKeys(f.nodeKeysFile, false)
		if err != nil {
			return nil, nil, usageError{err}
		}
		opts.VerifyReply = nk.Verify
	}
	bc.URLs, bc.Name = strings.Split(f.natsURL, ","), "pulse client"
	if _, err := bc.Options(); err != nil {
		return nil, nil, usageError{err}
	}
	nc, err := bus.Dial(bc)
	if err != nil {
		if errors.Is(err, bus.ErrRefused) {
			return nil, nil, err
		}
		return nil, nil, fmt.Errorf("cannot reach NATS at %s: %w (is `pulse demo` or a NATS server running? set --nats or PULSE_NATS)", f.natsURL, err)
	}
	f.nc, f.caller, f.signer = nc, opts.Caller, opts.Signer
	return rpc.New(nc, opts), nc.Close, nil
}

// noMatchLine is what a command prints instead of waiting when nodes
// answered discovery but none matches the filter.
const noMatchLine = "No request sent, no node matches the filter"

// finish is the package-level finish plus a hint when nobody answered:
// agents that require signatures ignore unsigned or untrusted requests
// without a word, so silence is the only sign the user gets. A filter that
// matched no node is not silence, and gets no hint.
func (f *clientFlags) finish(w io.Writer, res *rpc.Result) error {
	if len(res.Replies) == 0 && !res.NoMatch {
		if !f.signed {
			fmt.Fprintf(w, "hint: no reply, and this request was not signed (no credentials in %v, no key in %v). Agents that require signatures ignore unsigned requests: ask your operator for credentials (`pulse keys issue user NAME`) and put them at ~/.config/pulse/%s, or pass --creds.\n",
				security.CredsCandidates(), security.KeyCandidates(f.keyFile), security.CredsFileName)
		} else if f.credsUsed {
			fmt.Fprintf(w, "hint: no reply. Check that the agents believe the issuer of %q's credentials (their security.issuers, `pulse keys issuer` prints it).\n", f.keyName)
		} else {
			fmt.Fprintf(w, "hint: no reply. If the agents require signatures, check that they trust the key of %q (`pulse keys show`).\n", f.keyName)
		}
	}
	return finish(res)
}

// caller is the caller of a request without credentials: the local user
// name, made a subject token (it names the subjects requests and replies
// travel on).
func caller() string {
	name := "unknown"
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = strings.Map(func(r rune) rune {
			if strings.ContainsRune(".*> \t\r\n", r) || r < ' ' {
				return '_'
			}
			return r
		}, u.Username)
	}
	return "user=" + name
}

func readNodes(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--nodes: %w", err)
	}
	var nodes []string
	for _, line := range splitLines(string(b)) {
		if line != "" && line[0] != '#' {
			nodes = append(nodes, line)
		}
	}
	if len(nodes) == 0 {
		return nil, fmt.Errorf("--nodes %s lists no nodes", path)
	}
	return nodes, nil
}

func splitLines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		out = append(out, strings.TrimSpace(l))
	}
	return out
}

// finish turns a result into the exit code: 1 when a node failed or stayed
// silent.
func finish(res *rpc.Result) error {
	if !res.OK() || len(res.Targets) == 0 && len(res.Replies) == 0 {
		return exitError{exitFailed}
	}
	return nil
}
