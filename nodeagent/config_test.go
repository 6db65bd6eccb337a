package nodeagent

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/pulseops/pulse/internal/bus"
)

func TestLoadConfigExample(t *testing.T) {
	c, err := LoadConfig("testdata/agent.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Identity != "web-01" || len(c.Checks) != 2 || c.Checks[0].Interval.String() != "1m0s" || !strings.HasSuffix(c.Probes[0].File, "probes/login.yaml") {
		t.Fatalf("config: %+v", c)
	}
	// Relative fact paths in the example are relative to the test's
	// working directory; point them at testdata.
	c.Facts.Files = []string{"testdata/facts.yaml"}
	c.Facts.ExternalDir = "testdata/facts.d"
	c.ClassesFile = "testdata/classes.txt"
	c.Package.Provider, c.Service.Provider = "sim", "sim"
	opts, err := c.Build(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if f := opts.Facts.Facts(); f["role"] != "web" || f["datacenter"] != "dub1" || f["hostname"] == nil {
		t.Fatalf("facts: role=%v datacenter=%v hostname=%v", f["role"], f["datacenter"], f["hostname"])
	}
	if len(opts.Agents) != 4 || len(opts.Jobs) != 3 || len(opts.Classes) != 2 {
		t.Fatalf("agents %d jobs %d classes %v", len(opts.Agents), len(opts.Jobs), opts.Classes)
	}
}

func TestLoadConfigErrors(t *testing.T) {
	for file, want := range map[string]string{
		"testdata/bad-key.yaml":        `testdata/bad-key.yaml:4: unknown key "intervall"`,
		"testdata/bad-duration.yaml":   `testdata/bad-duration.yaml:2: "soon" is not a duration: write one such as 10s or 500ms`,
		"testdata/bad-identity.yaml":   `testdata/bad-identity.yaml:2: identity "web.01" cannot be a NATS subject token: no dots, spaces or wildcards`,
		"testdata/bad-check-name.yaml": "testdata/bad-check-name.yaml:3: check name:",
		"testdata/dup-check.yaml":      `testdata/dup-check.yaml:4: check "check_load" is defined twice`,
		"testdata/bad-urltest.yaml":    `testdata/bad-urltest.yaml:3: urltest.allow_hosts: host pattern "*.exa*mple.com": only a leading *. is allowed, as in *.example.com`,
		"testdata/missing.yaml":        "read config: open testdata/missing.yaml: no such file or directory",
	} {
		_, err := LoadConfig(file)
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%s: got %v\nwant prefix %s", file, err, want)
		}
	}
}

func TestBuildRejectsUnknownCommandAndProvider(t *testing.T) {
	c := &Config{Identity: "a", Package: ProviderConfig{Provider: "pacman"}}
	if _, err := c.Build(context.Background(), nil); err == nil || !strings.Contains(err.Error(), "pacman") {
		t.Fatalf("unknown provider: %v", err)
	}
	c = &Config{Identity: "a", Package: ProviderConfig{Provider: "sim"}, Service: ProviderConfig{Provider: "sim"},
		Checks: []CheckConfig{{Name: "check_nothing"}}}
	if _, err := c.Build(context.Background(), nil); err == nil || !strings.Contains(err.Error(), `nrpe command "check_nothing", which is not configured`) {
		t.Fatalf("unknown command: %v", err)
	}
}

// The connection's TLS and credentials live in the top-level nats block,
// as in the collector's config; older configs keep them in security.nats,
// which still works. Relative files are taken from the config's directory.
func TestLoadConfigNATSBlock(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	block := write("block.yaml", "identity: web-01\nnats:\n  urls: [nats://a:4222]\n  ca_file: ca.pem\n  user: web-01\n  password: pw\n")
	legacy := write("legacy.yaml", "identity: web-01\nnats: [nats://a:4222]\nsecurity:\n  require_signatures: false\n  nats:\n    ca_file: ca.pem\n    user: web-01\n    password: pw\n")
	for _, p := range []string{block, legacy} {
		c, err := LoadConfig(p)
		if err != nil {
			t.Fatal(err)
		}
		want := bus.Config{URLs: []string{"nats://a:4222"}, TLS: bus.TLS{CAFile: filepath.Join(dir, "ca.pem")}, Credentials: bus.Credentials{User: "web-01", Password: "pw"}}
		if !reflect.DeepEqual(c.NATS, want) {
			t.Errorf("%s: nats %+v, want %+v", p, c.NATS, want)
		}
	}
	c, err := LoadConfig(write("none.yaml", "identity: web-01\n"))
	if err != nil || !reflect.DeepEqual(c.NATS.URLs, []string{"nats://127.0.0.1:4222"}) {
		t.Fatalf("default URL: %+v %v", c, err)
	}
	for body, want := range map[string]string{
		"nats:\n  user: a\n  nkey_seed_file: a.nk\n":                                       "both.yaml:2: nats credentials: set one of user/password, nkey_seed_file or creds_file",
		"nats:\n  user: a\nsecurity:\n  require_signatures: false\n  nats:\n    user: b\n": "both.yaml:6: NATS TLS and credentials are set both in security.nats and in the top-level nats block: keep the top-level block only",
		"security:\n  require_signatures: false\n  nats:\n    urls: [nats://a:4222]\n":     "both.yaml:4: security.nats holds only TLS, credentials and inbox_prefix: put urls, name and connect_timeout in the top-level nats block",
		"watch_packages: [shop, nginx, shop]\n":                                            `both.yaml:1: watch_packages: "shop" is empty or listed twice`,
		"package: {disabled: true}\nwatch_packages: [shop]\n":                              "both.yaml:2: watch_packages needs the package agent, which package.disabled turns off",
		"watch_packages: [a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, p, q]\n":            "both.yaml:1: watch_packages lists 17 packages; at most 16: every one is a series per node",
	} {
		_, err := LoadConfig(write("both.yaml", body))
		if err == nil || !strings.HasSuffix(err.Error(), want) {
			t.Errorf("%q: got %v, want %s", body, err, want)
		}
	}
}

// `pulse agent --config-check` checks what Build would refuse without doing
// anything: no external fact program runs, no instance metadata is asked
// for, no audit log is created. Build does all three.
func TestCheckRunsNothing(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "ran")
	factsDir := filepath.Join(dir, "facts.d")
	if err := os.MkdirAll(factsDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(factsDir, "run.sh"), []byte("#!/bin/sh\ntouch "+marker+"\necho role=web\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	var metadata atomic.Int64
	imds := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		metadata.Add(1)
		http.Error(w, "no", http.StatusNotFound)
	}))
	defer imds.Close()
	audit := filepath.Join(dir, "audit.log")
	cfgFile := filepath.Join(dir, "agent.yaml")
	body := fmt.Sprintf("identity: web-01\nfacts: {external_dir: %s, ec2: {enabled: true, base_url: %q, timeout: 1s}}\naudit_log: %s\npackage: {provider: sim}\nservice: {provider: sim}\nchecks: [{name: check_load}]\n", factsDir, imds.URL, audit)
	if err := os.WriteFile(cfgFile, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := LoadConfig(cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	opts, err := c.Check(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(opts.Agents) != 4 || len(opts.Jobs) != 1 {
		t.Fatalf("checked config: %d agents, %d jobs", len(opts.Agents), len(opts.Jobs))
	}
	for what, done := range map[string]bool{
		"ran the external fact program": exists(marker),
		"asked the instance metadata":   metadata.Load() > 0,
		"created the audit log":         exists(audit),
	} {
		if done {
			t.Errorf("Check %s", what)
		}
	}
	// Check refuses what Build refuses.
	c.Checks = append(c.Checks, CheckConfig{Name: "check_nothing"})
	if _, err := c.Check(context.Background(), nil); err == nil || !strings.Contains(err.Error(), `nrpe command "check_nothing", which is not configured`) {
		t.Fatalf("Check of an unknown command: %v", err)
	}
	c.Checks = c.Checks[:1]
	if _, err := c.Build(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if !exists(marker) || metadata.Load() == 0 || !exists(audit) {
		t.Fatalf("Build: fact program ran %v, metadata asked %d times, audit log %v", exists(marker), metadata.Load(), exists(audit))
	}
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// TestBuildNamesTheKey: an error about a file the config refers to names
// the config file, the key and its line, and then the file.
func TestBuildNamesTheKey(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ yaml, want string }{
		{"identity: a\npackage: {provider: sim}\nservice: {provider: sim}\nnrpe:\n  config: " + dir + "/nrpe.cfg\n",
			":5: nrpe.config: read nrpe config: open " + dir + "/nrpe.cfg: no such file or directory"},
		{"identity: a\npackage: {provider: pacman}\n", ":2: package.provider: "},
		{"identity: a\npackage: {provider: sim}\nservice: {provider: sim}\nprobes:\n  - {file: gone.yaml}\n",
			":5: probes[0].file: "},
		{"identity: a\npackage: {provider: sim}\nservice: {provider: sim}\nsecurity:\n  require_signatures: false\n  key_file: missing.key\n",
			":6: security.key_file: "},
	} {
		p := filepath.Join(dir, "agent.yaml")
		if err := os.WriteFile(p, []byte(tc.yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := LoadConfig(p)
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Build(context.Background(), nil)
		if err == nil || !strings.HasPrefix(err.Error(), p+tc.want) {
			t.Errorf("%q: error %v, want it to start %s%s", tc.yaml, err, p, tc.want)
		}
	}
}
