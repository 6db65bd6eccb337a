// Package compose holds the configuration docker-compose.yml mounts into
// pulse's containers; its test proves the compose file and these configs
// agree. It has no code: nothing may import it.
package compose

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v4"

	"github.com/pulseops/pulse/collector/app"
	"github.com/pulseops/pulse/collector/remediation"
	"github.com/pulseops/pulse/internal/testkit"
	"github.com/pulseops/pulse/nodeagent"
	"github.com/pulseops/pulse/probes"
)

const repoRoot = "../.."

type composeFile struct {
	Services map[string]struct {
		Image   string   `yaml:"image"`
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
			cfg, err := app.LoadConfig(path)
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

// containerTree lays out, under a temporary directory, the files the
// service sees in its container: each bind mount of the repository
// linked at its container path. Named volumes are left out.
func containerTree(t *testing.T, c composeFile, service string) string {
	t.Helper()
	root := t.TempDir()
	for _, m := range mounts(t, c, service) {
		if m.Host == "" {
			continue
		}
		abs, err := filepath.Abs(m.Host)
		if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(root, m.Container)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(abs, dst); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// flagValue returns the value of --name=value in a service's command.
func flagValue(t *testing.T, c composeFile, service, name string) string {
	t.Helper()
	for _, a := range c.Services[service].Command {
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v
		}
	}
	t.Fatalf("service %s: no %s= in its command", service, name)
	return ""
}

// TestComposePrometheusConfig has the promtool of the Prometheus release
// compose runs check the compose Prometheus config, with the rule files
// it loads, where the container sees them.
func TestComposePrometheusConfig(t *testing.T) {
	promtool := testkit.RealPart(t, "promtool")
	c := loadCompose(t)
	root := containerTree(t, c, "prometheus")
	cfg := filepath.Join(root, flagValue(t, c, "prometheus", "--config.file"))
	out, err := exec.Command(promtool, "check", "config", cfg).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check config %s: %v\n%s", cfg, err, out)
	}
	if !strings.Contains(string(out), "pulse.rules.yml") || !strings.Contains(string(out), "slo-login.rules.yml") {
		t.Fatalf("promtool did not check the rule files the config loads:\n%s", out)
	}
}

// TestComposeAlertmanagerConfig has the amtool of the Alertmanager release
// compose runs check the compose Alertmanager config.
func TestComposeAlertmanagerConfig(t *testing.T) {
	amtool := testkit.RealPart(t, "amtool")
	c := loadCompose(t)
	root := containerTree(t, c, "alertmanager")
	cfg := filepath.Join(root, flagValue(t, c, "alertmanager", "--config.file"))
	out, err := exec.Command(amtool, "check-config", cfg).CombinedOutput()
	if err != nil {
		t.Fatalf("amtool check-config %s: %v\n%s", cfg, err, out)
	}
	if !strings.Contains(string(out), "SUCCESS") {
		t.Fatalf("amtool check-config did not succeed:\n%s", out)
	}
}

// TestRealPartsMatchCompose: the Prometheus and Alertmanager the tests
// build (scripts/real-parts.sh) are the releases docker-compose.yml runs,
// so what the tests prove holds for what users start.
func TestRealPartsMatchCompose(t *testing.T) {
	c := loadCompose(t)
	script, err := os.ReadFile(filepath.Join(repoRoot, "scripts", "real-parts.sh"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []struct{ service, image, variable string }{
		{"prometheus", "prom/prometheus", "PROMETHEUS_VERSION"},
		{"alertmanager", "prom/alertmanager", "ALERTMANAGER_VERSION"},
	} {
		m := regexp.MustCompile(`(?m)^` + p.variable + `=(\S+)$`).FindSubmatch(script)
		if m == nil {
			t.Fatalf("scripts/real-parts.sh sets no %s", p.variable)
		}
		want := p.image + ":v" + string(m[1])
		if got := c.Services[p.service].Image; got != want {
			t.Errorf("docker-compose.yml runs %s %s, but the tests build %s (%s in scripts/real-parts.sh): keep them in step", p.service, got, want, p.variable)
		}
	}
	// The module versions follow from the release versions.
	for _, p := range []struct{ version, module, want string }{
		{"PROMETHEUS_VERSION", "PROMETHEUS_MODULE", "github.com/prometheus/prometheus@v0.%d%02d.%s"},
		{"ALERTMANAGER_VERSION", "ALERTMANAGER_MODULE", "github.com/prometheus/alertmanager@v%s"},
	} {
		v := regexp.MustCompile(`(?m)^` + p.version + `=(\S+)$`).FindSubmatch(script)
		mod := regexp.MustCompile(`(?m)^` + p.module + `=(\S+)$`).FindSubmatch(script)
		if v == nil || mod == nil {
			t.Fatalf("scripts/real-parts.sh sets no %s or %s", p.version, p.module)
		}
		var want string
		if strings.HasPrefix(p.version, "PROMETHEUS") {
			var major, minor int
			var patch string
			parts := strings.SplitN(string(v[1]), ".", 3)
			if len(parts) != 3 {
				t.Fatalf("PROMETHEUS_VERSION %s is not major.minor.patch", v[1])
			}
			if _, err := fmt.Sscan(parts[0], &major); err != nil {
				t.Fatal(err)
			}
			if _, err := fmt.Sscan(parts[1], &minor); err != nil {
				t.Fatal(err)
			}
			patch = parts[2]
			want = fmt.Sprintf(p.want, major, minor, patch)
		} else {
			want = fmt.Sprintf(p.want, v[1])
		}
		if string(mod[1]) != want {
			t.Errorf("scripts/real-parts.sh: %s is %s, want %s for %s %s", p.module, mod[1], want, p.version, v[1])
		}
	}
}
