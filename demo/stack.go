package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/pulseops/pulse/rules"
)

// Process is a real Prometheus or Alertmanager the demo started.
type Process struct {
	Name string
	URL  string
	cmd  *exec.Cmd
	done chan error
}

// PID is the process's ID.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Stop ends the process and waits for it.
func (p *Process) Stop() {
	if p == nil || p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// StackOptions place Prometheus and Alertmanager beside a collector.
type StackOptions struct {
	// Dir holds generated configs and storage.
	Dir string
	// Prometheus and Alertmanager are binary paths.
	Prometheus, Alertmanager string
	// PrometheusAddr and AlertmanagerAddr are listen addresses.
	PrometheusAddr, AlertmanagerAddr string
	// Collector is the collector's host:port; AlertToken its webhook token.
	Collector  string
	AlertToken string
	// Scrape and Evaluation intervals (1s for the demo loop).
	Scrape, Evaluation time.Duration
	Log                io.Writer
}

// FindBinary resolves "auto" (PATH, or nothing), "off" or a path.
func FindBinary(choice string, names ...string) (string, error) {
	switch choice {
	case "off":
		return "", nil
	case "", "auto":
		for _, n := range names {
			if p, err := exec.LookPath(n); err == nil {
				return p, nil
			}
		}
		return "", nil
	}
	if _, err := os.Stat(choice); err != nil {
		return "", fmt.Errorf("%s: %w", choice, err)
	}
	return choice, nil
}

// StartStack writes configs and rules for a demo loop and starts
// Alertmanager (when given) then Prometheus (when given).
func StartStack(ctx context.Context, o StackOptions) (prom, am *Process, err error) {
	if o.Scrape <= 0 {
		o.Scrape = time.Second
	}
	if o.Evaluation <= 0 {
		o.Evaluation = time.Second
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	if o.Alertmanager != "" {
		tokenFile := filepath.Join(o.Dir, "alertmanager.token")
		if err := os.WriteFile(tokenFile, []byte(o.AlertToken+"\n"), 0o600); err != nil {
			return nil, nil, err
		}
		cfg, err := rules.DemoAlertmanagerConfig(rules.AMConfigOptions{
			WebhookURL: "http://" + o.Collector + "/api/v1/alerts", CredentialsFile: tokenFile,
			GroupWait: time.Second, GroupInterval: time.Second, RepeatInterval: 5 * time.Minute,
		})
		if err != nil {
			return nil, nil, err
		}
		cfgFile := filepath.Join(o.Dir, "alertmanager.yml")
		if err := os.WriteFile(cfgFile, cfg, 0o644); err != nil {
			return nil, nil, err
		}
		am, err = start(ctx, "alertmanager", o.Log, "http://"+o.AlertmanagerAddr, o.Alertmanager,
			"--config.file="+cfgFile, "--storage.path="+filepath.Join(o.Dir, "am-data"),
			"--web.listen-address="+o.AlertmanagerAddr,
			// No HA gossip: one Alertmanager, nothing to peer with.
			"--cluster.listen-address=")
		if err != nil {
			return nil, nil, err
		}
	}
	if o.Prometheus != "" {
		if prom, err = startPrometheus(ctx, o, am != nil); err != nil {
			am.Stop()
			return nil, nil, err
		}
	}
	return prom, am, nil
}

// startPrometheus writes the rules and configuration and starts Prometheus,
// sending alerts to o.AlertmanagerAddr when withAM is set.
func startPrometheus(ctx context.Context, o StackOptions, withAM bool) (*Process, error) {
	fleet, err := rules.FleetRules(rules.DemoFleetOptions())
	if err != nil {
		return nil, err
	}
	slo, err := rules.ParseSLO("slo/login.yaml", rules.LoginSLOYAML)
	if err != nil {
		return nil, err
	}
	sloRules, err := rules.GenerateSLO(slo)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(o.Dir, "pulse.rules.yml"), fleet, 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(o.Dir, "slo-login.rules.yml"), sloRules, 0o644); err != nil {
		return nil, err
	}
	popts := rules.PromConfigOptions{
		ScrapeInterval: o.Scrape, EvaluationInterval: o.Evaluation, Targets: []string{o.Collector},
		RuleFiles: []string{"pulse.rules.yml", "slo-login.rules.yml"},
	}
	if withAM {
		popts.AlertmanagerURL = "http://" + o.AlertmanagerAddr
	}
	cfg, err := rules.DemoPrometheusConfig(popts)
	if err != nil {
		return nil, err
	}
	cfgFile := filepath.Join(o.Dir, "prometheus.yml")
	if err := os.WriteFile(cfgFile, cfg, 0o644); err != nil {
		return nil, err
	}
	return start(ctx, "prometheus", o.Log, "http://"+o.PrometheusAddr, o.Prometheus,
		"--config.file="+cfgFile, "--storage.tsdb.path="+filepath.Join(o.Dir, "prom-data"),
		"--web.listen-address="+o.PrometheusAddr, "--storage.tsdb.retention.time=1d")
}

// start runs a binary and waits until its /-/ready endpoint answers.
func start(ctx context.Context, name string, log io.Writer, url, bin string, args ...string) (*Process, error) {
	host := url[len("http://"):]
	if ln, err := net.Listen("tcp", host); err != nil {
		return nil, fmt.Errorf("%s address %s is not free (is another %s running? use --%s off or another port): %w", name, host, name, name, err)
	} else {
		ln.Close()
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := startChild(cmd); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Process{Name: name, URL: url, cmd: cmd, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait() }()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-p.done:
			return nil, fmt.Errorf("%s exited at start: %v (see its log)", name, err)
		case <-ctx.Done():
			p.Stop()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		resp, err := http.Get(url + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p, nil
			}
		}
	}
	p.Stop()
	return nil, errors.New(name + " did not become ready within 30s")
}
