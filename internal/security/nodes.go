package security

import (
	"errors"
	"fmt"
	"sync"

	"github.com/pulseops/pulse/internal/config"
	"github.com/pulseops/pulse/internal/protocol"
)

// NodeKeys knows which key speaks for which node identity, so that a
// process on the bus cannot forge a node's replies, registrations or
// results: a message is believed only when it is signed by the key pinned
// for the identity it names.
//
// Keys are pinned from a node-keys file (the same YAML list as trusted
// keys, name = node identity) and, when TOFU is on, on first use: the first
// validly signed message of an identity nobody pinned pins its key. TOFU
// trusts whoever speaks first for a new name, so it is off by default; once
// pinned, a key only changes by editing the file and restarting.
type NodeKeys struct {
	tofu bool
	mu   sync.RWMutex
	keys map[string]string // identity -> base64 key
}

// ErrWrongNodeKey is wrapped when a message is signed by a key that is not
// the identity's pinned key.
var ErrWrongNodeKey = errors.New("signed by a key that is not the node's")

// NewNodeKeys pins keys (identity -> base64 key). tofu pins unknown
// identities on first use.
func NewNodeKeys(keys map[string]string, tofu bool) (*NodeKeys, error) {
	n := &NodeKeys{tofu: tofu, keys: map[string]string{}}
	for id, k := range keys {
		key, err := ParsePublicKey(k)
		if err != nil {
			return nil, fmt.Errorf("node %s: %w", id, err)
		}
		n.keys[id] = key
	}
	return n, nil
}

// LoadNodeKeys reads a node-keys file: a YAML list of {name, key} where
// name is the node identity.
func LoadNodeKeys(path string, tofu bool) (*NodeKeys, error) {
	var entries []Entry
	doc, err := config.LoadNode(path, &entries)
	if err != nil {
		return nil, err
	}
	n := &NodeKeys{tofu: tofu, keys: map[string]string{}}
	for i, e := range entries {
		if !protocol.ValidToken(e.Name) {
			return nil, config.At(path, config.Find(doc, i, "name"), "node %q is not a valid identity", e.Name)
		}
		key, err := ParsePublicKey(e.Key)
		if err != nil {
			return nil, config.At(path, config.Find(doc, i, "key"), "node %s: %v", e.Name, err)
		}
		if _, dup := n.keys[e.Name]; dup {
			return nil, config.At(path, config.Find(doc, i, "name"), "node %s is listed twice", e.Name)
		}
		n.keys[e.Name] = key
	}
	return n, nil
}

// Pin records key for identity unless one is pinned already.
func (n *NodeKeys) Pin(identity, key string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, ok := n.keys[identity]; !ok {
		n.keys[identity] = key
	}
}

// Verify checks a reply, registration or result envelope before its body
// is read: it must be signed by the key pinned for the node it comes from
// (pinning it first under TOFU, only once the signature verified). It is
// rpc.Options.VerifyReply and the collector's Options.Verify.
func (n *NodeKeys) Verify(env *protocol.Envelope) error {
	kind, identity, pub := env.Kind, env.From, env.Signer
	if !env.Signed() {
		return fmt.Errorf("%s from %s is not signed: %w", kind, identity, protocol.ErrUnsigned)
	}
	n.mu.RLock()
	want, known := n.keys[identity]
	n.mu.RUnlock()
	if known && want != pub {
		return wrongKey(kind, identity, pub, want)
	}
	if !known && !n.tofu {
		return fmt.Errorf("%s from %s: no key is known for this node (add it to the node keys): %w", kind, identity, ErrUntrustedKey)
	}
	if err := env.Verify(); err != nil {
		return fmt.Errorf("%s from %s: %w", kind, identity, err)
	}
	if !known {
		n.mu.Lock()
		if cur, ok := n.keys[identity]; ok && cur != pub {
			n.mu.Unlock()
			return wrongKey(kind, identity, pub, cur)
		}
		n.keys[identity] = pub
		n.mu.Unlock()
	}
	return nil
}

func wrongKey(kind protocol.Kind, identity, pub, want string) error {
	return fmt.Errorf("%s from %s is signed by key %s, not %s's key %s: %w", kind, identity, protocol.Fingerprint(pub), identity, protocol.Fingerprint(want), ErrWrongNodeKey)
}
