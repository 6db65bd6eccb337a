package security

import (
	"errors"
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
// path (--key or PULSE_KEY) alone when given; else the user's own key.
func KeyCandidates(explicit string) []string {
	if explicit != "" {
		return []string{explicit}
	}
	d := UserKeyDir()
	if d == "" {
		return nil
	}
	return []string{filepath.Join(d, KeyFileName)}
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

// Credentials files the CLI finds by itself in UserKeyDir: the user's own
// (from `pulse keys issue user NAME`, copied there) and the one `pulse
// demo` leaves.
const (
	CredsFileName     = "id.creds"
	DemoCredsFileName = "demo.creds"
)

// CredsCandidates lists, in order, the .creds files the CLI tries when no
// login is given: the user's own, then the demo's.
func CredsCandidates() []string {
	d := UserKeyDir()
	if d == "" {
		return nil
	}
	return []string{filepath.Join(d, CredsFileName), filepath.Join(d, DemoCredsFileName)}
}

// FindCreds returns the first of CredsCandidates that exists, or "".
func FindCreds() string {
	for _, p := range CredsCandidates() {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}
