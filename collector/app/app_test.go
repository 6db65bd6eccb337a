package app_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats.go"

	"github.com/pulseops/pulse/collector"
	"github.com/pulseops/pulse/collector/api"
	"github.com/pulseops/pulse/collector/app"
	"github.com/pulseops/pulse/collector/collectortest"
	"github.com/pulseops/pulse/internal/broker/brokertest"
	"github.com/pulseops/pulse/internal/bus"
	"github.com/pulseops/pulse/internal/protocol"
	"github.com/pulseops/pulse/internal/security"
	"github.com/pulseops/pulse/internal/testkit"
	"github.com/pulseops/pulse/nodeagent"
	"github.com/pulseops/pulse/nodeagent/actions"
)

type factMap map[string]any

func (f factMap) Facts() map[string]any { return f }

// startServer runs a collector server and n agents with simulated services
// on an embedded broker.
func startServer(t *testing.T, n int) (*app.App, map[string]*actions.SimServiceProvider) {
	t.Helper()
	br := brokertest.Start(t)
	svcs := map[string]*actions.SimServiceProvider{}
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("node-%02d", i)
		zone := []string{"eu-west-1a", "eu-west-1b"}[i%2]
		nc, err := bus.Connect(bus.Config{URLs: []string{br.ClientURL()}, Name: id}, nil)
		if err != nil {
			t.Fatal(err)
		}
		svc := actions.NewSimServiceProvider(actions.SimServiceOptions{Delay: -1})
		svcs[id] = svc
		a, err := nodeagent.New(nodeagent.Options{Identity: id, Conn: nc, Facts: factMap{"ec2_placement_availability_zone": zone},
			Agents: []actions.Agent{actions.NewServiceAgent(svc, nil)}})
		if err != nil {
			t.Fatal(err)
		}
		if err := a.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(a.Stop)
	}
	nc, err := bus.Connect(bus.Config{URLs: []string{br.ClientURL()}, Name: "collector"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	s, err := app.New(app.Options{Listen: "127.0.0.1:0", ActionToken: "human-token", AlertToken: "am-token", Conn: nc})
	if err != nil {
		t.Fatal(err)
	}
	start(t, s)
	return s, svcs
}

func post(t *testing.T, url, token, body string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	return resp, b.Bytes()
}

func TestActionEndpointRunsOnTheFilteredNodes(t *testing.T) {
	s, svcs := startServer(t, 6)
	url := "http://" + s.Addr() + "/api/v1/actions"
	body := `{"agent":"service","action":"stop","data":{"service":"httpd"},"filter":{"fact":["ec2_placement_availability_zone=eu-west-1b"]},"batch":2}`
	resp, b := post(t, url, "human-token", body)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	var rec api.ActionRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		t.Fatal(err)
	}
	if rec.State != "done" || !rec.OK || len(rec.Result.Replies) != 3 {
		t.Fatalf("record: state %s ok %v replies %d: %s", rec.State, rec.OK, len(rec.Result.Replies), b)
	}
	for id, svc := range svcs {
		zoneB := id == "node-01" || id == "node-03" || id == "node-05"
		if svc.Running("httpd") == zoneB {
			t.Errorf("%s: httpd running=%v after stopping eu-west-1b", id, svc.Running("httpd"))
		}
	}
	// The record is kept under its id.
	var again api.ActionRecord
	client := &api.Client{Base: "http://" + s.Addr(), Token: "human-token"}
	if err := client.Do("GET", "/api/v1/actions/"+rec.ID, nil, &again); err != nil || again.ID != rec.ID {
		t.Fatalf("GET action %s: %v %+v", rec.ID, err, again)
	}
}

func TestActionEndpointAsync(t *testing.T) {
	s, _ := startServer(t, 2)
	client := &api.Client{Base: "http://" + s.Addr(), Token: "human-token"}
	var started map[string]string
	if err := client.Do("POST", "/api/v1/actions", map[string]any{"agent": "service", "action": "restart", "data": map[string]string{"service": "cron"},
		"nodes": []string{"node-00", "node-01"}, "async": true}, &started); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		var rec api.ActionRecord
		if err := client.Do("GET", "/api/v1/actions/"+started["id"], nil, &rec); err != nil {
			t.Fatal(err)
		}
		if rec.State == "done" {
			if !rec.OK || len(rec.Result.Replies) != 2 {
				t.Fatalf("async action: %+v", rec)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("async action still %s", rec.State)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestActionEndpointRefusals(t *testing.T) {
	s, svcs := startServer(t, 2)
	url := "http://" + s.Addr() + "/api/v1/actions"
	stop := `{"agent":"service","action":"stop","data":{"service":"cron"},"nodes":["node-00"]}`
	cases := []struct {
		name, token, body string
		code              int
		msg               string
	}{
		{"no token", "", stop, 401, "missing or wrong bearer token"},
		{"wrong token", "am-token", stop, 401, "missing or wrong bearer token"},
		{"whole fleet", "human-token", `{"agent":"service","action":"stop","data":{"service":"cron"}}`, 400, "refusing to act on the whole fleet"},
		{"bad filter", "human-token", `{"agent":"service","action":"stop","filter":{"compound":"role=web and ("}}`, 400, "column"},
		{"unknown field", "human-token", `{"agent":"service","action":"stop","nodes":["node-00"],"bogus":1}`, 400, "unknown field"},
		{"bad batch", "human-token", `{"agent":"service","action":"stop","nodes":["node-00"],"batch":"lots"}`, 400, "batch"},
		{"huge", "human-token", `{"agent":"service","action":"stop","nodes":["` + strings.Repeat("a", 2<<20) + `"]}`, 413, "body larger than"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, b := post(t, url, tc.token, tc.body)
			if resp.StatusCode != tc.code || !strings.Contains(string(b), tc.msg) {
				t.Fatalf("status %d %s, want %d containing %q", resp.StatusCode, b, tc.code, tc.msg)
			}
		})
	}
	for id, svc := range svcs {
		if !svc.Running("cron") {
			t.Fatalf("a refused request stopped cron on %s", id)
		}
	}
	// Without a token the alerts endpoint is closed too, when rules exist;
	// read-only fleet endpoints stay open.
	resp, err := http.Get("http://" + s.Addr() + "/api/v1/nodes")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /api/v1/nodes: %v %v", err, resp.Status)
	}
	resp.Body.Close()
}

// With a web config file the API is served over HTTPS only, to clients
// whose certificate the configured CA signed; a renewed certificate is
// served without a restart.
func TestServerTLS(t *testing.T) {
	dir := t.TempDir()
	pki, err := security.WritePKI(dir, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	webConfig := filepath.Join(dir, "web.yml")
	writeWebConfig(t, webConfig, fmt.Sprintf("tls_server_config:\n  cert_file: %s\n  key_file: %s\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: %s\n",
		pki.ServerCert, pki.ServerKey, pki.CAFile))
	br := brokertest.Start(t)
	nc, err := nats.Connect(br.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	s, err := app.New(app.Options{Listen: "127.0.0.1:0", WebConfigFile: webConfig, Conn: nc})
	if err != nil {
		t.Fatal(err)
	}
	start(t, s)
	client := func(caFile string, withCert bool) *http.Client {
		ca, err := os.ReadFile(caFile)
		if err != nil {
			t.Fatal(err)
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(ca)
		cfg := &tls.Config{RootCAs: pool}
		if withCert {
			cert, err := tls.LoadX509KeyPair(pki.ClientCert, pki.ClientKey)
			if err != nil {
				t.Fatal(err)
			}
			cfg.Certificates = []tls.Certificate{cert}
		}
		return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true}}
	}
	get := func(hc *http.Client) error {
		resp, err := hc.Get("https://" + s.Addr() + "/healthz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("HTTPS /healthz: %s", resp.Status)
		}
		return nil
	}
	if err := get(client(pki.CAFile, true)); err != nil {
		t.Fatalf("HTTPS with a client certificate: %v", err)
	}
	// The attack: a client without a certificate, and plain HTTP.
	if err := get(client(pki.CAFile, false)); err == nil {
		t.Fatal("a client without a certificate was served")
	}
	if resp, err := http.Get("http://" + s.Addr() + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Fatal("plain HTTP answered 200 on a TLS collector")
		}
	}

	// Renew: a certificate from another CA replaces the files in place.
	// The next connection gets it, with no restart.
	renewed, err := security.WritePKI(t.TempDir(), "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	for src, dst := range map[string]string{renewed.ServerCert: pki.ServerCert, renewed.ServerKey: pki.ServerKey} {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := get(client(renewed.CAFile, true)); err != nil {
		t.Fatalf("after renewal, a client trusting the new CA: %v", err)
	}
	if err := get(client(pki.CAFile, true)); err == nil {
		t.Fatal("after renewal, the old certificate is still served")
	}
}

// TestWebConfigRefused: what the collector will not start with, each with
// the reason.
func TestWebConfigRefused(t *testing.T) {
	dir := t.TempDir()
	pki, err := security.WritePKI(dir, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, cfg, want string }{
		{"basic auth", fmt.Sprintf("tls_server_config: {cert_file: %s, key_file: %s}\nbasic_auth_users: {alice: x}\n", pki.ServerCert, pki.ServerKey),
			"basic_auth_users is not supported: the collector authenticates with its bearer tokens"},
		{"missing key", fmt.Sprintf("tls_server_config: {cert_file: %s, key_file: %s}\n", pki.ServerCert, filepath.Join(dir, "nope.pem")),
			"nope.pem"},
		{"key of another certificate", fmt.Sprintf("tls_server_config: {cert_file: %s, key_file: %s}\n", pki.ServerCert, pki.ClientKey),
			"private key does not match public key"},
		{"unknown key", "tls_server_config: {cert_fil: x}\n", "cert_fil"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".yml")
			writeWebConfig(t, p, tc.cfg)
			_, err := app.CheckWebConfig(p)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("CheckWebConfig = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func writeWebConfig(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

// start runs s until the test ends, and checks that it stopped cleanly.
func start(t *testing.T, s *app.App) {
	t.Helper()
	stop, err := s.Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("collector app: %v", err)
		}
	})
}

// The app serves the web view, its data and the event websocket on its
// one listener, and closes the websockets with "going away" when it stops
// (http.Server.Shutdown alone would leave them open).
func TestAppServesWebViewAndEvents(t *testing.T) {
	br := brokertest.Start(t)
	nc, err := nats.Connect(br.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	s, err := app.New(app.Options{Listen: "127.0.0.1:0", ActionToken: "tok", Conn: nc,
		Collector: collector.Options{Collective: collectortest.Collective}})
	if err != nil {
		t.Fatal(err)
	}
	stop, err := s.Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stop() })
	base := "http://" + s.Addr()

	for _, tt := range []struct{ path, ctype, contains string }{
		{"/", "text/html; charset=utf-8", `<script src="static/app.js"></script>`},
		{"/static/app.js", "text/javascript; charset=utf-8", `new WebSocket(url, protocols)`},
		{"/static/style.css", "text/css; charset=utf-8", `td.state-critical`},
	} {
		resp, err := http.Get(base + tt.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != tt.ctype || !strings.Contains(string(body), tt.contains) {
			t.Errorf("GET %s: %d %q, body has %q: %v", tt.path, resp.StatusCode, resp.Header.Get("Content-Type"), tt.contains, strings.Contains(string(body), tt.contains))
		}
	}
	if resp, err := http.Get(base + "/nope"); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /nope: %v %v, want 404 (the page is served at / only)", err, resp)
	}

	if _, resp, err := websocket.DefaultDialer.Dial("ws://"+s.Addr()+"/api/v1/events", nil); err == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("events without the action token: %v %v, want 401", err, resp)
	}
	// recent= closes the window between the upgrade the dialer sees and
	// the hub adding the client: an event fanned out in it is replayed.
	conn, resp, err := websocket.DefaultDialer.Dial("ws://"+s.Addr()+"/api/v1/events?filter=ec2_placement_availability_zone%3Deu-west-1a&recent=16", http.Header{"Authorization": {"Bearer tok"}})
	if err != nil {
		t.Fatalf("events with the token: %v %v", err, resp)
	}
	defer conn.Close()
	got := make(chan string, 16)
	closed := make(chan error, 1)
	go func() {
		for {
			var e protocol.Event
			if err := conn.ReadJSON(&e); err != nil {
				closed <- err
				return
			}
			got <- e.Type + " " + e.Identity
		}
	}()

	now := time.Now()
	subj := protocol.Subjects{Collective: collectortest.Collective}
	for i := range 4 {
		id := fmt.Sprintf("node-%02d", i)
		r := collectortest.Registration(id, map[string]any{"ec2_placement_availability_zone": fmt.Sprintf("eu-west-1%c", 'a'+i%2)})
		r.Time = now
		if err := nc.Publish(subj.Registry(id), collectortest.Wire(t, r)); err != nil {
			t.Fatal(err)
		}
	}
	var events []string
	for len(events) < 2 {
		select {
		case e := <-got:
			events = append(events, e)
		case <-time.After(10 * time.Second):
			t.Fatalf("events of eu-west-1a: %q", events)
		}
	}
	sort.Strings(events)
	if strings.Join(events, ",") != "node_up node-00,node_up node-02" {
		t.Fatalf("events of eu-west-1a: %q", events)
	}

	// The events name the first zone's nodes; the view has all four once
	// the last heartbeat is in.
	var view api.FleetView
	testkit.WaitFor(t, 10*time.Second, "the view of four nodes", func() bool {
		vresp, err := http.Get(base + "/api/v1/view")
		if err != nil {
			t.Fatal(err)
		}
		defer vresp.Body.Close()
		view = api.FleetView{}
		if err := json.NewDecoder(vresp.Body).Decode(&view); err != nil {
			t.Fatal(err)
		}
		return view.Total == 4
	})
	if view.Total != 4 || view.Shown != 4 || len(view.Zones) != 2 || view.Zones[0].Zone != "eu-west-1a" || len(view.Zones[1].Nodes) != 2 {
		t.Fatalf("view: %+v", view)
	}
	if text := httptestGet(t, s.Collector().Handler(), "/metrics"); !strings.Contains(text, "pulse_events_clients 1") {
		t.Errorf("/metrics lacks pulse_events_clients 1")
	}
	// Stopping the app closes the websockets and returns.
	if err := stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if ce, ok := (<-closed).(*websocket.CloseError); !ok || ce.Code != websocket.CloseGoingAway {
		t.Fatalf("after the app stopped: %v, want close 1001", ce)
	}
}

func httptestGet(t *testing.T, h http.Handler, path string) string {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	return rec.Body.String()
}

// TestOverviewEndpoints: the alerts need the humans' token, as the
// remediations do; the SLOs and the last hour are open, as /metrics is;
// without rules and Alertmanager the alerts say where they would come
// from, and a bad URL for either is refused at New.
func TestOverviewEndpoints(t *testing.T) {
	s, _ := startServer(t, 2)
	base := "http://" + s.Addr()
	get := func(path, token string) (int, []byte) {
		req, _ := http.NewRequest("GET", base+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		return resp.StatusCode, b.Bytes()
	}
	if code, _ := get("/api/v1/alerts", ""); code != http.StatusUnauthorized {
		t.Errorf("alerts without the token: %d", code)
	}
	if code, b := get("/api/v1/alerts", "human-token"); code != 200 || string(b) != `{"source":"webhook","alerts":[]}`+"\n" {
		t.Errorf("alerts: %d %s", code, b)
	}
	if code, b := get("/api/v1/slos", ""); code != 200 || !strings.Contains(string(b), `"error":"the collector is not told where Prometheus is`) {
		t.Errorf("slos: %d %s", code, b)
	}
	testkit.WaitFor(t, 10*time.Second, "history has a sample", func() bool {
		code, b := get("/api/v1/history", "")
		var v api.HistoryView
		return code == 200 && json.Unmarshal(b, &v) == nil && len(v.Checks) > 0
	})
	for _, o := range []app.Options{{Alertmanager: "127.0.0.1:9093"}, {Prometheus: "ftp://p"}} {
		o.Listen, o.Conn = "127.0.0.1:0", &nats.Conn{}
		if _, err := app.New(o); err == nil || !strings.Contains(err.Error(), "is not an http:// or https:// URL") {
			t.Errorf("%+v: %v", o, err)
		}
	}
}
