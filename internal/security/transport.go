package security

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"

	"github.com/nats-io/nats.go"
)

// Transport is how a pulse process authenticates to NATS and checks the
// server: the `nats_auth` part of agent and client configuration.
type Transport struct {
	// CAFile verifies the server's certificate; setting it turns TLS on.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are the client certificate, for servers that
	// require one.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// User and Password, or NKeySeedFile, or CredsFile (a NATS .creds
	// file with JWT and seed): at most one.
	User         string `yaml:"user"`
	Password     string `yaml:"password"`
	NKeySeedFile string `yaml:"nkey_seed_file"`
	CredsFile    string `yaml:"creds_file"`
	// InboxPrefix overrides the reply-inbox prefix; clients and the
	// collector using broker permissions must set InboxPrefix(user).
	InboxPrefix string `yaml:"inbox_prefix"`
}

// Empty reports whether nothing is configured.
func (t Transport) Empty() bool { return t == Transport{} }

// NATSOptions turns t into nats.go connect options. Files are read now, so
// a missing certificate is an error at start, not at the first reconnect.
func (t Transport) NATSOptions() ([]nats.Option, error) {
	var opts []nats.Option
	n := 0
	for _, s := range []string{t.User, t.NKeySeedFile, t.CredsFile} {
		if s != "" {
			n++
		}
	}
	if n > 1 {
		return nil, errors.New("nats credentials: set one of user/password, nkey_seed_file or creds_file")
	}
	if t.Password != "" && t.User == "" {
		return nil, errors.New("nats credentials: password is set without user")
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		return nil, errors.New("nats tls: cert_file and key_file go together")
	}
	if t.CAFile != "" || t.CertFile != "" {
		cfg, err := ClientTLSConfig(t.CAFile, t.CertFile, t.KeyFile)
		if err != nil {
			return nil, err
		}
		opts = append(opts, nats.Secure(cfg))
	}
	switch {
	case t.User != "":
		opts = append(opts, nats.UserInfo(t.User, t.Password))
	case t.NKeySeedFile != "":
		o, err := nats.NkeyOptionFromSeed(t.NKeySeedFile)
		if err != nil {
			return nil, fmt.Errorf("nats nkey seed %s: %w", t.NKeySeedFile, err)
		}
		opts = append(opts, o)
	case t.CredsFile != "":
		if _, err := os.Stat(t.CredsFile); err != nil {
			return nil, fmt.Errorf("nats creds file: %w", err)
		}
		opts = append(opts, nats.UserCredentials(t.CredsFile))
	}
	if t.InboxPrefix != "" {
		opts = append(opts, nats.CustomInboxPrefix(t.InboxPrefix))
	}
	return opts, nil
}

// ClientTLSConfig trusts the CA in caFile (the system roots when empty) and
// presents the client certificate when certFile is set.
func ClientTLSConfig(caFile, certFile, keyFile string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pool, err := loadPool(caFile)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	if certFile != "" {
		c, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("nats tls client certificate %s / %s: %w", certFile, keyFile, err)
		}
		cfg.Certificates = []tls.Certificate{c}
	}
	return cfg, nil
}

// ServerTLSConfig is the broker's TLS: its certificate and, when
// clientCAFile is set, a requirement that every client presents a
// certificate signed by that CA.
func ServerTLSConfig(certFile, keyFile, clientCAFile string) (*tls.Config, error) {
	c, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("broker tls certificate %s / %s: %w", certFile, keyFile, err)
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{c}}
	if clientCAFile != "" {
		pool, err := loadPool(clientCAFile)
		if err != nil {
			return nil, err
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

func loadPool(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("CA file %s holds no PEM certificate", path)
	}
	return pool, nil
}
