// Package bus is the one way a pulse process reaches NATS: the agent, the
// collector, the CLI, the demo and the benchmark all connect through it, so
// URLs, the connection name, TLS, credentials, the reply-inbox prefix,
// reconnects and timeouts mean the same everywhere. Its Config is the
// `nats:` block of the agent's and the collector's configuration files and
// the CLI's connection flags.
//
// It only connects; it never subscribes, publishes or decides whom to
// believe (internal/security does that), and it never logs or returns a
// password or a seed.
package bus

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/pulseops/pulse/internal/ratelog"
)

// DefaultURL is where every pulse process looks for NATS when no URL is
// configured: the broker `pulse demo` and `pulse broker` start.
const DefaultURL = "nats://127.0.0.1:4222"

// Config is how a process reaches the bus. The same keys are the `nats:`
// block of the agent's and the collector's YAML; the CLI fills it from its
// flags.
type Config struct {
	// URLs of the NATS servers; the first reachable one is used and the
	// rest are failover. Empty means DefaultURL.
	URLs []string `yaml:"urls"`
	// Name is the connection name the server shows (`nats server report
	// connections`); each process sets a default of its own.
	Name string `yaml:"name"`
	TLS  `yaml:",inline"`
	// Credentials say who the process is to the broker.
	Credentials `yaml:",inline"`
	// InboxPrefix is the prefix of the inboxes the JetStream API answers
	// on. A broker that keeps each identity's inboxes private lets it
	// subscribe only below its own prefix, so with a user name or a creds
	// file set it defaults to InboxPrefix of that name.
	InboxPrefix string `yaml:"inbox_prefix"`
	// ConnectTimeout bounds one connection attempt (default 3s).
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
}

// TLS turns on TLS to the broker and presents a client certificate.
type TLS struct {
	// CAFile verifies the server's certificate; setting it turns TLS on.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are the client certificate, for servers that
	// require one; they go together.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// Credentials is the process's login: user and password, an nkey seed
// file, or a NATS .creds file (user JWT and seed) — at most one.
type Credentials struct {
	User         string `yaml:"user"`
	Password     string `yaml:"password"`
	NKeySeedFile string `yaml:"nkey_seed_file"`
	CredsFile    string `yaml:"creds_file"`
}

// Empty reports whether no login is configured.
func (c Credentials) Empty() bool { return c == Credentials{} }

// Validate checks that the credentials are one consistent login. It reads
// no file; Options does.
func (c Credentials) Validate() error {
	n := 0
	for _, s := range []string{c.User, c.NKeySeedFile, c.CredsFile} {
		if s != "" {
			n++
		}
	}
	if n > 1 {
		return errors.New("nats credentials: set one of user/password, nkey_seed_file or creds_file")
	}
	if c.Password != "" && c.User == "" {
		return errors.New("nats credentials: password is set without user")
	}
	return nil
}

// options turns the login into nats.go options, checking the files it
// names now, so a missing, loose or expired file is an error at start and
// not at the first reconnect. It returns the name the login goes by.
func (c Credentials) options() ([]nats.Option, string, error) {
	switch {
	case c.User != "":
		return []nats.Option{nats.UserInfo(c.User, c.Password)}, c.User, nil
	case c.NKeySeedFile != "":
		o, err := nats.NkeyOptionFromSeed(c.NKeySeedFile)
		if err != nil {
			return nil, "", fmt.Errorf("nats nkey seed %s: %w", c.NKeySeedFile, err)
		}
		return []nats.Option{o}, "", nil
	case c.CredsFile != "":
		info, err := ReadCreds(c.CredsFile)
		if err != nil {
			return nil, "", err
		}
		return []nats.Option{nats.UserCredentials(c.CredsFile)}, info.Name, nil
	}
	return nil, "", nil
}

// who names the login in an error: the creds file, the nkey or the user.
func (c Credentials) who() string {
	switch {
	case c.CredsFile != "":
		return "the credentials in " + c.CredsFile
	case c.NKeySeedFile != "":
		return "the nkey in " + c.NKeySeedFile
	case c.User != "":
		return "user " + c.User
	}
	return "an anonymous connection (no credentials set)"
}

// Empty reports whether no TLS is configured.
func (t TLS) Empty() bool { return t == TLS{} }

// Validate checks that the TLS settings go together. It reads no file.
func (t TLS) Validate() error {
	if (t.CertFile == "") != (t.KeyFile == "") {
		return errors.New("nats tls: cert_file and key_file go together")
	}
	return nil
}

// Secured reports whether any TLS or credentials are configured.
func (c Config) Secured() bool { return !c.TLS.Empty() || !c.Credentials.Empty() }

// Validate checks the configuration without reading any file.
func (c Config) Validate() error {
	if err := c.Credentials.Validate(); err != nil {
		return err
	}
	if err := c.TLS.Validate(); err != nil {
		return err
	}
	if c.ConnectTimeout < 0 {
		return errors.New("nats: connect_timeout must not be negative")
	}
	for _, u := range c.URLs {
		if strings.TrimSpace(u) == "" {
			return errors.New("nats: an empty URL in urls")
		}
	}
	return nil
}

// ResolvePaths makes the relative file names of c relative to dir, the
// directory of the config file that named them.
func (c *Config) ResolvePaths(dir string) {
	for _, p := range []*string{&c.CAFile, &c.CertFile, &c.KeyFile, &c.NKeySeedFile, &c.CredsFile} {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
}

// ServerURLs is the comma-separated URL list nats.Connect takes.
func (c Config) ServerURLs() string {
	if len(c.URLs) == 0 {
		return DefaultURL
	}
	return strings.Join(c.URLs, ",")
}

// Options turns c into nats.go connect options: name, TLS, login, inbox
// prefix and the connect timeout. Files are read now, so a missing
// certificate or seed is an error at start.
func (c Config) Options() ([]nats.Option, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	timeout := c.ConnectTimeout
	if timeout == 0 {
		timeout = 3 * time.Second
	}
	opts := []nats.Option{nats.Timeout(timeout)}
	if c.Name != "" {
		opts = append(opts, nats.Name(c.Name))
	}
	if !c.TLS.Empty() {
		cfg, err := ClientTLSConfig(c.CAFile, c.CertFile, c.KeyFile)
		if err != nil {
			return nil, err
		}
		opts = append(opts, nats.Secure(cfg))
	}
	login, name, err := c.Credentials.options()
	if err != nil {
		return nil, err
	}
	opts = append(opts, login...)
	inbox := c.InboxPrefix
	if inbox == "" && name != "" {
		inbox = InboxPrefix(name)
	}
	if inbox != "" {
		opts = append(opts, nats.CustomInboxPrefix(inbox))
	}
	return opts, nil
}

// Connect dials the bus as a daemon does: if no server answers yet it keeps
// trying in the background, and after a disconnect it reconnects forever
// with a jittered wait, so a fleet does not stampede a restarted broker.
// A server that answers and refuses the login is different: retrying
// cannot mend bad, unknown, revoked or expired credentials, so that is an
// error (wrapping ErrRefused) naming them and what to do. Connection
// changes and the broker's refusals (a publish or subscription its
// permissions forbid, with the subject) are logged, each at most once a
// minute. extra options come last and win.
func Connect(c Config, log *slog.Logger, extra ...nats.Option) (*nats.Conn, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	opts, err := c.Options()
	if err != nil {
		return nil, err
	}
	opts = append(opts,
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		nats.ReconnectJitter(time.Second, 2*time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("nats disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) { log.Info("nats reconnected", "url", nc.ConnectedUrl()) }),
		nats.ErrorHandler(refusals(log)),
	)
	opts = append(opts, extra...)
	// One attempt first, to tell a refused login from a broker that is not
	// up yet.
	nc, err := nats.Connect(c.ServerURLs(), opts...)
	if err == nil {
		return nc, nil
	}
	if refused(err) {
		return nil, c.refusedError(err)
	}
	nc, err = nats.Connect(c.ServerURLs(), append(opts, nats.RetryOnFailedConnect(true))...)
	if err != nil {
		return nil, fmt.Errorf("connect to NATS at %s: %w", c.ServerURLs(), err)
	}
	return nc, nil
}

// Dial connects as a command does: one attempt within the connect timeout,
// and an error right away when no server answers or the login is refused,
// so the user is told at once. The error wraps nats.go's, so callers can
// test for nats.ErrAuthorization and add advice of their own. The broker's
// refusals of a publish or subscription are logged through slog's default
// logger.
func Dial(c Config, extra ...nats.Option) (*nats.Conn, error) {
	opts, err := c.Options()
	if err != nil {
		return nil, err
	}
	opts = append(opts, nats.ErrorHandler(refusals(slog.Default())))
	nc, err := nats.Connect(c.ServerURLs(), append(opts, extra...)...)
	if err != nil && refused(err) {
		return nil, c.refusedError(err)
	}
	return nc, err
}

// refused reports whether err is a server refusing the login, as opposed
// to no server answering.
func refused(err error) bool {
	return errors.Is(err, nats.ErrAuthorization) || errors.Is(err, nats.ErrAuthExpired) ||
		errors.Is(err, nats.ErrAuthRevoked) || errors.Is(err, nats.ErrAccountAuthExpired)
}

func (c Config) refusedError(err error) error {
	advice := "check that the broker trusts their issuer (pulse keys server-config) and that they are not revoked or expired; issue new ones with `pulse keys issue`"
	if c.Credentials.Empty() {
		advice = "this broker requires a login: set creds_file (the --creds flag) to credentials from `pulse keys issue`"
	}
	return fmt.Errorf("NATS at %s refused %s: %w (%w): %s", c.ServerURLs(), c.Credentials.who(), ErrRefused, err, advice)
}

// refusals logs the errors the broker sends about a live connection, most
// of all a publish or subscription its permissions forbid: the process
// learns which subject it may not use, once a minute per subject, and
// nothing retries it.
func refusals(log *slog.Logger) nats.ErrHandler {
	rl := ratelog.New(log, time.Minute)
	return func(_ *nats.Conn, sub *nats.Subscription, err error) {
		if err == nil {
			return
		}
		msg := "the broker reported an error on this connection"
		if errors.Is(err, nats.ErrPermissionViolation) || strings.Contains(err.Error(), "ermissions violation") {
			msg = "the broker refused a publish or subscription: these credentials do not allow that subject"
		}
		args := []any{"err", err}
		if sub != nil {
			args = append(args, "subscription", sub.Subject)
		}
		rl.Log(slog.LevelError, err.Error(), msg, args...)
	}
}

// InboxPrefix is the reply-inbox prefix of a user: a broker with per-user
// permissions lets each user subscribe only below its own prefix, so one
// user cannot read the replies sent to another.
func InboxPrefix(user string) string {
	return "_INBOX_" + strings.NewReplacer(".", "_", "*", "_", ">", "_", " ", "_").Replace(user)
}
