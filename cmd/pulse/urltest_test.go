//go:build !agentonly

package main

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pulseops/pulse/demo"
	"github.com/pulseops/pulse/internal/bus"
	"github.com/pulseops/pulse/internal/hostlock"
	"github.com/pulseops/pulse/internal/testkit"
	"github.com/pulseops/pulse/nodeagent"
	"github.com/pulseops/pulse/nodeagent/actions"
)

// joinAgent starts one more real agent on the demo's bus, trusted as the
// demo's nodes are, hosting agents.
func joinAgent(t *testing.T, d *demo.Demo, id string, facts map[string]any, agents ...actions.Agent) {
	t.Helper()
	creds, err := d.Identity.IssueNode(id)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := bus.Dial(bus.Config{URLs: []string{d.NATSURL()}, Credentials: bus.Credentials{CredsFile: creds}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	a, err := nodeagent.New(nodeagent.Options{
		Identity: id, Conn: nc, Facts: staticFacts(facts), Agents: agents,
		Verify: d.Identity.Verifier.Verify, Authorize: d.Identity.Policy.Authorize,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Stop)
}

type staticFacts map[string]any

func (f staticFacts) Facts() map[string]any { return f }

// hangingServer accepts connections and never answers.
func hangingServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	return "http://" + ln.Addr().String() + "/"
}

// pulse urltest against real HTTP servers on this host: one line per node
// and a summary; each bad URL a clear error from every node within the
// request's deadline.
func TestURLTestCommand(t *testing.T) {
	d := fleet(t)
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(strings.Repeat("x", 1000))) })
	mux.HandleFunc("/loop", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/loop", http.StatusFound) })
	srv := httptest.NewServer(mux)
	defer srv.Close()
	// A node whose config lets it test only localhost.
	picky, err := actions.NewURLTestAgent(actions.URLTestOptions{AllowHosts: []string{"localhost"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	joinAgent(t, d, "ip-10-0-9-10", map[string]any{"cluster": "gamma"}, picky)

	out, errOut, code := pulse(t, d, "urltest", srv.URL+"/ok", "-F", "cluster=alfa")
	lines := regexp.MustCompile(`(?m)^ip-10-0-\d-\d+ +200( +\d+\.\d{4}){6} +1000$`).FindAllString(out, -1)
	if code != exitOK || len(lines) != 6 || !strings.Contains(out, "NODE                           STATUS        DNS    CONNECT        TLS   PRE-XFER START-XFER      TOTAL      BYTES") ||
		!strings.Contains(out, "Summary of 6 nodes, seconds:") || !regexp.MustCompile(`(?m)^    TOTAL +min: \d\.\d{4}  avg: \d\.\d{4}  max: \d\.\d{4}$`).MatchString(out) ||
		!strings.Contains(out, "Finished processing 6 / 6 hosts") {
		t.Fatalf("urltest: exit %d, %d node lines\n%s\n%s", code, len(lines), out, errOut)
	}

	out, _, code = pulse(t, d, "urltest", srv.URL+"/ok", "-I", "ip-10-0-9-10", "--json")
	var res struct {
		Replies []struct {
			Status int    `json:"statuscode"`
			Msg    string `json:"statusmsg"`
		} `json:"replies"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || code != exitFailed || len(res.Replies) != 1 || res.Replies[0].Status != 6 ||
		res.Replies[0].Msg != "urltest: host 127.0.0.1 is not in this agent's urltest allow_hosts (localhost)" {
		t.Fatalf("a host the allow-list refuses: exit %d, %v\n%s", code, err, out)
	}

	// Every node answers each of these with its error, before the client
	// stops waiting (12 / 12), and the command exits 1.
	for _, tc := range []struct {
		url, msg string
		others   string // the picky node's, when it differs
	}{
		{"file:///etc/passwd", `urltest fetches only http and https URLs, not "file:"`, ""},
		{"gopher://127.0.0.1:70/", `urltest fetches only http and https URLs, not "gopher:"`, ""},
		{srv.URL + "/loop", "urltest " + srv.URL + "/loop: redirect loop: stopped after 10 redirects, the last to " + srv.URL + "/loop", "allow_hosts"},
		{hangingServer(t), "no response within the urltest timeout of 8s", "allow_hosts"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		out, errOut, code := pulseCtx(ctx, "urltest", tc.url, "--timeout", "10", "--nats", d.NATSURL(), "--creds", d.Identity.UserCreds)
		cancel()
		want := 12
		if tc.others != "" {
			want = 11
			if !strings.Contains(out, "ip-10-0-9-10                   urltest: host 127.0.0.1 is not in this agent's urltest allow_hosts (localhost)") {
				t.Errorf("%s: the picky node did not refuse the host:\n%s", tc.url, out)
			}
		}
		if n := strings.Count(out, tc.msg); code != exitFailed || n != want || !strings.Contains(out, "Finished processing 12 / 12 hosts") || strings.Contains(out, "Summary of") {
			t.Errorf("%s: exit %d, %d nodes said %q, want %d\n%s\n%s", tc.url, code, n, tc.msg, want, out, errOut)
		}
	}
}

// The walkthrough against a real node part: the host's sysv nginx, driven
// through service(8) by a real agent on the demo's bus, named in either
// order, then fetched by that agent's urltest.
func TestRealNginxServiceAndURLTest(t *testing.T) {
	testkit.NeedBinary(t, "service", "init-system-helpers")
	testkit.NeedBinary(t, "nginx", "nginx-light")
	testkit.NeedRoot(t, "to drive service(8)")
	hostlock.Lock(t, "nginx")
	d := fleet(t)
	urltest, _ := actions.NewURLTestAgent(actions.URLTestOptions{AllowHosts: []string{"127.0.0.1"}}, nil)
	sysv := actions.NewServiceAgent(actions.NewSysvProvider(actions.NewExecRunner(actions.ExecRunnerOptions{}, nil)), nil)
	joinAgent(t, d, "localhost-nginx", map[string]any{"role": "web"}, sysv, urltest)
	t.Cleanup(func() { _ = exec.Command("service", "nginx", "stop").Run() })

	out, _, code := pulse(t, d, "service", "start", "nginx", "-I", "localhost-nginx")
	if code != exitOK || !strings.Contains(out, "localhost-nginx                          running") {
		t.Fatalf("service start nginx (action first): exit %d\n%s", code, out)
	}
	out, _, code = pulse(t, d, "urltest", "http://127.0.0.1/", "-I", "localhost-nginx")
	if code != exitOK || !regexp.MustCompile(`(?m)^localhost-nginx +200( +\d+\.\d{4}){6} +\d+$`).MatchString(out) {
		t.Fatalf("urltest of the real nginx: exit %d\n%s", code, out)
	}
	out, _, code = pulse(t, d, "service", "nginx", "stop", "-I", "localhost-nginx")
	if code != exitOK || !strings.Contains(out, "localhost-nginx                          stopped") {
		t.Fatalf("service nginx stop: exit %d\n%s", code, out)
	}
	out, _, code = pulse(t, d, "urltest", "http://127.0.0.1/", "-I", "localhost-nginx")
	if code != exitFailed || !strings.Contains(out, "urltest http://127.0.0.1/: dial tcp 127.0.0.1:80: connect: connection refused") {
		t.Fatalf("urltest of the stopped nginx: exit %d\n%s", code, out)
	}
}
