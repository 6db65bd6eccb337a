package collector

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/pulseops/pulse/internal/broker"
	"github.com/pulseops/pulse/internal/filter"
)

func TestEnableWebServesPageViewAndEvents(t *testing.T) {
	b := broker.StartTest(t)
	nc := connect(t, b)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := NewServer(ServerOptions{
		Listen: "127.0.0.1:0", ActionToken: "tok",
		Collector: Options{Conn: nc, Collective: "test", Logger: discardLogger()},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.EnableWeb(WebOptions{Context: ctx}); err != nil {
		t.Fatalf("EnableWeb: %v", err)
	}
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	base := "http://" + s.Addr()

	if err := s.EnableWeb(WebOptions{}); err == nil || err.Error() != "collector: EnableWeb called after Start: call it between NewServer and Start, so the event hub is subscribed before ingest begins" {
		t.Errorf("EnableWeb after Start: %v", err)
	}

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
		t.Errorf("GET /nope: %v %v, want 404 (the page is served at / only)", err, respText(resp))
	}

	if _, resp, err := websocket.DefaultDialer.Dial("ws://"+s.Addr()+"/api/v1/events", nil); err == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("events without the action token: %v %v, want 401", err, respText(resp))
	}
	conn, resp, err := websocket.DefaultDialer.Dial("ws://"+s.Addr()+"/api/v1/events?filter=ec2_placement_availability_zone%3Deu-west-1a", http.Header{"Authorization": {"Bearer tok"}})
	if err != nil {
		t.Fatalf("events with the token: %v %v", err, respText(resp))
	}
	defer conn.Close()
	got := readAll(conn)

	publishFleet(t, nc, 4, time.Now())
	eventually(t, 10*time.Second, func() error {
		m := got.messages()
		sort.Strings(m)
		if strings.Join(m, ",") != "node_up node-00,node_up node-02" {
			return fmt.Errorf("events of eu-west-1a: %q", m)
		}
		return nil
	})

	var view FleetView
	resp, err = http.Get(base + "/api/v1/view")
	if err != nil {
		t.Fatal(err)
	}
	if err := jsonDecode(resp, &view); err != nil {
		t.Fatal(err)
	}
	if view.Total != 4 || view.Shown != 4 || len(view.Zones) != 2 || view.Zones[0].Zone != "eu-west-1a" || len(view.Zones[1].Nodes) != 2 {
		t.Fatalf("view: %+v", view)
	}
	if text := scrape(t, s.Col.Handler()); !strings.Contains(text, "pulse_events_clients 1") {
		t.Errorf("/metrics lacks pulse_events_clients 1")
	}
	// Ending the context closes the websockets: http.Server.Shutdown
	// would leave them open.
	cancel()
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	<-got.done
	if ce, ok := got.err.(*websocket.CloseError); !ok || ce.Code != websocket.CloseGoingAway {
		t.Fatalf("after the context ended: %v, want close 1001", got.err)
	}
}

func TestViewGroupsByZoneAndFilters(t *testing.T) {
	c, _, _ := newDirect(t, nil)
	c.Handle("GET /api/v1/view", http.HandlerFunc(c.serveView))
	for i, f := range []map[string]any{
		{"ec2_placement_availability_zone": "eu-west-1b", "role": "web"},
		{"ec2_placement_availability_zone": "eu-west-1a", "role": "web"},
		{"ec2_placement_availability_zone": "eu-west-1a", "role": "db"},
		{"role": "db"},
	} {
		id := fmt.Sprintf("n%d", i)
		feedReg(t, c, registration(id, f), t0)
		feedResult(t, c, checkResult(id, "check_load", i%4, t0), t0)
	}
	tests := []struct {
		query string
		code  int
		want  string // zone:identity=state ... or the error
	}{
		{"", 200, "eu-west-1a:n1=WARNING,n2=CRITICAL eu-west-1b:n0=OK :n3=UNKNOWN"},
		{"?filter=role%3Dweb", 200, "eu-west-1a:n1=WARNING eu-west-1b:n0=OK"},
		{"?filter=role%3Ddb&identity=n3", 200, ":n3=UNKNOWN"},
		{"?select=role%3Dweb+or+ec2_placement_availability_zone%3Deu-west-1a", 200, "eu-west-1a:n1=WARNING,n2=CRITICAL eu-west-1b:n0=OK"},
		{"?filter=role%3Dnone", 200, ""},
		{"?filter=role%3D%3D%3D", 400, `bad filter: with filter "role===": unknown operator "===" (use one of = == != < > <= >= =~) at column 5`},
		{"?select=(role%3Dweb", 400, `bad filter: select "(role=web": unclosed "(" at column 1`},
	}
	for _, tt := range tests {
		var raw map[string]any
		var view FleetView
		code := getJSON(t, c.Handler(), "/api/v1/view"+tt.query, &raw)
		if code != tt.code {
			t.Errorf("%s: %d %v, want %d", tt.query, code, raw, tt.code)
			continue
		}
		if code != 200 {
			if raw["error"] != tt.want {
				t.Errorf("%s:\n got %q\nwant %q", tt.query, raw["error"], tt.want)
			}
			continue
		}
		getJSON(t, c.Handler(), "/api/v1/view"+tt.query, &view)
		var zones []string
		for _, z := range view.Zones {
			var rows []string
			for _, n := range z.Nodes {
				rows = append(rows, n.Identity+"="+n.Checks[0].State)
			}
			zones = append(zones, z.Zone+":"+strings.Join(rows, ","))
		}
		if got := strings.Join(zones, " "); got != tt.want || view.Total != 4 {
			t.Errorf("%s: got %q (total %d), want %q", tt.query, got, view.Total, tt.want)
		}
	}
}

func TestSpecFromQuery(t *testing.T) {
	tests := []struct {
		query string
		want  filter.Spec
		err   string
	}{
		{query: "", want: filter.Spec{}},
		{query: "filter=role%3Dweb+cluster%3Dalfa+webserver", want: filter.Spec{Fact: []string{"role=web", "cluster=alfa"}, Class: []string{"webserver"}}},
		{query: "filter=role%3Dweb&filter=az%3Da&fact=cpus>2&identity=/web/&agent=nrpe&class=x", want: filter.Spec{Fact: []string{"cpus>2", "role=web", "az=a"}, Class: []string{"x"}, Identity: []string{"/web/"}, Agent: []string{"nrpe"}}},
		{query: "select=role%3Dweb+and+not+x", want: filter.Spec{Compound: "role=web and not x"}},
		{query: "compound=x", want: filter.Spec{Compound: "x"}},
		{query: "select=a&compound=b", err: "both select and compound are set: they are the same -S expression, send one"},
		{query: "filter=+", err: `with filter " ": expected a fact term or class at column 2, found end of input`},
		{query: "identity=/(/", err: "identity filter \"/(/\": invalid regular expression at column 1: missing closing ): `(`"},
	}
	for _, tt := range tests {
		q, err := url.ParseQuery(tt.query)
		if err != nil {
			t.Fatal(err)
		}
		got, _, err := specFromQuery(q)
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("%s: error\n got %v\nwant %s", tt.query, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tt.query, err)
			continue
		}
		if fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("%s: got %+v, want %+v", tt.query, got, tt.want)
		}
	}
}

// FuzzSpecFromQuery feeds raw query strings, as browsers and pulse watch
// send them: a spec that is returned must compile, nothing may panic.
func FuzzSpecFromQuery(f *testing.F) {
	for _, s := range []string{"", "filter=role%3Dweb", "select=(a+or+b)+and+not+c%3D1", "filter=%2F(%2F", "fact=x=~/a/&identity=y", "select=a&compound=b", "filter=a<=%22"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		spec, _, err := specFromQuery(q)
		if err != nil {
			return
		}
		if _, err := filter.Compile(spec); err != nil {
			t.Fatalf("specFromQuery(%q) returned %+v, which does not compile: %v", raw, spec, err)
		}
	})
}

func jsonDecode(resp *http.Response, v any) error {
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != 200 {
		return fmt.Errorf("%d %s", resp.StatusCode, b)
	}
	return json.Unmarshal(b, v)
}
