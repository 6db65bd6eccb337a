package protocol

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
)

// Signer signs messages with one ed25519 key.
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

// canonical is the signed form of a message: its JSON with the signature
// emptied. encoding/json writes struct fields in declaration order and map
// keys sorted, so signer and verifier produce the same bytes from the same
// value.
func canonical(v any) ([]byte, error) { return json.Marshal(v) }

// SignRequest sets r's PublicKey and Signature.
func (s *Signer) SignRequest(r *Request) error {
	return s.sign("request", r, &r.PublicKey, &r.Signature)
}

// SignReply sets r's PublicKey and Signature.
func (s *Signer) SignReply(r *Reply) error {
	return s.sign("reply", r, &r.PublicKey, &r.Signature)
}

// SignRegistration sets r's PublicKey and Signature.
func (s *Signer) SignRegistration(r *Registration) error {
	return s.sign("registration", r, &r.PublicKey, &r.Signature)
}

// SignResult sets r's PublicKey and Signature.
func (s *Signer) SignResult(r *Result) error {
	return s.sign("result", r, &r.PublicKey, &r.Signature)
}

// sign sets *pub to the signer's key and *sig to the signature over v's
// canonical form; pub and sig must point at v's own PublicKey and Signature.
func (s *Signer) sign(what string, v any, pub, sig *string) error {
	*pub, *sig = s.pub, ""
	b, err := canonical(v)
	if err != nil {
		return fmt.Errorf("canonical %s: %w", what, err)
	}
	*sig = base64.StdEncoding.EncodeToString(ed25519.Sign(s.priv, b))
	return nil
}

// VerifyRegistration checks r's signature against its embedded public key.
func VerifyRegistration(r *Registration) error {
	c := *r
	c.Signature = ""
	return verify(r.PublicKey, r.Signature, &c)
}

// VerifyResult checks r's signature against its embedded public key.
func VerifyResult(r *Result) error {
	c := *r
	c.Signature = ""
	return verify(r.PublicKey, r.Signature, &c)
}

// ErrUnsigned is returned for a message that carries no signature.
var ErrUnsigned = errors.New("message is not signed")

// VerifyRequest checks r's signature against its embedded public key. Whether
// that key is trusted is the caller's decision.
func VerifyRequest(r *Request) error {
	c := *r
	c.Signature = ""
	return verify(r.PublicKey, r.Signature, &c)
}

// VerifyReply checks r's signature against its embedded public key.
func VerifyReply(r *Reply) error {
	c := *r
	c.Signature = ""
	return verify(r.PublicKey, r.Signature, &c)
}

func verify(pub, sig string, v any) error {
	if sig == "" || pub == "" {
		return ErrUnsigned
	}
	pk, err := base64.StdEncoding.DecodeString(pub)
	if err != nil || len(pk) != ed25519.PublicKeySize {
		return errors.New("signer public key is not a base64 ed25519 key")
	}
	s, err := base64.StdEncoding.DecodeString(sig)
	if err != nil {
		return errors.New("signature is not base64")
	}
	b, err := canonical(v)
	if err != nil {
		return fmt.Errorf("canonical message: %w", err)
	}
	if !ed25519.Verify(pk, b, s) {
		return errors.New("signature does not match the message")
	}
	return nil
}
