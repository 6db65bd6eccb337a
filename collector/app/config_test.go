package app

import (
	"os"
	"path/filepath"
	"strings"
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

// TestLoadConfigRangeNamesKey: an option out of range is reported with the
// YAML key and its line, not the Go field.
func TestLoadConfigRangeNamesKey(t *testing.T) {
	p := filepath.Join(t.TempDir(), "collector.yaml")
	for in, want := range map[string]string{
		"listen: 127.0.0.1:0\nmax_series: -5\n":             ":2: max_series is -5: it must be positive, or 0 (or left out) for the default 500000",
		"replicas: 7\n":                                     ":1: replicas is 7: it must be between 1 and 5, or 0 (or left out) for the default 1",
		"heartbeat_misses: 3\nmax_concurrent_scrapes: -1\n": ":2: max_concurrent_scrapes is -1: it must be positive, or 0 (or left out) for the default 4",
		"web_config_file: missing-web.yml\n":                ":1: web_config_file: web config: open ",
		"changes_max_msgs: -1\n":                            ":1: changes_max_msgs is -1: it must be positive, or 0 (or left out) for the default 100000",
		"listen: x\nchange_failure_window: -1h\n":           ":2: change_failure_window is -1h0m0s: it must be positive, or left out for the default",
	} {
		if err := os.WriteFile(p, []byte(in), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadConfig(p); err == nil || !strings.HasPrefix(err.Error(), p+want) {
			t.Errorf("%q: error %v, want %s%s", in, err, p, want)
		}
	}
	c, err := LoadConfig(writeFile(t, "action_token_file: /nope/action.token\n"))
	if err != nil {
		t.Fatal(err)
	}
	_, terr := ReadToken(c.ActionTokenFile)
	if err := c.Ref(terr, "action_token_file"); !strings.HasSuffix(err.Error(), ".yaml:1: action_token_file: token file: stat /nope/action.token: no such file or directory") {
		t.Errorf("token error: %v", err)
	}
}

func writeFile(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "collector.yaml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
