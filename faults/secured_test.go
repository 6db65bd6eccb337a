package faults

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/pulseops/pulse/collector/api"
	"github.com/pulseops/pulse/collector/remediation"
	"github.com/pulseops/pulse/demo"
	"github.com/pulseops/pulse/internal/broker/brokertest"
	"github.com/pulseops/pulse/internal/bus"
	"github.com/pulseops/pulse/internal/hostlock"
	"github.com/pulseops/pulse/internal/protocol"
	"github.com/pulseops/pulse/internal/registry"
	"github.com/pulseops/pulse/internal/security"
	"github.com/pulseops/pulse/internal/testkit"
)

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

// pulseBinary builds the full pulse once per test run.
func pulseBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "pulse-faults-bin-")
		if err != nil {
			buildErr = err
			return
		}
		builtBin = filepath.Join(dir, "pulse")
		out, err := exec.Command("go", "build", "-o", builtBin, "../cmd/pulse").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

// proc is one pulse process of the secured fleet.
type proc struct {
	name string
	cmd  *exec.Cmd
	out  *testkit.SyncBuffer
	done chan struct{}
	err  error
}

// start runs bin with args, its output kept for the failure message, and
// stops it when the test ends. It dies with the test binary.
func start(t *testing.T, name, bin string, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, cmd: exec.Command(bin, args...), out: &testkit.SyncBuffer{}, done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("--- %s output:\n%s", name, tail(p.out.String(), 4000))
		}
	})
	return p
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop asks the process to end and kills it if it does not within 10s.
func (p *proc) stop() {
	if p.exited() {
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

// kill ends the process at once, as a crash or a pulled plug would.
func (p *proc) kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// run runs a pulse command to its end and returns its output and exit code.
func run(t *testing.T, bin string, env []string, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := exec.CommandContext(ctx, bin, args...)
	c.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	err := c.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("pulse %v: %v", args, err)
	}
	return out.String(), errb.String(), code
}

func write(t *testing.T, path, body string, mode os.FileMode) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), mode); err != nil {
		t.Fatal(err)
	}
	return path
}

// securedFleet is the topology SECURITY.md describes, every part a process
// of its own: three pulse brokers in a NATS cluster with TLS that trust only
// the issuer, three agents, the collector, and the credentials an operator
// issued with pulse keys.
type securedFleet struct {
	bin, dir, issuer, ca string
	urls                 []string
	brokers              []*proc
	creds                map[string]string
	env                  []string // the CLI's: an empty config directory
	collectorAddr        string
	actionToken          string
}

// cli runs the CLI against the fleet as name (no credentials when empty).
func (f *securedFleet) cli(t *testing.T, name string, args ...string) (string, string, int) {
	t.Helper()
	args = append(args, "--nats", strings.Join(f.urls, ","), "--tls-ca", f.ca)
	if name != "" {
		args = append(args, "--creds", f.creds[name])
	}
	return run(t, f.bin, f.env, args...)
}

// dial logs in to the cluster as name, from this process, with the
// broker's refusals collected.
func (f *securedFleet) dial(name string, errs *brokertest.AsyncErrors) (*nats.Conn, error) {
	c := bus.Config{URLs: f.urls, TLS: bus.TLS{CAFile: f.ca}}
	switch name {
	case "":
	case "sys":
		c.CredsFile = filepath.Join(f.issuer, "keys", "sys.creds")
	default:
		c.CredsFile = f.creds[name]
	}
	var opts []nats.Option
	if errs != nil {
		opts = append(opts, nats.ErrorHandler(errs.Handler))
	}
	return bus.Dial(c, opts...)
}

// sysRequest asks every server a $SYS.REQ.SERVER.PING question and decodes
// each answer's data.
func sysRequest[T any](t *testing.T, nc *nats.Conn, what string) []T {
	t.Helper()
	inbox := nc.NewRespInbox()
	ch := make(chan *nats.Msg, 16)
	sub, err := nc.ChanSubscribe(inbox, ch)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := nc.PublishRequest("$SYS.REQ.SERVER.PING."+what, inbox, nil); err != nil {
		t.Fatal(err)
	}
	var out []T
	timeout := time.After(time.Second)
	for {
		select {
		case m := <-ch:
			var r struct {
				Server struct {
					Name string `json:"name"`
				} `json:"server"`
				Data T `json:"data"`
			}
			if json.Unmarshal(m.Data, &r) == nil {
				out = append(out, r.Data)
			}
		case <-timeout:
			return out
		}
	}
}

func startSecuredFleet(t *testing.T) *securedFleet {
	t.Helper()
	f := &securedFleet{bin: pulseBinary(t), dir: t.TempDir(), creds: map[string]string{}}
	f.issuer = filepath.Join(f.dir, "issuer")
	f.env = []string{"XDG_CONFIG_HOME=" + filepath.Join(f.dir, "cli-config")}
	pki, err := security.WritePKI(f.dir)
	if err != nil {
		t.Fatal(err)
	}
	f.ca = pki.CAFile

	// The operator's part, with pulse keys as a person would run it.
	if out, errOut, code := run(t, f.bin, f.env, "keys", "issuer", "--issuer", f.issuer); code != 0 {
		t.Fatalf("keys issuer: exit %d %s\n%s", code, errOut, out)
	}
	for _, id := range []struct{ role, name, groups string }{
		{"node", "web-1", ""}, {"node", "web-2", ""}, {"node", "web-3", ""},
		{"collector", "collector", "automation"}, {"user", "alice", "ops"}, {"user", "mallory", "dev"}, {"admin", "root", ""},
	} {
		p := filepath.Join(f.dir, id.name+".creds")
		args := []string{"keys", "issue", id.role, id.name, "--issuer", f.issuer, "-o", p}
		if id.groups != "" {
			args = append(args, "--groups", id.groups)
		}
		if _, errOut, code := run(t, f.bin, f.env, args...); code != 0 {
			t.Fatalf("keys issue %s %s: exit %d %s", id.role, id.name, code, errOut)
		}
		f.creds[id.name] = p
	}

	// Three brokers routed into one JetStream cluster, TLS for clients.
	const n = 3
	ports, cports := make([]int, n), make([]int, n)
	for i := range ports {
		ports[i], cports[i] = testkit.FreePort(t), testkit.FreePort(t)
		f.urls = append(f.urls, fmt.Sprintf("nats://127.0.0.1:%d", ports[i]))
	}
	for i := range n {
		conf, errOut, code := run(t, f.bin, f.env, "keys", "server-config", "--issuer", f.issuer, "--resolver-dir", filepath.Join(f.dir, fmt.Sprintf("jwt-%d", i)))
		if code != 0 {
			t.Fatalf("keys server-config: exit %d %s", code, errOut)
		}
		auth := write(t, filepath.Join(f.dir, fmt.Sprintf("auth-%d.conf", i)), conf, 0o644)
		args := []string{"broker", "--name", fmt.Sprintf("b%d", i), "--listen", fmt.Sprintf("127.0.0.1:%d", ports[i]),
			"--cluster", fmt.Sprintf("127.0.0.1:%d", cports[i]), "--cluster-name", "secured", "--jetstream", filepath.Join(f.dir, fmt.Sprintf("js-%d", i)),
			"--auth", auth, "--tls-cert", pki.ServerCert, "--tls-key", pki.ServerKey, "--log-level", "warn"}
		for j := range n {
			if j != i {
				args = append(args, "--routes", fmt.Sprintf("nats://127.0.0.1:%d", cports[j]))
			}
		}
		f.brokers = append(f.brokers, start(t, fmt.Sprintf("broker b%d", i), f.bin, nil, args...))
	}
	var sys *nats.Conn
	testkit.WaitFor(t, 30*time.Second, "the system account's user to log in", func() bool {
		sys, err = f.dial("sys", nil)
		return err == nil
	})
	t.Cleanup(sys.Close)
	type jsz struct {
		Meta *struct {
			Leader   string `json:"leader"`
			Replicas []struct {
				Current bool `json:"current"`
				Offline bool `json:"offline"`
			} `json:"replicas"`
		} `json:"meta_cluster"`
	}
	testkit.WaitFor(t, 60*time.Second, "a JetStream meta leader that sees both peers current", func() bool {
		for _, j := range sysRequest[jsz](t, sys, "JSZ") {
			if j.Meta == nil || j.Meta.Leader == "" || len(j.Meta.Replicas) != n-1 {
				continue
			}
			ok := true
			for _, r := range j.Meta.Replicas {
				ok = ok && r.Current && !r.Offline
			}
			if ok {
				return true
			}
		}
		return false
	})
	return f
}

// TestSecuredFleet runs the topology SECURITY.md describes, every part a
// process of its own: a three-member NATS cluster of pulse brokers with TLS
// that trust only pulse's issuer, three agents and the collector with the
// credentials an operator issued, real Prometheus and Alertmanager, and the
// CLI. It pings, stops nginx on a node and sees the loop repair it; then it
// tries the attacks: no credentials, a node's credentials speaking for
// another node or reading a user's replies, a user's credentials publishing
// results or requests under another user's name, a loose credentials file,
// a revoked user; and it kills the broker the collector is on.
func TestSecuredFleet(t *testing.T) {
	testkit.NeedBinary(t, "service", "init-system-helpers")
	testkit.NeedBinary(t, "nginx", "nginx-light")
	checkProcs := testkit.NeedBinary(t, "/usr/lib/nagios/plugins/check_procs", "monitoring-plugins-basic")
	promBin, amBin := testkit.RealPart(t, "prometheus"), testkit.RealPart(t, "alertmanager")
	testkit.NeedRoot(t, "to drive service(8)")
	hostlock.Lock(t, "nginx")
	if out, err := exec.Command("service", "nginx", "start").CombinedOutput(); err != nil {
		t.Fatalf("service nginx start: %v\n%s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("service", "nginx", "stop").Run() })

	f := startSecuredFleet(t)
	urls := "[" + strings.Join(f.urls, ", ") + "]"
	var issuers struct {
		SigningKeys map[string]string `json:"signing_keys"`
	}
	out, _, _ := run(t, f.bin, f.env, "keys", "issuer", "--issuer", f.issuer, "--json")
	if err := json.Unmarshal([]byte(out), &issuers); err != nil {
		t.Fatal(err)
	}
	policy := write(t, filepath.Join(f.dir, "policy.yaml"), `rules:
  - {name: anyone may read, effect: allow, callers: ["*"], agent: rpcutil}
  - {name: anyone may read services, effect: allow, callers: ["*"], agent: service, actions: [status]}
  - {name: ops may do anything, effect: allow, callers: ["group:ops"], agent: "*"}
  - {name: automation restarts services, effect: allow, callers: ["group:automation"], agent: service, actions: [restart, status]}
  - {name: automation verifies with the checks, effect: allow, callers: ["group:automation"], agent: nrpe, actions: [runcommand]}
`, 0o644)

	// Three agents. web-1 drives the host's real nginx through service(8)
	// and checks it with a real Nagios plugin; the others simulate theirs.
	for i, name := range []string{"web-1", "web-2", "web-3"} {
		facts := write(t, filepath.Join(f.dir, name+"-facts.yaml"), "ec2_placement_availability_zone: eu-west-1a\nrole: web\ncluster: secured\n", 0o644)
		service, checks := "sim", "checks: [{name: check_load, interval: 2s}]\n"
		if i == 0 {
			service = "sysv"
			checks = fmt.Sprintf("nrpe:\n  commands:\n    check_nginx: [%s, -c, \"1:\", -C, nginx]\nchecks: [{name: check_nginx, interval: 1s}]\n", checkProcs)
		}
		cfg := write(t, filepath.Join(f.dir, name+".yaml"), fmt.Sprintf(`nats:
  urls: %s
  ca_file: %s
  creds_file: %s
register_interval: 1s
facts: {files: [%s]}
package: {provider: sim}
service: {provider: %s}
audit_log: %s
%ssecurity:
  issuers: {users: [%s], collectors: [%s]}
  policy_file: %s
`, urls, f.ca, f.creds[name], facts, service, filepath.Join(f.dir, name+"-audit.log"), checks,
			issuers.SigningKeys["user"], issuers.SigningKeys["collector"], policy), 0o644)
		start(t, "agent "+name, f.bin, nil, "agent", "--config", cfg, "--log-level", "info")
	}

	// The collector, with nothing but its own credentials, and the real
	// Prometheus and Alertmanager around it.
	f.collectorAddr = fmt.Sprintf("127.0.0.1:%d", testkit.FreePort(t))
	f.actionToken = "human-token"
	alertToken := "alertmanager-token"
	rules, err := filepath.Abs("../rules/remediation.yaml")
	if err != nil {
		t.Fatal(err)
	}
	collectorCfg := write(t, filepath.Join(f.dir, "collector.yaml"), fmt.Sprintf(`nats:
  urls: %s
  ca_file: %s
  creds_file: %s
listen: %s
replicas: 3
remediation_rules: %s
action_token_file: %s
alert_token_file: %s
audit_log: %s
`, urls, f.ca, f.creds["collector"], f.collectorAddr, rules,
		write(t, filepath.Join(f.dir, "action.token"), f.actionToken+"\n", 0o600),
		write(t, filepath.Join(f.dir, "alert.token"), alertToken+"\n", 0o600),
		filepath.Join(f.dir, "collector-audit.log")), 0o644)
	collectorProc := start(t, "collector", f.bin, nil, "collector", "--config", collectorCfg, "--log-level", "info")
	collectorAPI := &api.Client{Base: "http://" + f.collectorAddr, Token: f.actionToken}
	node := func(id string) (api.NodeView, bool) {
		var v api.NodeView
		err := collectorAPI.Do("GET", "/api/v1/nodes/"+id, nil, &v)
		return v, err == nil
	}
	check := func(id, name string) api.CheckView {
		v, _ := node(id)
		for _, c := range v.Checks {
			if c.Name == name {
				return c
			}
		}
		return api.CheckView{}
	}
	testkit.WaitFor(t, 60*time.Second, "the collector, on its streams, to know every node up", func() bool {
		var h map[string]any
		if collectorProc.exited() {
			t.Fatalf("the collector exited:\n%s", collectorProc.out.String())
		}
		if collectorAPI.Do("GET", "/healthz", nil, &h) != nil || h["mode"] != "jetstream" {
			return false
		}
		for _, id := range []string{"web-1", "web-2", "web-3"} {
			if v, ok := node(id); !ok || !v.Up {
				return false
			}
		}
		return check("web-1", "check_nginx").State == "OK"
	})
	stackLog := &testkit.SyncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if err := os.MkdirAll(filepath.Join(f.dir, "stack"), 0o755); err != nil {
		t.Fatal(err)
	}
	prom, am, err := demo.StartStack(ctx, demo.StackOptions{
		Dir: filepath.Join(f.dir, "stack"), Prometheus: promBin, Alertmanager: amBin, Log: stackLog,
		PrometheusAddr: fmt.Sprintf("127.0.0.1:%d", testkit.FreePort(t)), AlertmanagerAddr: fmt.Sprintf("127.0.0.1:%d", testkit.FreePort(t)),
		Collector: f.collectorAddr, AlertToken: alertToken,
	})
	if err != nil {
		t.Fatalf("start Prometheus and Alertmanager: %v\n%s", err, stackLog.String())
	}
	t.Cleanup(func() { prom.Stop(); am.Stop() })

	// The CLI: ping, and a service change that the loop repairs.
	f.listed(t)
	out, errOut, code := f.cli(t, "alice", "ping", "--json", "--discovery-timeout", "10s", "--discovery-quiet", "1s")
	var ping struct {
		Count int `json:"count"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &ping) != nil || ping.Count != 3 {
		t.Fatalf("pulse ping: exit %d %s\n%s", code, errOut, out)
	}
	out, errOut, code = f.cli(t, "alice", "service", "nginx", "stop", "-I", "web-1", "--discovery-timeout", "10s")
	if code != 0 || !strings.Contains(out, "stopped") {
		t.Fatalf("pulse service nginx stop: exit %d %s\n%s", code, errOut, out)
	}
	testkit.WaitFor(t, 120*time.Second, "a verified remediation of web-1's nginx", func() bool {
		var recs struct {
			Remediations []remediation.Record `json:"remediations"`
		}
		if collectorAPI.Do("GET", "/api/v1/remediations", nil, &recs) != nil {
			return false
		}
		for _, r := range recs.Remediations {
			if r.State == "succeeded" && r.Verified && len(r.Targets) == 1 && r.Targets[0] == "web-1" {
				return true
			}
		}
		return false
	})
	if err := exec.Command("pgrep", "-x", "nginx").Run(); err != nil {
		t.Fatal("no nginx process after the remediation reported success")
	}
	audit, _ := os.ReadFile(filepath.Join(f.dir, "web-1-audit.log"))
	if !bytes.Contains(audit, []byte(`"caller":"user=alice","key_fingerprint"`)) || !bytes.Contains(audit, []byte(`"caller":"collector"`)) {
		t.Fatalf("web-1's audit does not name alice's stop and the collector's restart:\n%s", audit)
	}

	t.Run("no credentials", func(t *testing.T) {
		_, errOut, code := f.cli(t, "", "ping", "--discovery-timeout", "1s")
		if code != 1 || !strings.Contains(errOut, "refused an anonymous connection") {
			t.Fatalf("ping without credentials: exit %d %q", code, errOut)
		}
		if _, err := f.dial("", nil); !errors.Is(err, nats.ErrAuthorization) {
			t.Fatalf("anonymous login: %v", err)
		}
	})

	s := protocol.Subjects{Collective: "pulse"}
	refused := func(t *testing.T, nc *nats.Conn, errs *brokertest.AsyncErrors, publish []string, subscribe []string) {
		t.Helper()
		for _, subj := range publish {
			if err := nc.Publish(subj, []byte(`{"pulse":1}`)); err != nil {
				t.Fatal(err)
			}
		}
		for _, subj := range subscribe {
			if _, err := nc.Subscribe(subj, func(*nats.Msg) {}); err != nil {
				t.Fatal(err)
			}
		}
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
		for _, subj := range publish {
			testkit.WaitFor(t, 5*time.Second, "the broker refusing a publish to "+subj, func() bool {
				return errs.Has(fmt.Sprintf("Permissions Violation for Publish to %q", subj))
			})
		}
		for _, subj := range subscribe {
			testkit.WaitFor(t, 5*time.Second, "the broker refusing a subscription to "+subj, func() bool {
				return errs.Has(fmt.Sprintf("Permissions Violation for Subscription to %q", subj))
			})
		}
	}

	t.Run("a node speaks only for itself", func(t *testing.T) {
		errs := &brokertest.AsyncErrors{}
		nc, err := f.dial("web-2", errs)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		before := check("web-1", "check_nginx")
		refused(t, nc, errs,
			[]string{s.Reply("user=alice", "0123456789abcdef", "web-1"), s.Registry("web-1"), s.Results("web-1", "check_nginx"), s.Agent("service", "user=alice")},
			[]string{s.RepliesTo("user=alice"), s.NodeAll("web-1")})
		if after := check("web-1", "check_nginx"); after.State != "OK" || after.LastRun.Before(before.LastRun) {
			t.Fatalf("web-1's check after web-2's forgeries: %+v", after)
		}
	})

	t.Run("a user neither reports results nor speaks for another", func(t *testing.T) {
		errs := &brokertest.AsyncErrors{}
		nc, err := f.dial("mallory", errs)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		refused(t, nc, errs,
			[]string{s.Results("web-1", "check_nginx"), s.Registry("web-1"), s.Agent("service", "user=alice"), s.Node("web-1", "collector"),
				"$JS.API.STREAM.PURGE." + s.ResultsStream()},
			[]string{s.RepliesTo("user=alice"), s.AgentAll("service")})
	})

	t.Run("loose credentials refuse to start", func(t *testing.T) {
		loose := write(t, filepath.Join(f.dir, "loose.creds"), string(must(os.ReadFile(f.creds["web-3"]))), 0o644)
		cfg := write(t, filepath.Join(f.dir, "loose.yaml"), fmt.Sprintf("nats:\n  urls: %s\n  ca_file: %s\n  creds_file: %s\nsecurity:\n  issuers: {users: [%s]}\n", urls, f.ca, loose, issuers.SigningKeys["user"]), 0o644)
		_, errOut, code := run(t, f.bin, nil, "agent", "--config", cfg)
		if code != 2 || !strings.Contains(errOut, "nats creds file "+loose+" has mode -rw-r--r--") || !strings.Contains(errOut, "chmod 600 "+loose) {
			t.Fatalf("agent with loose credentials: exit %d %q", code, errOut)
		}
	})

	t.Run("a revoked user is dropped by every member", func(t *testing.T) {
		nc, err := f.dial("mallory", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		out, errOut, code := run(t, f.bin, f.env, "keys", "revoke", "mallory", "--issuer", f.issuer, "--push",
			"--nats", strings.Join(f.urls, ","), "--tls-ca", f.ca)
		if code != 0 || strings.Count(out, "took the account") != 3 {
			t.Fatalf("revoke --push: exit %d %s\n%s", code, errOut, out)
		}
		// Dropped, and refused on whatever member it reconnects to.
		testkit.WaitFor(t, 15*time.Second, "mallory's connection closed", nc.IsClosed)
		for i, u := range f.urls {
			_, err := bus.Dial(bus.Config{URLs: []string{u}, TLS: bus.TLS{CAFile: f.ca}, Credentials: bus.Credentials{CredsFile: f.creds["mallory"]}})
			if !errors.Is(err, bus.ErrRefused) {
				t.Errorf("mallory at b%d: %v", i, err)
			}
		}
		if _, _, code := f.cli(t, "alice", "ping", "--discovery-timeout", "5s", "--discovery-quiet", "1s"); code != 0 {
			t.Fatalf("alice after mallory's revocation: exit %d", code)
		}
	})

	t.Run("the collector keeps working when its broker dies", func(t *testing.T) {
		sys, err := f.dial("sys", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer sys.Close()
		type connz struct {
			Server string `json:"server_id"`
			Conns  []struct {
				Name string `json:"name"`
			} `json:"connections"`
		}
		type varz struct {
			ID   string `json:"server_id"`
			Name string `json:"server_name"`
		}
		victim := -1
		testkit.WaitFor(t, 10*time.Second, "the broker the collector is on", func() bool {
			index := map[string]int{}
			for _, v := range sysRequest[varz](t, sys, "VARZ") {
				if i, err := strconv.Atoi(strings.TrimPrefix(v.Name, "b")); err == nil {
					index[v.ID] = i
				}
			}
			for _, c := range sysRequest[connz](t, sys, "CONNZ") {
				for _, conn := range c.Conns {
					if i, ok := index[c.Server]; ok && conn.Name == "pulse collector" {
						victim = i
					}
				}
			}
			return victim >= 0
		})
		t.Logf("killing broker b%d, which the collector is connected to", victim)
		f.brokers[victim].kill()
		killed := time.Now()
		t.Cleanup(func() {
			if t.Failed() {
				f.diagnose(t)
			}
		})
		testkit.WaitFor(t, 60*time.Second, "every node up, with results newer than the kill", func() bool {
			for id, name := range map[string]string{"web-1": "check_nginx", "web-2": "check_load", "web-3": "check_load"} {
				if v, _ := node(id); !v.Up || !check(id, name).LastRun.After(killed.Add(time.Second)) {
					return false
				}
			}
			return true
		})
		f.listed(t)
		out, errOut, code := f.cli(t, "alice", "ping", "--json", "--discovery-timeout", "10s", "--discovery-quiet", "1s")
		if code != 0 || json.Unmarshal([]byte(out), &ping) != nil || ping.Count != 3 {
			t.Fatalf("ping after the kill: exit %d %s\n%s", code, errOut, out)
		}
		if resp, err := http.Get("http://" + f.collectorAddr + "/metrics"); err != nil || resp.StatusCode != 200 {
			t.Fatalf("/metrics after the kill: %v", err)
		}
	})
}

// listed waits until the fleet registry, which the CLI discovers from,
// lists every node. An agent writes its key on every heartbeat, so one that
// started before the collector made the bucket, or that was reconnecting
// after a kill, is listed a heartbeat later.
func (f *securedFleet) listed(t *testing.T) {
	t.Helper()
	nc, err := f.dial("alice", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	var seen int
	testkit.WaitFor(t, 30*time.Second, "the fleet registry to list every node", func() bool {
		s, err := registry.Read(context.Background(), nc, "pulse", registry.ReadOptions{})
		if err == nil {
			seen = len(s.Entries)
		}
		return seen == 3
	})
}

// diagnose logs what the streams and the collector say, for a failure.
func (f *securedFleet) diagnose(t *testing.T) {
	nc, err := f.dial("root", nil)
	if err != nil {
		t.Logf("diagnose: %v", err)
		return
	}
	defer nc.Close()
	for _, st := range []string{"PULSE_RESULTS_pulse", "PULSE_REGISTRY_pulse"} {
		m, err := nc.Request("$JS.API.STREAM.INFO."+st, nil, 2*time.Second)
		if err != nil {
			t.Logf("stream %s: %v", st, err)
			continue
		}
		t.Logf("stream %s: %s", st, tail(string(m.Data), 1500))
		m, err = nc.Request("$JS.API.CONSUMER.LIST."+st, nil, 2*time.Second)
		if err == nil {
			t.Logf("consumers of %s: %s", st, tail(string(m.Data), 2000))
		}
	}
	if resp, err := http.Get("http://" + f.collectorAddr + "/metrics"); err == nil {
		defer resp.Body.Close()
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		for _, l := range strings.Split(b.String(), "\n") {
			if strings.HasPrefix(l, "pulse_collector_") {
				t.Log(l)
			}
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
