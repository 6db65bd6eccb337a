package security

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// UserKeyDir is where `pulse keys init` writes and the CLI looks for the
// user's key: $XDG_CONFIG_HOME/pulse (usually ~/.config/pulse).
func UserKeyDir() string {
	d, err := os.UserConfigDir()
	if err != nil {
		return ""
	}
	return filepath.Join(d, "pulse")
}

// KeyCandidates lists, in order, the key files the CLI tries: an explicit
// path (--key or PULSE_KEY) alone when given; else the user's own key, then
// the key the demo left for them.
func KeyCandidates(explicit string) []string {
	if explicit != "" {
		return []string{explicit}
	}
	d := UserKeyDir()
	if d == "" {
		return nil
	}
	return []string{filepath.Join(d, KeyFileName), filepath.Join(d, DemoKeyFileName)}
}

// FindKey loads the first key of KeyCandidates. No key at all is not an
// error (nil, nil): the CLI then sends unsigned requests, which only fleets
// with require_signatures: false accept. An explicit path that cannot be
// read is an error.
func FindKey(explicit string) (*Identity, error) {
	for _, p := range KeyCandidates(explicit) {
		id, err := LoadIdentity(p)
		if err == nil {
			return id, nil
		}
		if explicit != "" || !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
	}
	return nil, nil
}

// DemoKeys is everything `pulse demo` needs to run a signed fleet with no
// set-up: a key for the person at the keyboard (written where the CLI finds
// it), one for the collector, one per node, the trust and a permissive
// policy.
type DemoKeys struct {
	// UserKeyPath is the demo user's key; the CLI finds it by itself.
	UserKeyPath string
	User        *Identity
	Collector   *Identity
	// Nodes maps each node identity to its key; NodeKeys pins them for
	// verifying replies, registrations and results.
	Nodes    map[string]*Identity
	NodeKeys *NodeKeys
	Trust    *Trust
	Policy   *Policy
}

// DemoSetup generates the demo's keys for the node identities. The user key
// is written to dir/demo.key and, when userDir is not empty, to
// userDir/demo.key, replacing an older demo key there (a demo key is only
// good for the demo that made it). If userDir holds the user's own key
// (id.pub), that key is trusted too, so a user who ran `pulse keys init`
// keeps using it.
func DemoSetup(dir, userDir string, identities []string) (*DemoKeys, error) {
	d := &DemoKeys{Nodes: map[string]*Identity{}}
	var err error
	if d.User, err = GenerateIdentity("demo"); err != nil {
		return nil, err
	}
	if d.Collector, err = GenerateIdentity("collector"); err != nil {
		return nil, err
	}
	d.UserKeyPath = filepath.Join(dir, DemoKeyFileName)
	if err := d.User.replace(d.UserKeyPath); err != nil {
		return nil, err
	}
	entries := []Entry{
		{Name: d.User.Name, Key: d.User.PublicKey(), Groups: []string{"ops"}},
		{Name: d.Collector.Name, Key: d.Collector.PublicKey(), Groups: []string{"automation"}},
	}
	if userDir != "" {
		if err := d.User.replace(filepath.Join(userDir, DemoKeyFileName)); err != nil {
			return nil, err
		}
		if key, name, err := ReadPublicKeyFile(filepath.Join(userDir, PubFileName)); err == nil && name != "" && name != "demo" && name != "collector" {
			entries = append(entries, Entry{Name: name, Key: key, Groups: []string{"ops"}})
		}
	}
	if d.Trust, err = NewTrust(entries...); err != nil {
		return nil, err
	}
	keys := map[string]string{}
	for _, id := range identities {
		n, err := GenerateIdentity(id)
		if err != nil {
			return nil, fmt.Errorf("node %s: %w", id, err)
		}
		d.Nodes[id] = n
		keys[id] = n.PublicKey()
	}
	if d.NodeKeys, err = NewNodeKeys(keys, false); err != nil {
		return nil, err
	}
	rules := append(ReadOnlyRules("*"),
		RuleSpec{Name: "ops may do anything", Effect: "allow", Callers: []string{"group:ops"}, Agent: "*"},
		RuleSpec{Name: "automation may restart services", Effect: "allow", Callers: []string{"group:automation"}, Agent: "service"},
	)
	if d.Policy, err = NewPolicy("demo policy", PolicyFile{Rules: rules}, d.Trust); err != nil {
		return nil, err
	}
	return d, nil
}

// replace writes the key to path, replacing what is there, through a
// temporary file so a reader never sees half a key.
func (id *Identity) replace(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("create key directory: %w", err)
	}
	tmp := path + ".tmp"
	_ = os.Remove(tmp)
	_ = os.Remove(PublicPath(tmp))
	c := *id
	if err := c.write(tmp); err != nil {
		return err
	}
	if err := os.Rename(PublicPath(tmp), PublicPath(path)); err != nil {
		return fmt.Errorf("install demo public key: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("install demo key: %w", err)
	}
	return nil
}
