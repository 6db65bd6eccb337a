package nodeagent

import (
	"context"
	"strings"
	"testing"
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
	opts, g, err := c.Build(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if f := g.Facts(); f["role"] != "web" || f["datacenter"] != "dub1" || f["hostname"] == nil {
		t.Fatalf("facts: role=%v datacenter=%v hostname=%v", f["role"], f["datacenter"], f["hostname"])
	}
	if len(opts.Agents) != 3 || len(opts.Jobs) != 3 || len(opts.Classes) != 2 {
		t.Fatalf("agents %d jobs %d classes %v", len(opts.Agents), len(opts.Jobs), opts.Classes)
	}
}

func TestLoadConfigErrors(t *testing.T) {
	for file, want := range map[string]string{
		"testdata/bad-key.yaml":        "testdata/bad-key.yaml:4: field intervall not found in type nodeagent.CheckConfig",
		"testdata/bad-duration.yaml":   "testdata/bad-duration.yaml:2: cannot unmarshal !!str `soon` into time.Duration",
		"testdata/bad-identity.yaml":   `testdata/bad-identity.yaml:2: identity "web.01" cannot be a NATS subject token: no dots, spaces or wildcards`,
		"testdata/bad-check-name.yaml": "testdata/bad-check-name.yaml:3: check name:",
		"testdata/dup-check.yaml":      `testdata/dup-check.yaml:4: check "check_load" is defined twice`,
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
	if _, _, err := c.Build(context.Background(), nil); err == nil || !strings.Contains(err.Error(), "pacman") {
		t.Fatalf("unknown provider: %v", err)
	}
	c = &Config{Identity: "a", Package: ProviderConfig{Provider: "sim"}, Service: ProviderConfig{Provider: "sim"},
		Checks: []CheckConfig{{Name: "check_nothing"}}}
	if _, _, err := c.Build(context.Background(), nil); err == nil || !strings.Contains(err.Error(), `nrpe command "check_nothing", which is not configured`) {
		t.Fatalf("unknown command: %v", err)
	}
}
