package security

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nkeys"

	"github.com/pulseops/pulse/internal/bus"
	"github.com/pulseops/pulse/internal/protocol"
)

// Key files: the private key is a PEM "PRIVATE KEY" block (PKCS#8, as
// `openssl pkey` reads it) carrying the identity's name in a "Pulse-Name"
// header, written with mode 0600; the public key file holds one line, the
// base64 ed25519 public key as it appears on the wire and in trusted-keys
// files, followed by the name.
const (
	// KeyFileName and PubFileName are the names `pulse keys init` writes in
	// its directory.
	KeyFileName = "id.key"
	PubFileName = "id.pub"
	nameHeader  = "Pulse-Name"
	pemType     = "PRIVATE KEY"
)

// Identity is a loaded private key and the name it speaks for.
type Identity struct {
	Name   string
	Signer *protocol.Signer
	// Path is the file the key was read from ("" when generated in memory).
	Path string
	// JWT is the user JWT of an identity read from a .creds file: it goes
	// with every request, so agents see who issued the key (Issuers).
	JWT  string
	priv ed25519.PrivateKey
}

// LoadCreds reads a NATS .creds file (`pulse keys issue`) as the identity
// that signs requests: its user nkey, an ed25519 key, signs them, and its
// JWT goes with them. The file is judged as every process judges it before
// logging in (bus.ReadCreds): owner-only, whole, not expired.
func LoadCreds(path string) (*Identity, error) {
	info, err := bus.ReadCreds(path)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("nats creds file: %w", err)
	}
	kp, err := jwt.ParseDecoratedUserNKey(b)
	if err != nil {
		return nil, fmt.Errorf("nats creds file %s: %w", path, err)
	}
	seed, err := kp.Seed()
	if err != nil {
		return nil, fmt.Errorf("nats creds file %s: %w", path, err)
	}
	_, raw, err := nkeys.DecodeSeed(seed)
	if err != nil || len(raw) != ed25519.SeedSize {
		return nil, fmt.Errorf("nats creds file %s: its seed is not an ed25519 seed", path)
	}
	priv := ed25519.NewKeyFromSeed(raw)
	return &Identity{Name: info.Name, Signer: protocol.NewSigner(priv), Path: path, JWT: info.JWT, priv: priv}, nil
}

// PublicKey is the base64 public key.
func (id *Identity) PublicKey() string { return id.Signer.PublicKey() }

// Fingerprint is the short name of the public key used in audit logs.
func (id *Identity) Fingerprint() string { return protocol.Fingerprint(id.Signer.PublicKey()) }

// ValidName reports whether name can name a key: it becomes a caller name in
// audit logs and policies, so it is kept to letters, digits, '-', '_', '.'
// and '@'.
func ValidName(name string) error {
	if name == "" {
		return errors.New("name is empty")
	}
	if len(name) > 64 {
		return fmt.Errorf("name %q is longer than 64 characters", name)
	}
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.', r == '@':
		default:
			return fmt.Errorf("name %q may only hold letters, digits, '-', '_', '.' and '@'", name)
		}
	}
	if name[0] == '-' || name[0] == '.' {
		return fmt.Errorf("name %q must not start with '-' or '.'", name)
	}
	return nil
}

// GenerateIdentity makes a fresh key pair for name, in memory.
func GenerateIdentity(name string) (*Identity, error) {
	if err := ValidName(name); err != nil {
		return nil, fmt.Errorf("key name: %w", err)
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate ed25519 key: %w", err)
	}
	return &Identity{Name: name, Signer: protocol.NewSigner(priv), priv: priv}, nil
}

// CreateKeyFiles generates a key pair for name and writes it to keyPath
// (0600) and keyPath's public twin (PublicPath). It refuses to overwrite
// either file, so a key in use is never lost by a repeated `keys init`.
func CreateKeyFiles(keyPath, name string) (*Identity, error) {
	pubPath := PublicPath(keyPath)
	for _, p := range []string{keyPath, pubPath} {
		if _, err := os.Lstat(p); err == nil {
			return nil, fmt.Errorf("%s already exists: refusing to overwrite a key (remove it first if you really mean to replace it)", p)
		}
	}
	id, err := GenerateIdentity(name)
	if err != nil {
		return nil, err
	}
	if err := id.write(keyPath); err != nil {
		return nil, err
	}
	return id, nil
}

// PublicPath is the public key file that belongs to a private key file:
// "x.key" becomes "x.pub", anything else gets ".pub" appended.
func PublicPath(keyPath string) string {
	if s, ok := strings.CutSuffix(keyPath, ".key"); ok {
		return s + ".pub"
	}
	return keyPath + ".pub"
}

func (id *Identity) write(keyPath string) error {
	der, err := x509.MarshalPKCS8PrivateKey(id.priv)
	if err != nil {
		return fmt.Errorf("encode private key: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(keyPath), 0o700); err != nil {
		return fmt.Errorf("create key directory: %w", err)
	}
	block := pem.EncodeToMemory(&pem.Block{Type: pemType, Headers: map[string]string{nameHeader: id.Name}, Bytes: der})
	// O_EXCL closes the race between the existence check and the write.
	f, err := os.OpenFile(keyPath, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("create private key file: %w", err)
	}
	if _, err := f.Write(block); err != nil {
		f.Close()
		return fmt.Errorf("write private key file %s: %w", keyPath, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write private key file %s: %w", keyPath, err)
	}
	pub := id.PublicKey() + " " + id.Name + "\n"
	pf, err := os.OpenFile(PublicPath(keyPath), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("create public key file: %w", err)
	}
	if _, err := pf.WriteString(pub); err != nil {
		pf.Close()
		return fmt.Errorf("write public key file: %w", err)
	}
	id.Path = keyPath
	return pf.Close()
}

// LoadIdentity reads a private key file written by CreateKeyFiles. A key
// readable by group or others is refused: it would let anyone on the host
// act as this identity.
func LoadIdentity(path string) (*Identity, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("read private key: %w (create one with `pulse keys init`)", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("private key %s has mode %v: it must be readable by its owner only (chmod 600 %s)", path, st.Mode().Perm(), path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read private key: %w", err)
	}
	id, err := ParseIdentity(b)
	if err != nil {
		return nil, fmt.Errorf("private key %s: %w", path, err)
	}
	id.Path = path
	return id, nil
}

// ParseIdentity decodes the PEM form of a private key file.
func ParseIdentity(b []byte) (*Identity, error) {
	block, _ := pem.Decode(b)
	if block == nil || block.Type != pemType {
		return nil, errors.New(`not a PEM "PRIVATE KEY" block`)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse PKCS#8 key: %w", err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("key is %T, pulse needs an ed25519 key", k)
	}
	name := block.Headers[nameHeader]
	if err := ValidName(name); err != nil {
		return nil, fmt.Errorf("%s header: %w", nameHeader, err)
	}
	return &Identity{Name: name, Signer: protocol.NewSigner(priv), priv: priv}, nil
}

// ParsePublicKey checks a base64 ed25519 public key as found in trusted-keys
// files and on the wire, and returns it in canonical form.
func ParsePublicKey(s string) (string, error) {
	s = strings.TrimSpace(s)
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return "", fmt.Errorf("key %q is not base64: %w", abbreviate(s), err)
	}
	if len(b) != ed25519.PublicKeySize {
		return "", fmt.Errorf("key %q is %d bytes, an ed25519 public key is %d", abbreviate(s), len(b), ed25519.PublicKeySize)
	}
	return base64.StdEncoding.EncodeToString(b), nil
}

// ReadPublicKeyFile reads a .pub file: the base64 key and, optionally, the
// name after it.
func ReadPublicKeyFile(path string) (key, name string, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", "", fmt.Errorf("read public key: %w", err)
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return "", "", fmt.Errorf("public key file %s is empty", path)
	}
	key, err = ParsePublicKey(f[0])
	if err != nil {
		return "", "", fmt.Errorf("public key file %s: %w", path, err)
	}
	if len(f) > 1 {
		name = f[1]
	}
	return key, name, nil
}

func abbreviate(s string) string {
	if len(s) > 16 {
		return s[:16] + "..."
	}
	return s
}
