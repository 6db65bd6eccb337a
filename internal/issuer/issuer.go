// Package issuer makes and keeps pulse's bus identities with NATS's own
// decentralised authentication: an operator, a system account for the
// servers' own traffic, and one account for the collective whose scoped
// signing keys (one per role: node, user, collector) carry the permission
// template every identity of that role gets. Credentials are user JWTs in
// .creds files; revoking one writes the account JWT's revocation list,
// which a running cluster takes through its resolver.
//
// One key issues every node, with permissions on the subjects that carry
// its own name only, so adding a node needs no change on the broker or
// anywhere else. The issuer directory holds the private keys: keep it on the
// operator's machine, never on a node or a broker.
//
// It writes files and builds configuration; it never dials NATS (Push and
// PushAccount take a connection their caller made).
package issuer

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nkeys"

	"github.com/pulseops/pulse/internal/protocol"
)

// Files of an issuer directory. Public: the operator's and the accounts'
// JWTs and the record of what was issued. Secret (0600, in a 0700
// directory): the seeds and the system user's credentials.
const (
	operatorJWTFile = "operator.jwt"
	accountsDir     = "accounts"
	keysDir         = "keys"
	issuedDir       = "issued"
	// SystemCredsFile is the system account's user, which pushes account
	// updates (revocations) to a running cluster.
	SystemCredsFile = "sys.creds"
	systemName      = "SYS"
)

// Issuer is an opened issuer directory.
type Issuer struct {
	Dir        string
	Collective string

	operator, account, system nkeys.KeyPair
	roles                     map[Role]nkeys.KeyPair

	operatorJWT string
	systemJWT   string
	accountJWT  string
	accountPub  string
	systemPub   string
}

// ValidName reports whether name can name a bus identity. It becomes one
// token of the subjects the broker lets the identity use, so it may hold
// letters, digits, '-', '_' and '@' only: a dot would reach into another
// identity's subjects, a wildcard into everyone's, and '=' would let a
// collector's name collide with a user's caller token.
func ValidName(name string) error {
	if name == "" {
		return errors.New("name is empty")
	}
	if len(name) > 64 {
		return fmt.Errorf("name %q is longer than 64 characters", name)
	}
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '@':
		default:
			return fmt.Errorf("name %q may only hold letters, digits, '-', '_' and '@' (it becomes a NATS subject token)", name)
		}
	}
	if name[0] == '-' {
		return fmt.Errorf("name %q must not start with '-'", name)
	}
	return nil
}

// Exists reports whether dir already holds an issuer.
func Exists(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, operatorJWTFile))
	return err == nil
}

// Create makes a new issuer for collective in dir: operator, system
// account, the collective's account with a scoped signing key per role, and
// the system user's credentials. It refuses a directory that already holds
// one, so an issuer in use is never replaced by accident.
func Create(dir, collective string) (*Issuer, error) {
	if !protocol.ValidToken(collective) {
		return nil, fmt.Errorf("collective %q is not a valid subject token", collective)
	}
	if Exists(dir) {
		return nil, fmt.Errorf("%s already holds an issuer (%s): refusing to replace it; use it, or pick another --dir", dir, operatorJWTFile)
	}
	is := &Issuer{Dir: dir, Collective: collective, roles: map[Role]nkeys.KeyPair{}}
	var err error
	if is.operator, err = nkeys.CreateOperator(); err != nil {
		return nil, err
	}
	if is.system, err = nkeys.CreateAccount(); err != nil {
		return nil, err
	}
	if is.account, err = nkeys.CreateAccount(); err != nil {
		return nil, err
	}
	for _, r := range ScopedRoles {
		if is.roles[r], err = nkeys.CreateAccount(); err != nil {
			return nil, err
		}
	}
	is.systemPub, _ = is.system.PublicKey()
	is.accountPub, _ = is.account.PublicKey()
	opPub, _ := is.operator.PublicKey()

	oc := jwt.NewOperatorClaims(opPub)
	oc.Name = "pulse"
	oc.SystemAccount = is.systemPub
	if is.operatorJWT, err = oc.Encode(is.operator); err != nil {
		return nil, fmt.Errorf("sign operator: %w", err)
	}
	sc := jwt.NewAccountClaims(is.systemPub)
	sc.Name = systemName
	if is.systemJWT, err = sc.Encode(is.operator); err != nil {
		return nil, fmt.Errorf("sign system account: %w", err)
	}
	ac := jwt.NewAccountClaims(is.accountPub)
	ac.Name = collective
	// JetStream is off for an account unless its JWT enables it; the
	// collective's streams are bounded by their own limits (collector).
	ac.Limits.JetStreamLimits = jwt.JetStreamLimits{MemoryStorage: -1, DiskStorage: -1, Streams: -1, Consumer: -1, MaxAckPending: -1}
	for _, r := range ScopedRoles {
		perms, err := Permissions(collective, r)
		if err != nil {
			return nil, err
		}
		scope := jwt.NewUserScope()
		scope.Key, _ = is.roles[r].PublicKey()
		scope.Role = string(r)
		scope.Description = fmt.Sprintf("pulse %s identities of collective %s", r, collective)
		scope.Template.Permissions = perms
		ac.SigningKeys.AddScopedSigner(scope)
	}
	if err := is.signAccount(ac); err != nil {
		return nil, err
	}
	if err := is.save(); err != nil {
		return nil, err
	}
	// The system user pushes revocations to a running cluster.
	kp, err := nkeys.CreateUser()
	if err != nil {
		return nil, err
	}
	pub, _ := kp.PublicKey()
	uc := jwt.NewUserClaims(pub)
	uc.Name = "pulse-sys"
	uj, err := uc.Encode(is.system)
	if err != nil {
		return nil, fmt.Errorf("sign system user: %w", err)
	}
	seed, _ := kp.Seed()
	creds, err := jwt.FormatUserConfig(uj, seed)
	if err != nil {
		return nil, err
	}
	if err := writeFile(filepath.Join(dir, keysDir, SystemCredsFile), creds, 0o600); err != nil {
		return nil, err
	}
	return is, nil
}

func (is *Issuer) signAccount(ac *jwt.AccountClaims) error {
	var err error
	if is.accountJWT, err = ac.Encode(is.operator); err != nil {
		return fmt.Errorf("sign account %s: %w", ac.Name, err)
	}
	return nil
}

// save writes every key and JWT of a new issuer.
func (is *Issuer) save() error {
	if err := os.MkdirAll(filepath.Join(is.Dir, keysDir), 0o700); err != nil {
		return fmt.Errorf("create issuer directory: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(is.Dir, accountsDir), 0o755); err != nil {
		return fmt.Errorf("create issuer directory: %w", err)
	}
	seeds := map[string]nkeys.KeyPair{"operator": is.operator, systemName: is.system, is.Collective: is.account}
	for r, kp := range is.roles {
		seeds["role-"+string(r)] = kp
	}
	for name, kp := range seeds {
		seed, err := kp.Seed()
		if err != nil {
			return err
		}
		if err := writeFile(filepath.Join(is.Dir, keysDir, name+".nk"), append(seed, '\n'), 0o600); err != nil {
			return err
		}
	}
	if err := writeFile(filepath.Join(is.Dir, accountsDir, systemName+".jwt"), []byte(is.systemJWT+"\n"), 0o644); err != nil {
		return err
	}
	if err := is.writeAccount(); err != nil {
		return err
	}
	// The operator JWT goes last: its presence is what Exists looks for.
	return writeFile(filepath.Join(is.Dir, operatorJWTFile), []byte(is.operatorJWT+"\n"), 0o644)
}

func (is *Issuer) writeAccount() error {
	return replaceFile(filepath.Join(is.Dir, accountsDir, is.Collective+".jwt"), []byte(is.accountJWT+"\n"), 0o644)
}

// Open reads the issuer in dir. A seed file that group or others can read
// is refused: it would let anyone on the host issue identities.
func Open(dir string) (*Issuer, error) {
	b, err := os.ReadFile(filepath.Join(dir, operatorJWTFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no issuer in %s (no %s): create one with `pulse keys issuer --issuer %s`", dir, operatorJWTFile, dir)
	}
	if err != nil {
		return nil, fmt.Errorf("read issuer: %w", err)
	}
	is := &Issuer{Dir: dir, roles: map[Role]nkeys.KeyPair{}, operatorJWT: strings.TrimSpace(string(b))}
	oc, err := jwt.DecodeOperatorClaims(is.operatorJWT)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, operatorJWTFile), err)
	}
	is.systemPub = oc.SystemAccount
	if is.operator, err = readSeed(filepath.Join(dir, keysDir, "operator.nk")); err != nil {
		return nil, err
	}
	if is.system, err = readSeed(filepath.Join(dir, keysDir, systemName+".nk")); err != nil {
		return nil, err
	}
	if b, err = os.ReadFile(filepath.Join(dir, accountsDir, systemName+".jwt")); err != nil {
		return nil, fmt.Errorf("read issuer: %w", err)
	}
	is.systemJWT = strings.TrimSpace(string(b))
	// The collective's account is the one account that is not the system's.
	ents, err := os.ReadDir(filepath.Join(dir, accountsDir))
	if err != nil {
		return nil, fmt.Errorf("read issuer: %w", err)
	}
	for _, e := range ents {
		if name, ok := strings.CutSuffix(e.Name(), ".jwt"); ok && name != systemName {
			is.Collective = name
		}
	}
	if is.Collective == "" {
		return nil, fmt.Errorf("issuer %s has no collective account in %s", dir, accountsDir)
	}
	ac, err := is.Account()
	if err != nil {
		return nil, err
	}
	is.accountPub = ac.Subject
	if is.account, err = readSeed(filepath.Join(dir, keysDir, is.Collective+".nk")); err != nil {
		return nil, err
	}
	for _, r := range ScopedRoles {
		if is.roles[r], err = readSeed(filepath.Join(dir, keysDir, "role-"+string(r)+".nk")); err != nil {
			return nil, err
		}
	}
	return is, nil
}

// Account reads the collective's account JWT as it is on disk now.
func (is *Issuer) Account() (*jwt.AccountClaims, error) {
	path := filepath.Join(is.Dir, accountsDir, is.Collective+".jwt")
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read account: %w", err)
	}
	is.accountJWT = strings.TrimSpace(string(b))
	ac, err := jwt.DecodeAccountClaims(is.accountJWT)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return ac, nil
}

// AccountJWT is the collective's account JWT, revocations included.
func (is *Issuer) AccountJWT() string { return is.accountJWT }

// AccountKey is the collective account's public key.
func (is *Issuer) AccountKey() string { return is.accountPub }

// SystemCreds is the file of the system account's user.
func (is *Issuer) SystemCreds() string { return filepath.Join(is.Dir, keysDir, SystemCredsFile) }

// RoleKey is the public key of role's scoped signing key: what agents trust
// as the issuer of the callers whose requests they run.
func (is *Issuer) RoleKey(r Role) string {
	kp := is.roles[r]
	if kp == nil {
		return ""
	}
	pub, _ := kp.PublicKey()
	return pub
}

// IssueOptions are the choices of one credential.
type IssueOptions struct {
	// Groups go into the JWT as tags "group:<name>"; agents' policies
	// refer to them as group:<name>.
	Groups []string
	// Expires makes the credential invalid after this long (0: never).
	Expires time.Duration
}

// Creds is one issued credential.
type Creds struct {
	Role      Role
	Name      string
	PublicKey string
	JWT       string
	// File is the .creds file's content: the JWT and the seed.
	File []byte
}

// Issue makes a credential for name in role: a fresh user nkey and a JWT
// signed by the role's scoped signing key (by the account key itself for
// admin). The public JWT is recorded in the issuer directory, so Revoke
// finds it by name.
func (is *Issuer) Issue(role Role, name string, o IssueOptions) (*Creds, error) {
	if err := ValidName(name); err != nil {
		return nil, err
	}
	if o.Expires < 0 {
		return nil, errors.New("expiry must not be negative")
	}
	signer := is.account
	if role != RoleAdmin {
		signer = is.roles[role]
		if signer == nil {
			return nil, fmt.Errorf("role %q has no signing key in %s", role, is.Dir)
		}
	}
	var tags []string
	for _, g := range o.Groups {
		g = strings.ToLower(strings.TrimSpace(g))
		if err := ValidName(g); err != nil {
			return nil, fmt.Errorf("group: %w", err)
		}
		tags = append(tags, GroupTag+g)
	}
	kp, err := nkeys.CreateUser()
	if err != nil {
		return nil, err
	}
	pub, _ := kp.PublicKey()
	uc := jwt.NewUserClaims(pub)
	uc.Name = name
	uc.IssuerAccount = is.accountPub
	if role != RoleAdmin {
		// A scoped signing key's template gives the permissions; the JWT
		// itself must carry none.
		uc.SetScoped(true)
	}
	uc.Tags.Add(tags...)
	if o.Expires > 0 {
		uc.Expires = time.Now().Add(o.Expires).Unix()
	}
	token, err := uc.Encode(signer)
	if err != nil {
		return nil, fmt.Errorf("sign %s %s: %w", role, name, err)
	}
	seed, _ := kp.Seed()
	file, err := jwt.FormatUserConfig(token, seed)
	if err != nil {
		return nil, err
	}
	rec := filepath.Join(is.Dir, issuedDir, string(role), name, pub+".jwt")
	if err := os.MkdirAll(filepath.Dir(rec), 0o755); err != nil {
		return nil, fmt.Errorf("record issued credential: %w", err)
	}
	if err := writeFile(rec, []byte(token+"\n"), 0o644); err != nil {
		return nil, err
	}
	return &Creds{Role: role, Name: name, PublicKey: pub, JWT: token, File: file}, nil
}

// GroupTag prefixes the JWT tags that name a caller's policy groups.
const GroupTag = "group:"

// Record is one issued credential as the issuer directory remembers it.
type Record struct {
	Role      Role      `json:"role"`
	Name      string    `json:"name"`
	PublicKey string    `json:"public_key"`
	Issued    time.Time `json:"issued"`
	Expires   time.Time `json:"expires,omitzero"`
	Groups    []string  `json:"groups,omitempty"`
	Revoked   bool      `json:"revoked"`
}

// Issued lists what was issued, by role and name; with role or name empty,
// of every role or name.
func (is *Issuer) Issued(role Role, name string) ([]Record, error) {
	ac, err := is.Account()
	if err != nil {
		return nil, err
	}
	paths, err := filepath.Glob(filepath.Join(is.Dir, issuedDir, "*", "*", "*.jwt"))
	if err != nil {
		return nil, err
	}
	var out []Record
	for _, p := range paths {
		r := Role(filepath.Base(filepath.Dir(filepath.Dir(p))))
		n := filepath.Base(filepath.Dir(p))
		if role != "" && r != role || name != "" && n != name {
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		uc, err := jwt.DecodeUserClaims(strings.TrimSpace(string(b)))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		rec := Record{Role: r, Name: n, PublicKey: uc.Subject, Issued: time.Unix(uc.IssuedAt, 0).UTC(),
			Revoked: ac.Revocations.IsRevoked(uc.Subject, time.Unix(uc.IssuedAt, 0)), Groups: Groups(uc.Tags)}
		if uc.Expires > 0 {
			rec.Expires = time.Unix(uc.Expires, 0).UTC()
		}
		out = append(out, rec)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Role != b.Role {
			return a.Role < b.Role
		}
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		return a.Issued.Before(b.Issued)
	})
	return out, nil
}

// Groups are the policy groups among a JWT's tags.
func Groups(tags jwt.TagList) []string {
	var out []string
	for _, t := range tags {
		if g, ok := strings.CutPrefix(t, GroupTag); ok {
			out = append(out, g)
		}
	}
	return out
}

// Revoke revokes every credential issued to name in role (every role when
// role is empty) that is not revoked yet, by adding its public key to the
// account JWT's revocation list, and writes the account. It returns the
// keys it revoked. The broker refuses a revoked credential at once once it
// has the new account JWT: Push gives it to a running cluster.
func (is *Issuer) Revoke(role Role, name string) ([]Record, error) {
	recs, err := is.Issued(role, name)
	if err != nil {
		return nil, err
	}
	ac, err := is.Account()
	if err != nil {
		return nil, err
	}
	var done []Record
	now := time.Now()
	for _, r := range recs {
		if r.Revoked {
			continue
		}
		// A revocation covers JWTs issued at or before its time; a
		// credential issued again later under the same name is unaffected.
		ac.RevokeAt(r.PublicKey, now)
		r.Revoked = true
		done = append(done, r)
	}
	if len(done) == 0 {
		if len(recs) == 0 {
			return nil, fmt.Errorf("nothing was issued to %q%s in %s", name, roleSuffix(role), is.Dir)
		}
		return nil, fmt.Errorf("every credential of %q%s is revoked already", name, roleSuffix(role))
	}
	if err := is.signAccount(ac); err != nil {
		return nil, err
	}
	if err := is.writeAccount(); err != nil {
		return nil, err
	}
	return done, nil
}

// resign signs the account again, unchanged but for the time it was
// signed, so a server that has it takes it as new (see Push).
func (is *Issuer) resign() error {
	ac, err := is.Account()
	if err != nil {
		return err
	}
	if err := is.signAccount(ac); err != nil {
		return err
	}
	return is.writeAccount()
}

func roleSuffix(r Role) string {
	if r == "" {
		return ""
	}
	return " as " + string(r)
}

// TrustedIssuers are the keys agents believe requests from: the user and
// collector roles' scoped signing keys (never the node role's: a node's
// credential must not be able to send requests).
func (is *Issuer) TrustedIssuers() map[Role]string {
	return map[Role]string{RoleUser: is.RoleKey(RoleUser), RoleCollector: is.RoleKey(RoleCollector)}
}

func readSeed(path string) (nkeys.KeyPair, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("read issuer key: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("issuer key %s has mode %v: it must be readable by its owner only (chmod 600 %s)", path, st.Mode().Perm(), path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read issuer key: %w", err)
	}
	kp, err := nkeys.FromSeed([]byte(strings.TrimSpace(string(b))))
	if err != nil {
		return nil, fmt.Errorf("issuer key %s: %w", path, err)
	}
	return kp, nil
}

// writeFile creates path with mode, refusing to replace a file.
func writeFile(path string, b []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// replaceFile writes path whole or not at all, through a temporary file.
func replaceFile(path string, b []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	_ = os.Remove(tmp)
	if err := writeFile(tmp, b, mode); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// WriteCreds writes a .creds file with mode 0600, replacing an older one
// only when replace is set.
func WriteCreds(path string, c *Creds, replace bool) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("create credentials directory: %w", err)
	}
	if replace {
		return replaceFile(path, c.File, 0o600)
	}
	if err := writeFile(path, c.File, 0o600); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%s already exists: refusing to overwrite credentials (remove it, or revoke it first)", path)
		}
		return err
	}
	return nil
}
