package app

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

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
	// Skew is how far ahead a node's clock may run (5s).
	Skew time.Duration `yaml:"skew"`
	// RemediationRules is a rules file such as rules/remediation.yaml.
	RemediationRules string `yaml:"remediation_rules"`
	// ActionTokenFile and AlertTokenFile hold the bearer tokens for humans
	// (actions, remediations) and for Alertmanager (alerts).
	ActionTokenFile string `yaml:"action_token_file"`
	AlertTokenFile  string `yaml:"alert_token_file"`
	AuditLog        string `yaml:"audit_log"`
	// TLSCertFile and TLSKeyFile serve the API over HTTPS.
	TLSCertFile string `yaml:"tls_cert_file"`
	TLSKeyFile  string `yaml:"tls_key_file"`
	// KeyFile is the collector's own key: it signs the requests the
	// collector sends (actions, remediations, verifications).
	KeyFile string `yaml:"key_file"`
	// NodeKeysFile pins each node's public key (identity: key); with it,
	// heartbeats, results and replies not signed by their node's key are
	// refused. NodeKeysTOFU pins unknown nodes on first use instead.
	NodeKeysFile string `yaml:"node_keys_file"`
	NodeKeysTOFU bool   `yaml:"node_keys_tofu"`
	// WebOrigins are extra origins allowed to open the event websocket
	// (the collector's own address always is).
	WebOrigins []string `yaml:"web_origins"`
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
	return &c, nil
}

// Options turns the configuration into the app's Options, reading every
// file it names (tokens, rules, keys), so a missing or unsafe file is an
// error now, before anything connects. The audit log is the caller's to
// open.
func (c *Config) Options() (Options, error) {
	o := Options{
		NATS: c.NATS, Listen: c.Listen, TLSCertFile: c.TLSCertFile, TLSKeyFile: c.TLSKeyFile, WebOrigins: c.WebOrigins,
		Collector: collector.Options{
			Collective: c.Collective, Labels: c.Labels, MaxLabelValues: c.MaxLabelValues,
			MaxSeries: c.MaxSeries, HeartbeatMisses: c.HeartbeatMisses, StaleIntervals: c.StaleIntervals,
			MaxOutputBytes: c.MaxOutputBytes, Replicas: c.Replicas, Skew: c.Skew,
		},
	}
	var err error
	if o.ActionToken, err = ReadToken(c.ActionTokenFile); err != nil {
		return o, err
	}
	if o.AlertToken, err = ReadToken(c.AlertTokenFile); err != nil {
		return o, err
	}
	if c.RemediationRules != "" {
		if o.Rules, err = remediation.LoadRules(c.RemediationRules); err != nil {
			return o, err
		}
	}
	// The collector's requests are signed by its credentials' key and carry
	// their JWT; a key file is for fleets whose agents list trusted keys.
	switch {
	case c.KeyFile != "" && c.NATS.CredsFile != "":
		return o, errors.New("key_file and nats.creds_file are both set: the credentials sign the collector's requests; remove key_file")
	case c.NATS.CredsFile != "":
		if o.Identity, err = security.LoadCreds(c.NATS.CredsFile); err != nil {
			return o, err
		}
	case c.KeyFile != "":
		if o.Identity, err = security.LoadIdentity(c.KeyFile); err != nil {
			return o, err
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
			return o, err
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
