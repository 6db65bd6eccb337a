package app

import (
	"os"
	"path/filepath"
	"testing"
)

// The collector's nats block is the agent's: URLs, TLS and credentials.
func TestLoadConfigNATSBlock(t *testing.T) {
	p := filepath.Join(t.TempDir(), "collector.yaml")
	if err := os.WriteFile(p, []byte("nats:\n  urls: [nats://a:4222]\n  creds_file: /etc/pulse/collector.creds\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := LoadConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	if c.NATS.URLs[0] != "nats://a:4222" || c.NATS.CredsFile != "/etc/pulse/collector.creds" {
		t.Fatalf("nats: %+v", c.NATS)
	}
	if err := os.WriteFile(p, []byte("listen: 127.0.0.1:0\nnats:\n  user: collector\n  creds_file: x.creds\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadConfig(p); err == nil || err.Error() != p+":3: nats credentials: set one of user/password, nkey_seed_file or creds_file" {
		t.Fatalf("two logins: %v", err)
	}
}
