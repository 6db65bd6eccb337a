// Package compose holds the configuration docker-compose.yml mounts into
// pulse's containers; its test proves the compose file and these configs
// agree. It has no code: nothing may import it.
package compose

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/pulseops/pulse/collector"
	"github.com/pulseops/pulse/collector/remediation"
	"github.com/pulseops/pulse/nodeagent"
	"github.com/pulseops/pulse/probes"
)

const repoRoot = "../.."

type composeFile struct {
	Services map[string]struct {
		Command []string `yaml:"command"`
		Volumes []string `yaml:"volumes"`
	} `yaml:"services"`
	Volumes map[string]any `yaml:"volumes"`
}

// mount is one volume of a service: a bind mount of a repository path
// (Host set) or a named volume.
type mount struct {
	Host, Container string
}

func loadCompose(t *testing.T) composeFile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	if len(c.Services) == 0 {
		t.Fatal("docker-compose.yml has no services")
	}
	return c
}

func mounts(t *testing.T, c composeFile, service string) []mount {
	t.Helper()
	var ms []mount
	for _, v := range c.Services[service].Volumes {
		parts := strings.Split(v, ":")
		if len(parts) < 2 {
			t.Fatalf("service %s: volume %q is not src:dst[:mode]", service, v)
		}
		m := mount{Container: parts[1]}
		if strings.HasPrefix(parts[0], "./") {
			m.Host = filepath.Join(repoRoot, parts[0])
		} else if _, ok := c.Volumes[parts[0]]; !ok {
			t.Errorf("service %s: volume %q is neither a ./ path nor a declared named volume", service, parts[0])
		}
		ms = append(ms, m)
	}
	return ms
}

// resolve maps a path inside a service's container to the repository file
// mounted there; named volumes give "" and ok.
func resolve(ms []mount, p string) (string, bool) {
	for _, m := range ms {
		if p == m.Container {
			return m.Host, true
		}
		if strings.HasPrefix(p, strings.TrimSuffix(m.Container, "/")+"/") {
			if m.Host == "" {
				return "", true
			}
			return filepath.Join(m.Host, strings.TrimPrefix(p, m.Container)), true
		}
	}
	return "", false
}

// TestMountsExist: every repository path the compose file mounts exists.
func TestMountsExist(t *testing.T) {
	c := loadCompose(t)
	n := 0
	for name := range c.Services {
		for _, m := range mounts(t, c, name) {
			if m.Host == "" {
				continue
			}
			n++
			if _, err := os.Stat(m.Host); err != nil {
				t.Errorf("service %s mounts %s: %v", name, m.Host, err)
			}
		}
	}
	if n < 10 {
		t.Fatalf("only %d bind mounts found; is the test still reading the compose file's volumes?", n)
	}
}

// pulseConfig returns the service's --config file in the repository.
func pulseConfig(t *testing.T, c composeFile, service string) (string, []mount) {
	t.Helper()
	cmd := c.Services[service].Command
	ms := mounts(t, c, service)
	for i, a := range cmd {
		if a == "--config" && i+1 < len(cmd) {
			host, ok := resolve(ms, cmd[i+1])
			if !ok || host == "" {
				t.Fatalf("service %s: --config %s is not mounted from the repository", service, cmd[i+1])
			}
			return host, ms
		}
	}
	t.Fatalf("service %s: no --config in its command %v", service, cmd)
	return "", nil
}

// TestPulseConfigsLoad loads every pulse config the compose file runs
// with the loaders the daemons use, and checks each file a config names
// is mounted into that container (and, where it is a repository file,
// that it loads too).
func TestPulseConfigsLoad(t *testing.T) {
	c := loadCompose(t)
	var collectors, agents int
	for name, s := range c.Services {
		if len(s.Command) == 0 {
			continue
		}
		switch s.Command[0] {
		case "collector":
			collectors++
			path, ms := pulseConfig(t, c, name)
			cfg, err := collector.LoadConfig(path)
			if err != nil {
				t.Errorf("service %s: %v", name, err)
				continue
			}
			for _, f := range []string{cfg.ActionTokenFile, cfg.AlertTokenFile, cfg.RemediationRules} {
				if _, ok := resolve(ms, f); !ok {
					t.Errorf("service %s: %s names %s, which is not mounted", name, path, f)
				}
			}
			if host, _ := resolve(ms, cfg.RemediationRules); host != "" {
				if _, err := remediation.LoadRules(host); err != nil {
					t.Errorf("service %s: %v", name, err)
				}
			}
			if !strings.HasPrefix(cfg.Listen, "0.0.0.0:") {
				t.Errorf("service %s: listen %s is not reachable from other containers", name, cfg.Listen)
			}
		case "agent":
			agents++
			path, ms := pulseConfig(t, c, name)
			cfg, err := nodeagent.LoadConfig(path)
			if err != nil {
				t.Errorf("service %s: %v", name, err)
				continue
			}
			for _, f := range cfg.Facts.Files {
				host, ok := resolve(ms, f)
				if !ok || host == "" {
					t.Errorf("service %s: facts file %s is not mounted from the repository", name, f)
					continue
				}
				b, err := os.ReadFile(host)
				if err != nil {
					t.Error(err)
					continue
				}
				var facts map[string]any
				if err := yaml.Unmarshal(b, &facts); err != nil {
					t.Errorf("%s: %v", host, err)
				}
				for _, k := range []string{"ec2_placement_availability_zone", "role", "cluster"} {
					if _, ok := facts[k].(string); !ok {
						t.Errorf("%s: no %s fact: the %s label would be missing", host, k, k)
					}
				}
			}
			for _, p := range cfg.Probes {
				host, ok := resolve(ms, p.File)
				if !ok || host == "" {
					t.Errorf("service %s: probe %s is not mounted from the repository", name, p.File)
					continue
				}
				if _, err := probes.Load(host); err != nil {
					t.Errorf("service %s: %v", name, err)
				}
			}
		}
	}
	if collectors != 1 || agents != 3 {
		t.Fatalf("compose runs %d collectors and %d agents, want 1 and 3", collectors, agents)
	}
}

// TestComposeConfig has docker-compose itself accept the file.
func TestComposeConfig(t *testing.T) {
	bin, err := exec.LookPath("docker-compose")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("docker-compose not on PATH; apt-get install docker-compose")
		}
		t.Skip("docker-compose not on PATH; apt-get install docker-compose")
	}
	cmd := exec.Command(bin, "-f", "docker-compose.yml", "config", "-q")
	cmd.Dir = repoRoot
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("docker-compose config: %v\n%s", err, out)
	}
}
