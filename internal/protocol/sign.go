package protocol

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
)

// Signer signs messages with one ed25519 key (see seal in envelope.go for
// what a signature covers).
type Signer struct {
	priv ed25519.PrivateKey
	pub  string
}

// NewSigner wraps a private key.
func NewSigner(priv ed25519.PrivateKey) *Signer {
	return &Signer{priv: priv, pub: base64.StdEncoding.EncodeToString(priv.Public().(ed25519.PublicKey))}
}

// GenerateSigner makes a signer with a fresh key.
func GenerateSigner() (*Signer, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate ed25519 key: %w", err)
	}
	return NewSigner(priv), nil
}

// PublicKey is the base64 public key that verifiers trust.
func (s *Signer) PublicKey() string { return s.pub }

// Fingerprint is a short, stable name for a public key, for audit logs.
func Fingerprint(pub string) string {
	sum := sha256.Sum256([]byte(pub))
	return hex.EncodeToString(sum[:8])
}
