package collector_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/pulseops/pulse/collector"
	"github.com/pulseops/pulse/internal/broker"
	"github.com/pulseops/pulse/internal/bus"
	"github.com/pulseops/pulse/internal/protocol"
	"github.com/pulseops/pulse/internal/security"
	"github.com/pulseops/pulse/nodeagent"
	"github.com/pulseops/pulse/nodeagent/actions"
)

type factMap map[string]any

func (f factMap) Facts() map[string]any { return f }

// startServer runs a collector server and n agents with simulated services
// on an embedded broker.
func startServer(t *testing.T, n int) (*collector.Server, map[string]*actions.SimServiceProvider) {
	t.Helper()
	br := broker.StartTest(t)
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
	s, err := collector.NewServer(collector.ServerOptions{Listen: "127.0.0.1:0", ActionToken: "human-token", AlertToken: "am-token",
		Collector: collector.Options{Conn: nc}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
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
	var rec collector.ActionRecord
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
	var again collector.ActionRecord
	api := &collector.APIClient{Base: "http://" + s.Addr(), Token: "human-token"}
	if err := api.Do("GET", "/api/v1/actions/"+rec.ID, nil, &again); err != nil || again.ID != rec.ID {
		t.Fatalf("GET action %s: %v %+v", rec.ID, err, again)
	}
}

func TestActionEndpointAsync(t *testing.T) {
	s, _ := startServer(t, 2)
	api := &collector.APIClient{Base: "http://" + s.Addr(), Token: "human-token"}
	var started map[string]string
	if err := api.Do("POST", "/api/v1/actions", map[string]any{"agent": "service", "action": "restart", "data": map[string]string{"service": "cron"},
		"nodes": []string{"node-00", "node-01"}, "async": true}, &started); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		var rec collector.ActionRecord
		if err := api.Do("GET", "/api/v1/actions/"+started["id"], nil, &rec); err != nil {
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

// A process on the bus cannot forge a node: a heartbeat or result not
// signed by the node's pinned key is refused and counted.
func TestCollectorRefusesForgedNodeMessages(t *testing.T) {
	br := broker.StartTest(t)
	real, _ := security.GenerateIdentity("node-00")
	forger, _ := security.GenerateIdentity("mallory")
	nk, err := security.NewNodeKeys(map[string]string{"node-00": real.Signer.PublicKey()}, false)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(br.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	col, err := collector.New(collector.Options{Conn: nc, Verify: nk.Verify})
	if err != nil {
		t.Fatal(err)
	}
	if err := col.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer col.Stop()
	subj := protocol.Subjects{Collective: "pulse"}
	var seq uint64
	send := func(s *protocol.Signer, output string) {
		res := protocol.Result{Identity: "node-00", Time: time.Now(), ResultBody: protocol.ResultBody{Kind: "check", Name: "check_x", Status: 2, Output: output, Interval: 10}}
		seq++
		res.Stream = protocol.Stream{Boot: "b", Seq: seq}
		b, err := protocol.EncodeResult(&res, s)
		if err != nil {
			t.Fatal(err)
		}
		if err := nc.Publish(subj.Results("node-00", "check_x"), b); err != nil {
			t.Fatal(err)
		}
	}
	// The stream keeps one result per node and check, so the forged one is
	// refused and counted before the genuine one replaces it.
	send(forger.Signer, "forged")
	const counted = `pulse_collector_malformed_messages_total{kind="result",reason="unverified"} 1`
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(httptestGet(t, col.Handler(), "/metrics"), counted) {
		if time.Now().After(deadline) {
			t.Fatalf("the forged result was not counted:\n%s", grep(httptestGet(t, col.Handler(), "/metrics"), "malformed"))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, ok := col.Node("node-00"); ok {
		t.Fatal("a forged result created node-00")
	}
	send(real.Signer, "genuine")
	for {
		if v, ok := col.Node("node-00"); ok && len(v.Checks) == 1 {
			if v.Checks[0].Output != "genuine" {
				t.Fatalf("collector shows %q", v.Checks[0].Output)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the genuine result never arrived")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func httptestGet(t *testing.T, h http.Handler, path string) string {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	return rec.Body.String()
}

func grep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// With a certificate the API is served over HTTPS only.
func TestServerTLS(t *testing.T) {
	pki, err := security.WritePKI(t.TempDir(), "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	br := broker.StartTest(t)
	nc, err := nats.Connect(br.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	s, err := collector.NewServer(collector.ServerOptions{Listen: "127.0.0.1:0", TLSCertFile: pki.ServerCert, TLSKeyFile: pki.ServerKey,
		Collector: collector.Options{Conn: nc}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	ca, err := os.ReadFile(pki.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := hc.Get("https://" + s.Addr() + "/healthz")
	if err != nil {
		t.Fatalf("HTTPS: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("HTTPS /healthz: %s", resp.Status)
	}
	if resp, err := http.Get("http://" + s.Addr() + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Fatal("plain HTTP answered 200 on a TLS collector")
		}
	}
}
