package bus

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/nats-io/jwt/v2"
)

// CredsInfo is what a .creds file says about the identity it logs in as;
// never its seed.
type CredsInfo struct {
	Path string
	// Name is the identity's name (the user JWT's name): a node's identity,
	// a person's user name, the collector's name.
	Name string
	// JWT is the user JWT, public.
	JWT     string
	Issuer  string
	Account string
	Expires time.Time
	Tags    []string
}

// ReadCreds reads and judges a .creds file the way every pulse process
// does before it logs in with it: it must be readable by its owner only,
// hold a user JWT and a user seed, and not have expired. Errors name the
// file and what to do.
func ReadCreds(path string) (*CredsInfo, error) {
	return readCreds(path, time.Now())
}

func readCreds(path string, now time.Time) (*CredsInfo, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("nats creds file: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("nats creds file %s has mode %v: it holds a secret seed and must be readable by its owner only (chmod 600 %s)", path, st.Mode().Perm(), path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("nats creds file: %w", err)
	}
	token, err := jwt.ParseDecoratedJWT(b)
	if err != nil {
		return nil, fmt.Errorf("nats creds file %s: %w", path, err)
	}
	uc, err := jwt.DecodeUserClaims(token)
	if err != nil {
		return nil, fmt.Errorf("nats creds file %s holds no valid user JWT (%w): issue credentials with `pulse keys issue`", path, err)
	}
	kp, err := jwt.ParseDecoratedUserNKey(b)
	if err != nil {
		return nil, fmt.Errorf("nats creds file %s holds no user seed: %w", path, err)
	}
	if pub, err := kp.PublicKey(); err != nil || pub != uc.Subject {
		return nil, fmt.Errorf("nats creds file %s: its seed is not the key its JWT was issued to", path)
	}
	info := &CredsInfo{Path: path, Name: uc.Name, JWT: token, Issuer: uc.Issuer, Account: uc.IssuerAccount, Tags: uc.Tags}
	if info.Account == "" {
		info.Account = uc.Issuer
	}
	if uc.Expires > 0 {
		info.Expires = time.Unix(uc.Expires, 0)
		if !now.Before(info.Expires) {
			return nil, fmt.Errorf("nats creds file %s expired at %s: issue new credentials for %q (`pulse keys issue`) and put them in its place", path, info.Expires.UTC().Format(time.RFC3339), uc.Name)
		}
	}
	if uc.NotBefore > 0 && now.Before(time.Unix(uc.NotBefore, 0)) {
		return nil, fmt.Errorf("nats creds file %s is not valid before %s: check this machine's clock", path, time.Unix(uc.NotBefore, 0).UTC().Format(time.RFC3339))
	}
	return info, nil
}

// ErrRefused is wrapped by the error of a daemon whose login the broker
// refused at start: bad, revoked or unknown credentials, which retrying
// would not mend.
var ErrRefused = errors.New("the broker refused the login")
