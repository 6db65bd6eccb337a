package app

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.yaml.in/yaml/v4"

	"github.com/pulseops/pulse/collector"
	"github.com/pulseops/pulse/collector/remediation"
	"github.com/pulseops/pulse/internal/bus"
	"github.com/pulseops/pulse/internal/config"
	"github.com/pulseops/pulse/internal/security"
)

// Config is the collector's YAML file (`pulse collector --config`).
type Config struct {
	// NATS is how the collector reaches the bus: URLs, TLS, credentials
	// (the same block as the agent's; a plain list of URLs also works).
	NATS            bus.Config            `yaml:"nats"`
	Collective      string                `yaml:"collective"`
	Listen          string                `yaml:"listen"`
	Labels          []collector.LabelRule `yaml:"labels"`
	MaxLabelValues  int                   `yaml:"max_label_values"`
	MaxSeries       int                   `yaml:"max_series"`
	HeartbeatMisses int                   `yaml:"heartbeat_misses"`
	StaleIntervals  int                   `yaml:"stale_intervals"`
	MaxOutputBytes  int                   `yaml:"max_output_bytes"`
	Replicas        int                   `yaml:"replicas"`
	// StreamMaxAge and StreamMaxBytes bound each JetStream stream (24h, 1 GiB).
	StreamMaxAge   time.Duration `yaml:"stream_max_age"`
	StreamMaxBytes int64         `yaml:"stream_max_bytes"`
	// ChangesMaxAge and ChangesMaxMsgs bound the stream of change events
	// (30 days, 100000 events).
	ChangesMaxAge  time.Duration `yaml:"changes_max_age"`
	ChangesMaxMsgs int           `yaml:"changes_max_msgs"`
	// Skew is how far ahead a node's clock may run (5s).
	Skew time.Duration `yaml:"skew"`
	// RemediationRules is a rules file such as rules/remediation.yaml.
	RemediationRules string `yaml:"remediation_rules"`
	// ActionTokenFile and AlertTokenFile hold the bearer tokens for humans
	// (actions, remediations) and for Alertmanager (alerts).
	ActionTokenFile string `yaml:"action_token_file"`
	AlertTokenFile  string `yaml:"alert_token_file"`
	AuditLog        string `yaml:"audit_log"`
	// WebConfigFile is a Prometheus exporter-toolkit web configuration
	// file: its tls_server_config serves HTTPS (client certificates too),
	// re-read on every new connection so certificates renew without a
	// restart. Authentication stays pulse's bearer tokens.
	WebConfigFile string `yaml:"web_config_file"`
	// MaxConcurrentScrapes bounds /metrics requests served at once (4);
	// further ones get 503 at once instead of piling up.
	MaxConcurrentScrapes int `yaml:"max_concurrent_scrapes"`
	// KeyFile is an ed25519 key that signs the collector's requests for
	// fleets whose agents list trusted keys; with nats.creds_file the
	// credentials sign them, and carry who issued them.
	KeyFile string `yaml:"key_file"`
	// NodeKeysFile is for brokers not trusted to say who published: it
	// pins each node's public key (identity: key), and heartbeats, results
	// and replies not signed by their node's key are refused. NodeKeysTOFU
	// pins unknown nodes on first use instead. Without either, the subject
	// a message arrived on names its node, which a broker that trusts
	// pulse's issuer lets only that node publish on.
	NodeKeysFile string `yaml:"node_keys_file"`
	NodeKeysTOFU bool   `yaml:"node_keys_tofu"`
	// WebOrigins are extra origins allowed to open the event websocket
	// (the collector's own address always is).
	WebOrigins []string `yaml:"web_origins"`
	// AlertmanagerURL and PrometheusURL are where the overview reads the
	// firing alerts (else what the webhook sent) and the SLOs; the PromQL
	// gates of rollouts the action API runs query PrometheusURL.
	AlertmanagerURL string `yaml:"alertmanager_url"`
	PrometheusURL   string `yaml:"prometheus_url"`
	// ChangeFailureWindow is how long after a deployment a check going
	// CRITICAL or an alert on its nodes counts as its failure (1h).
	ChangeFailureWindow time.Duration `yaml:"change_failure_window"`

	// path and doc locate keys for errors found after loading.
	path string
	doc  *yaml.Node
}

// Ref wraps an error about what a key refers to (a token file, a rules
// file, a key) with the config file, the key's line and the key.
func (c *Config) Ref(err error, key ...any) error {
	return config.Ref(c.path, c.doc, err, key...)
}

// LoadConfig reads a collector config; errors name the file and line.
func LoadConfig(path string) (*Config, error) {
	var c Config
	doc, err := config.LoadNode(path, &c)
	if err != nil {
		return nil, err
	}
	if len(c.NATS.URLs) == 0 {
		c.NATS.URLs = []string{bus.DefaultURL}
	}
	if err := c.NATS.Validate(); err != nil {
		return nil, config.At(path, config.Find(doc, "nats"), "%v", err)
	}
	if c.Listen == "" {
		c.Listen = "127.0.0.1:9780"
	}
	for key, u := range map[string]string{"alertmanager_url": c.AlertmanagerURL, "prometheus_url": c.PrometheusURL} {
		if err := checkURL(u); err != nil {
			return nil, config.At(path, config.Find(doc, key), "%s: %v", key, err)
		}
	}
	// Range checks name the YAML key, as the person who wrote it sees it.
	for _, o := range []struct {
		key      string
		v, def   int
		min, max int
	}{
		{"max_label_values", c.MaxLabelValues, 1000, 0, 0},
		{"max_series", c.MaxSeries, 500000, 0, 0},
		{"heartbeat_misses", c.HeartbeatMisses, 3, 0, 0},
		{"stale_intervals", c.StaleIntervals, 3, 0, 0},
		{"max_output_bytes", c.MaxOutputBytes, 4096, 0, 0},
		{"replicas", c.Replicas, 1, 0, 5},
		{"max_concurrent_scrapes", c.MaxConcurrentScrapes, collector.DefaultMaxConcurrentScrapes, 0, 0},
		{"changes_max_msgs", c.ChangesMaxMsgs, 100000, 0, 0},
	} {
		if o.v < o.min || (o.max > 0 && o.v > o.max) {
			msg := fmt.Sprintf("%s is %d: it must be positive, or 0 (or left out) for the default %d", o.key, o.v, o.def)
			if o.max > 0 {
				msg = fmt.Sprintf("%s is %d: it must be between 1 and %d, or 0 (or left out) for the default %d", o.key, o.v, o.max, o.def)
			}
			return nil, config.At(path, config.Find(doc, o.key), "%s", msg)
		}
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"changes_max_age", c.ChangesMaxAge}, {"change_failure_window", c.ChangeFailureWindow}} {
		if d.v < 0 {
			return nil, config.At(path, config.Find(doc, d.key), "%s is %s: it must be positive, or left out for the default", d.key, d.v)
		}
	}
	if c.WebConfigFile != "" {
		if !filepath.IsAbs(c.WebConfigFile) {
			c.WebConfigFile = filepath.Join(filepath.Dir(path), c.WebConfigFile)
		}
		if _, err := CheckWebConfig(c.WebConfigFile); err != nil {
			return nil, config.Ref(path, doc, err, "web_config_file")
		}
	}
	c.path, c.doc = path, doc
	return &c, nil
}

// Options turns the configuration into the app's Options, reading every
// file it names (tokens, rules, keys), so a missing or unsafe file is an
// error now, before anything connects. The audit log is the caller's to
// open.
func (c *Config) Options() (Options, error) {
	o := Options{
		NATS: c.NATS, Listen: c.Listen, WebConfigFile: c.WebConfigFile, WebOrigins: c.WebOrigins,
		Alertmanager: c.AlertmanagerURL, Prometheus: c.PrometheusURL, ChangeFailureWindow: c.ChangeFailureWindow,
		Collector: collector.Options{
			Collective: c.Collective, Labels: c.Labels, MaxLabelValues: c.MaxLabelValues,
			MaxSeries: c.MaxSeries, HeartbeatMisses: c.HeartbeatMisses, StaleIntervals: c.StaleIntervals,
			MaxOutputBytes: c.MaxOutputBytes, Replicas: c.Replicas, Skew: c.Skew,
			MaxConcurrentScrapes: c.MaxConcurrentScrapes,
			StreamMaxAge:         c.StreamMaxAge, StreamMaxBytes: c.StreamMaxBytes,
			ChangesMaxAge: c.ChangesMaxAge, ChangesMaxMsgs: c.ChangesMaxMsgs,
		},
	}
	var err error
	if o.ActionToken, err = ReadToken(c.ActionTokenFile); err != nil {
		return o, c.Ref(err, "action_token_file")
	}
	if o.AlertToken, err = ReadToken(c.AlertTokenFile); err != nil {
		return o, c.Ref(err, "alert_token_file")
	}
	if c.RemediationRules != "" {
		if o.Rules, err = remediation.LoadRules(c.RemediationRules); err != nil {
			return o, c.Ref(err, "remediation_rules")
		}
	}
	// The collector's requests are signed by its credentials' key and carry
	// their JWT; a key file is for fleets whose agents list trusted keys.
	switch {
	case c.KeyFile != "" && c.NATS.CredsFile != "":
		return o, c.Ref(errors.New("nats.creds_file is set too: the credentials sign the collector's requests; remove key_file"), "key_file")
	case c.NATS.CredsFile != "":
		if o.Identity, err = security.LoadCreds(c.NATS.CredsFile); err != nil {
			return o, c.Ref(err, "nats", "creds_file")
		}
	case c.KeyFile != "":
		if o.Identity, err = security.LoadIdentity(c.KeyFile); err != nil {
			return o, c.Ref(err, "key_file")
		}
	}
	if c.NodeKeysFile != "" || c.NodeKeysTOFU {
		var nk *security.NodeKeys
		if c.NodeKeysFile != "" {
			nk, err = security.LoadNodeKeys(c.NodeKeysFile, c.NodeKeysTOFU)
		} else {
			nk, err = security.NewNodeKeys(nil, true)
		}
		if err != nil {
			return o, c.Ref(err, "node_keys_file")
		}
		o.VerifyReply = nk.Verify
		o.Collector.Verify = nk.Verify
	}
	return o, nil
}

// ReadToken reads a bearer token file: its first line, trimmed. A token
// file must not be readable by others.
func ReadToken(path string) (string, error) {
	if path == "" {
		return "", nil
	}
	st, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("token file: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("token file %s is readable by others (mode %o); chmod 600 it", path, st.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("token file: %w", err)
	}
	tok, _, _ := strings.Cut(string(b), "\n")
	tok = strings.TrimSpace(tok)
	if tok == "" {
		return "", fmt.Errorf("token file %s is empty", path)
	}
	return tok, nil
}
