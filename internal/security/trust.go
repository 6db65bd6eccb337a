package security

import (
	"errors"
	"fmt"
	"strings"

	"github.com/pulseops/pulse/internal/config"
	"github.com/pulseops/pulse/internal/protocol"
)

// Entry is one key in a trusted-keys or node-keys file.
type Entry struct {
	Name   string   `yaml:"name"`
	Key    string   `yaml:"key"`
	Groups []string `yaml:"groups"`
}

// Principal is a trusted caller: a key, the name it speaks for and the
// groups policies refer to.
type Principal = protocol.Principal

// Trust is the set of keys whose requests an agent believes. It is
// immutable once built and safe for concurrent use.
type Trust struct {
	source string
	byKey  map[string]*Principal
	byName map[string]*Principal
}

// ErrUntrustedKey is wrapped by errors about keys not in the trust.
var ErrUntrustedKey = errors.New("key is not trusted")

// ErrCallerMismatch is wrapped when a signed request claims another caller.
var ErrCallerMismatch = errors.New("caller does not match the signing key")

// LoadTrust reads a trusted-keys file: a YAML list of {name, key, groups}.
// Errors name the file and line.
func LoadTrust(path string) (*Trust, error) {
	var entries []Entry
	doc, err := config.LoadNode(path, &entries)
	if err != nil {
		return nil, err
	}
	t := &Trust{source: path, byKey: map[string]*Principal{}, byName: map[string]*Principal{}}
	for i, e := range entries {
		if err := t.add(e); err != nil {
			return nil, config.At(path, config.Find(doc, i), "trusted key %d: %v", i+1, err)
		}
	}
	return t, nil
}

// NewTrust builds a trust from entries, for the demo and tests.
func NewTrust(entries ...Entry) (*Trust, error) {
	t := &Trust{source: "built-in trust", byKey: map[string]*Principal{}, byName: map[string]*Principal{}}
	for i, e := range entries {
		if err := t.add(e); err != nil {
			return nil, fmt.Errorf("trusted key %d: %w", i+1, err)
		}
	}
	return t, nil
}

func (t *Trust) add(e Entry) error {
	if err := ValidName(e.Name); err != nil {
		return err
	}
	key, err := ParsePublicKey(e.Key)
	if err != nil {
		return fmt.Errorf("%s: %w", e.Name, err)
	}
	for _, g := range e.Groups {
		if err := ValidName(g); err != nil {
			return fmt.Errorf("%s: group: %w", e.Name, err)
		}
	}
	if _, dup := t.byName[e.Name]; dup {
		return fmt.Errorf("name %q is listed twice", e.Name)
	}
	if p, dup := t.byKey[key]; dup {
		return fmt.Errorf("%s: key %s is already trusted as %q; one key speaks for one name", e.Name, protocol.Fingerprint(key), p.Name)
	}
	p := &Principal{Name: e.Name, Key: key, Fingerprint: protocol.Fingerprint(key), Groups: append([]string(nil), e.Groups...)}
	t.byKey[key] = p
	t.byName[e.Name] = p
	return nil
}

// ByKey returns the principal of a base64 public key, or nil.
func (t *Trust) ByKey(key string) *Principal {
	if t == nil {
		return nil
	}
	return t.byKey[key]
}

// CallerMatches reports whether a request's Caller field may be sent by the
// principal named name: the bare name, or "user=<name>" as the CLI writes it.
func CallerMatches(caller, name string) bool {
	return caller == name || caller == "user="+name
}

// Identify checks a request's envelope before its body is read: that it is
// signed, by a key in the trust, that the key speaks for the caller the
// request names (From), and that the signature matches the bytes received.
// It returns the signer.
func (t *Trust) Identify(env *protocol.Envelope) (*Principal, error) {
	if !env.Signed() {
		return nil, fmt.Errorf("request %s from %q is not signed and this node requires signatures: create a key with `pulse keys init` and have its public key added to %s: %w", env.ID, env.From, t.source, protocol.ErrUnsigned)
	}
	p := t.byKey[env.Signer]
	if p == nil {
		return nil, fmt.Errorf("request %s from %q is signed by key %s, which is not in %s: %w", env.ID, env.From, protocol.Fingerprint(env.Signer), t.source, ErrUntrustedKey)
	}
	if !CallerMatches(env.From, p.Name) {
		return nil, fmt.Errorf("request %s claims caller %q but is signed by the key of %q: %w", env.ID, env.From, p.Name, ErrCallerMismatch)
	}
	if err := env.Verify(); err != nil {
		return nil, fmt.Errorf("request %s signed by %s (key %s): %w", env.ID, p.Name, p.Fingerprint, err)
	}
	return p, nil
}

// Verifier is the check an agent runs on every request envelope before its
// body is read (nodeagent.Options.Verify). A request that carries its
// caller's user JWT is judged by Issuers; any other signed request by
// Trust. With Require every request must be signed; without it unsigned
// requests pass (for fleets that have not rolled out keys yet), but a
// request that carries a signature is still checked in full, so a bad or
// untrusted signature is never waved through.
type Verifier struct {
	Trust   *Trust
	Issuers *Issuers
	Require bool
}

// Verify returns the principal a request comes from (nil for an unsigned
// request that is let through).
func (v *Verifier) Verify(env *protocol.Envelope) (*Principal, error) {
	switch {
	case env.JWT != "":
		if v.Issuers == nil {
			return nil, fmt.Errorf("request %s from %q carries its caller's credentials but this node trusts no issuer (security.issuers): %w", env.ID, env.From, ErrUntrustedKey)
		}
		return v.Issuers.Identify(env)
	case !env.Signed() && !v.Require:
		return nil, nil
	case v.Trust == nil:
		if !env.Signed() {
			return nil, fmt.Errorf("request %s from %q is not signed and this node requires signatures: %w", env.ID, env.From, protocol.ErrUnsigned)
		}
		return nil, fmt.Errorf("request %s from %q is signed by key %s without credentials, and this node has no trusted keys file (security.trust_file): %w", env.ID, env.From, protocol.Fingerprint(env.Signer), ErrUntrustedKey)
	}
	return v.Trust.Identify(env)
}

// callerName is the name a request's caller goes by in policies: the
// trusted principal when it was signed, else the Caller field without the
// "user=" prefix.
func callerName(req *protocol.Request, p *Principal) string {
	if p != nil {
		return p.Name
	}
	return strings.TrimPrefix(req.Caller, "user=")
}
