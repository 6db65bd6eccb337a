package security

import (
	"encoding/base64"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nkeys"

	"github.com/pulseops/pulse/internal/issuer"
	"github.com/pulseops/pulse/internal/protocol"
)

// Issuers are the signing keys whose callers an agent believes without
// knowing them one by one. A request that carries its caller's NATS user
// JWT (issued by `pulse keys issue user|collector`) runs when that JWT was
// signed by one of these keys for a role that sends requests, has not
// expired, was issued to the key that signed the request, and names the
// caller the request claims. So a new user needs no change on any node,
// and the caller's policy groups are the JWT's "group:" tags.
//
// A revoked credential cannot log in, and the broker lets no other login
// publish requests under its caller's name (internal/issuer), so agents
// need not learn revocations themselves.
type Issuers struct {
	roles map[string]issuer.Role // issuer public key -> role

	mu    sync.Mutex
	cache map[string]*vouched // verified JWTs, so a caller's JWT is checked once
}

// vouched is a verified user JWT: who it names and which key it vouches for.
type vouched struct {
	p       *Principal
	caller  string
	signer  string // the base64 ed25519 key, as envelopes carry it
	expires time.Time
}

// maxVouched bounds the cache of verified JWTs; only JWTs a trusted issuer
// signed enter it.
const maxVouched = 4096

// NewIssuers trusts the scoped signing keys of the user role (users) and
// the collector role (collectors).
func NewIssuers(users, collectors []string) (*Issuers, error) {
	is := &Issuers{roles: map[string]issuer.Role{}, cache: map[string]*vouched{}}
	for role, keys := range map[issuer.Role][]string{issuer.RoleUser: users, issuer.RoleCollector: collectors} {
		for _, k := range keys {
			if !nkeys.IsValidPublicAccountKey(k) {
				return nil, fmt.Errorf("issuer %q of %s credentials is not a public signing key (it starts with A; `pulse keys issuer` prints them)", abbreviate(k), role)
			}
			if r, dup := is.roles[k]; dup && r != role {
				return nil, fmt.Errorf("issuer %s is listed for both %s and %s credentials", abbreviate(k), r, role)
			}
			is.roles[k] = role
		}
	}
	if len(is.roles) == 0 {
		return nil, fmt.Errorf("no issuer keys: list the user and collector signing keys (`pulse keys issuer` prints them)")
	}
	return is, nil
}

// Identify checks a request that carries its caller's JWT, before its body
// is read, and returns the caller.
func (is *Issuers) Identify(env *protocol.Envelope) (*Principal, error) {
	v, err := is.vouch(env.JWT)
	if err != nil {
		return nil, fmt.Errorf("request %s from %q: %w", env.ID, env.From, err)
	}
	if !v.expires.IsZero() && !time.Now().Before(v.expires) {
		return nil, fmt.Errorf("request %s from %q carries credentials that expired at %s: %w", env.ID, env.From, v.expires.UTC().Format(time.RFC3339), ErrUntrustedKey)
	}
	if env.From != v.caller {
		return nil, fmt.Errorf("request %s claims caller %q but carries the credentials of %q: %w", env.ID, env.From, v.caller, ErrCallerMismatch)
	}
	if !env.Signed() {
		return nil, fmt.Errorf("request %s from %q carries credentials but no signature: %w", env.ID, env.From, protocol.ErrUnsigned)
	}
	if env.Signer != v.signer {
		return nil, fmt.Errorf("request %s from %q is signed by key %s, not by the key its credentials were issued to: %w", env.ID, env.From, protocol.Fingerprint(env.Signer), ErrCallerMismatch)
	}
	if err := env.Verify(); err != nil {
		return nil, fmt.Errorf("request %s from %q: %w", env.ID, env.From, err)
	}
	return v.p, nil
}

// vouch verifies a user JWT once and remembers it.
func (is *Issuers) vouch(token string) (*vouched, error) {
	is.mu.Lock()
	v := is.cache[token]
	is.mu.Unlock()
	if v != nil {
		return v, nil
	}
	uc, err := jwt.DecodeUserClaims(token) // verifies the issuer's signature
	if err != nil {
		return nil, fmt.Errorf("its credentials do not verify: %w", err)
	}
	role, ok := is.roles[uc.Issuer]
	if !ok {
		return nil, fmt.Errorf("its credentials were issued by %s, which this node does not trust for requests (security.issuers): %w", abbreviate(uc.Issuer), ErrUntrustedKey)
	}
	raw, err := nkeys.Decode(nkeys.PrefixByteUser, []byte(uc.Subject))
	if err != nil {
		return nil, fmt.Errorf("its credentials name no user key: %w", err)
	}
	if issuer.ValidName(uc.Name) != nil {
		return nil, fmt.Errorf("its credentials name %q, which cannot be a caller", uc.Name)
	}
	key := base64.StdEncoding.EncodeToString(raw)
	v = &vouched{
		p:      &Principal{Name: uc.Name, Key: key, Fingerprint: protocol.Fingerprint(key), Groups: issuer.Groups(uc.Tags)},
		caller: issuer.CallerToken(role, uc.Name),
		signer: key,
	}
	if uc.Expires > 0 {
		v.expires = time.Unix(uc.Expires, 0)
	}
	is.mu.Lock()
	if len(is.cache) >= maxVouched {
		clear(is.cache)
	}
	is.cache[token] = v
	is.mu.Unlock()
	return v, nil
}
