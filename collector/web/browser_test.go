package web_test

// Browser tests drive the real web view in headless Debian chromium over
// the DevTools protocol. They live in the external test package so they can
// run the whole demo, which imports the web view.

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/nats-io/nats.go"

	"github.com/pulseops/pulse/collector"
	"github.com/pulseops/pulse/collector/api"
	"github.com/pulseops/pulse/collector/app"
	"github.com/pulseops/pulse/demo"
	"github.com/pulseops/pulse/internal/broker"
	"github.com/pulseops/pulse/internal/protocol"
)

// chromiumPath finds the browser; without it the test fails under CI=true
// and skips otherwise.
func chromiumPath(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"/usr/bin/chromium", "chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is not installed: apt-get install chromium (make test does)")
	}
	t.Skip("chromium is not installed: apt-get install chromium to run the browser tests")
	return ""
}

// browser starts headless chromium with its own profile and returns a tab.
func browser(t testing.TB) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1400, 1000),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
	})
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// within polls cond until it holds or the deadline passes.
func within(t testing.TB, d time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		ok, detail := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s: %s", d, what, detail)
		}
		time.Sleep(50 * time.Millisecond) // poll interval, not a wait for state
	}
}

// eval runs a JS expression in the page; errors count as "not yet".
func eval[T any](ctx context.Context, expr string) (T, error) {
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return chromedp.Run(cctx, chromedp.Evaluate[T](expr))
}

func evalCond[T comparable](ctx context.Context, expr string, want T) func() (bool, string) {
	return func() (bool, string) {
		v, err := eval[T](ctx, expr)
		if err != nil {
			return false, err.Error()
		}
		return v == want, fmt.Sprintf("%s = %v, want %v", expr, v, want)
	}
}

// webServer returns the base URL of the demo's collector, which serves the
// web view.
func webServer(t *testing.T, d *demo.Demo) string {
	t.Helper()
	base := "http://" + d.Collector.Addr()
	resp, err := http.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("the demo's collector does not serve the web view at %s: %s", base, resp.Status)
	}
	return base
}

func getView(base, query string) (api.FleetView, error) {
	var v api.FleetView
	resp, err := http.Get(base + "/api/v1/view" + query)
	if err != nil {
		return v, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		return v, fmt.Errorf("%d %s", resp.StatusCode, b)
	}
	return v, json.NewDecoder(resp.Body).Decode(&v)
}

func checkState(v api.FleetView, id, check string) string {
	for _, z := range v.Zones {
		for _, n := range z.Nodes {
			if n.Identity != id {
				continue
			}
			for _, c := range n.Checks {
				if c.Name == check {
					return c.State
				}
			}
		}
	}
	return ""
}

func TestBrowserFleetViewGoesCriticalLiveAndFilters(t *testing.T) {
	bctx := browser(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d, err := demo.Start(ctx, demo.Options{
		Nodes: 11, Zones: []string{"eu-west-1a", "eu-west-1b"}, NATSHost: "127.0.0.1", NATSPort: -1,
		CollectorAddr: "127.0.0.1:0", Prometheus: "off", Alertmanager: "off",
	})
	if err != nil {
		t.Fatalf("start demo: %v", err)
	}
	t.Cleanup(d.Stop)
	base := webServer(t, d)
	const node, check = "ip-10-0-1-12", "check_nginx"

	// The collector has the whole fleet, with nginx checked, before the
	// page loads: a check's first result is not an event.
	within(t, 30*time.Second, "collector knows 11 registered nodes with "+check+" OK on "+node, func() (bool, string) {
		v, err := getView(base, "")
		if err != nil {
			return false, err.Error()
		}
		zones := ""
		for _, z := range v.Zones {
			zones += fmt.Sprintf("%s:%d ", z.Zone, len(z.Nodes))
		}
		return zones == "eu-west-1a:6 eu-west-1b:5 " && checkState(v, node, check) == "OK", fmt.Sprintf("zones %s, %s=%q", zones, check, checkState(v, node, check))
	})

	if err := chromedp.Do(bctx, chromedp.Navigate(base+"/#token="+d.ActionToken)); err != nil {
		t.Fatal(err)
	}
	within(t, 15*time.Second, "page lists 11 nodes", evalCond(bctx, `document.querySelectorAll('#fleet tr[data-identity]').length`, 11.0))
	within(t, 5*time.Second, "page groups two zones", evalCond(bctx, `[...document.querySelectorAll('#fleet section.zone')].map(s => s.dataset.zone + ':' + s.querySelectorAll('tr[data-identity]').length).join(' ')`, "eu-west-1a:6 eu-west-1b:5"))
	within(t, 15*time.Second, "event stream is live (the token was accepted)", evalCond(bctx, `document.querySelector('#stream').textContent`, "live"))
	cellExpr := `document.querySelector('tr[data-identity="` + node + `"] td[data-check="` + check + `"]').dataset.state`
	within(t, 5*time.Second, check+" cell is OK", evalCond(bctx, cellExpr, "OK"))

	// Mark the page: a reload would lose the mark.
	if _, err := eval[bool](bctx, `window.pulseNoReload = true`); err != nil {
		t.Fatal(err)
	}
	body := `{"agent":"service","action":"stop","data":{"service":"nginx"},"nodes":["` + node + `"]}`
	req, _ := http.NewRequest("POST", "http://"+d.Collector.Addr()+"/api/v1/actions", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+d.ActionToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	rb, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("stop nginx through the action API: %d %s", resp.StatusCode, rb)
	}
	within(t, 30*time.Second, check+" cell turns CRITICAL", evalCond(bctx, cellExpr, "CRITICAL"))
	within(t, 5*time.Second, "cell is coloured critical", evalCond(bctx, `document.querySelector('tr[data-identity="`+node+`"] td[data-check="`+check+`"]').classList.contains('state-critical')`, true))
	within(t, 5*time.Second, "page was not reloaded", evalCond(bctx, `window.pulseNoReload === true`, true))
	within(t, 5*time.Second, "the feed shows the change", evalCond(bctx,
		`[...document.querySelectorAll('#feed li[data-type="check_state"]')].some(li => li.textContent.includes('`+check+` on `+node+` changed from OK to CRITICAL'))`, true))

	// Details of the row: facts and last outputs.
	if err := chromedp.Do(bctx, chromedp.Click(chromedp.CSS(`tr[data-identity="`+node+`"] td.identity`), chromedp.NodeVisible)); err != nil {
		t.Fatal(err)
	}
	within(t, 10*time.Second, "details show facts and the last output", evalCond(bctx,
		`(() => { const d = document.querySelector('#details[data-identity="`+node+`"]'); return !!d && d.textContent.includes('eu-west-1a') && d.textContent.includes('NGINX CRITICAL - nginx is not running'); })()`, true))
	screenshot(t, bctx, "fleet-critical.png")

	// The filter box speaks the CLI's -S language, evaluated by the collector.
	if err := chromedp.Do(bctx, chromedp.SendKeys(chromedp.ID("filter"), "role=web"+kb.Enter, chromedp.NodeVisible)); err != nil {
		t.Fatal(err)
	}
	within(t, 10*time.Second, "filter role=web shows 6 rows", evalCond(bctx,
		`document.querySelector('#fleet').dataset.select + ' ' + document.querySelectorAll('#fleet tr[data-identity]').length`, "role=web 6"))
	within(t, 5*time.Second, "every row is a web node", evalCond(bctx,
		`[...document.querySelectorAll('#fleet tr[data-identity]')].every(tr => tr.children[1].textContent === 'web')`, true))
	// A bad filter says what is wrong, as the CLI does, and the fleet stays.
	if _, err := eval[string](bctx, `document.querySelector('#filter').value = ''`); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(bctx, chromedp.SendKeys(chromedp.ID("filter"), "role=="+kb.Enter, chromedp.NodeVisible)); err != nil {
		t.Fatal(err)
	}
	within(t, 10*time.Second, "a bad filter shows the parser's error", evalCond(bctx, `document.querySelector('#error').textContent`,
		`bad filter: select "role==": expected a value after "==" at column 7, found end of input`))
	within(t, 5*time.Second, "the fleet is still shown", evalCond(bctx, `document.querySelectorAll('#fleet tr[data-identity]').length`, 6.0))
	screenshot(t, bctx, "fleet-bad-filter.png")
}

// screenshot saves the page to $PULSE_ARTIFACTS (or a temporary
// directory) and, with -update, to testdata/screenshots for the README.
func screenshot(t testing.TB, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	dir := os.Getenv("PULSE_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
	if f := flag.Lookup("update"); f != nil && f.Value.String() == "true" {
		if err := os.MkdirAll("testdata/screenshots", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join("testdata/screenshots", name), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// publishFleetOf sends a heartbeat and two check results for n nodes, as
// agents do, so a collector shows a large fleet without running agents.
func publishFleetOf(t testing.TB, nc *nats.Conn, n int) {
	t.Helper()
	s := protocol.Subjects{Collective: "bench"}
	now := time.Now()
	for i := range n {
		id := fmt.Sprintf("node-%04d", i)
		zone := fmt.Sprintf("eu-west-1%c", 'a'+i%3)
		reg := protocol.Registration{
			Identity: id, Time: now,
			RegistrationBody: protocol.RegistrationBody{
				Collective: "bench",
				Version:    "bench",
				Started:    now,
				Interval:   60,
				Facts:      map[string]any{"ec2_placement_availability_zone": zone, "role": []string{"web", "db"}[i%2], "cluster": "alfa"},
				Agents:     []string{"rpcutil"},
			},
		}
		pub(t, nc, s.Registry(id), reg)
		for j, name := range []string{"check_load", "check_nginx"} {
			pub(t, nc, s.Results(id, name), protocol.Result{
				Identity: id, Time: now,
				ResultBody: protocol.ResultBody{
					Kind:     "check",
					Name:     name,
					Status:   (i + j) % 4,
					Output:   "bench output",
					Interval: 60,
					Started:  now,
				},
			})
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
}

// pubSeq places every message pub seals after the one before.
var pubSeq uint64

func pub(t testing.TB, nc *nats.Conn, subject string, v any) {
	t.Helper()
	pubSeq++
	var b []byte
	var err error
	switch m := v.(type) {
	case protocol.Registration:
		m.Stream = protocol.Stream{Boot: "browser", Seq: pubSeq}
		b, err = protocol.EncodeRegistration(&m, nil)
	case protocol.Result:
		m.Stream = protocol.Stream{Boot: "browser", Seq: pubSeq}
		b, err = protocol.EncodeResult(&m, nil)
	}
	if err != nil || b == nil {
		t.Fatalf("seal %T: %v", v, err)
	}
	if err := nc.Publish(subject, b); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkWebFirstLoad measures how long chromium takes from navigation
// until the overview shows 1,000 nodes in its grid and has drawn every
// panel (ms/load, wall clock around the DevTools calls, so it includes the
// fetches of /api/v1/view, the panels' endpoints and rendering).
func BenchmarkWebFirstLoad(b *testing.B) {
	const nodes = 1000
	bctx := browser(b)
	br, err := broker.Start(broker.Options{Host: "127.0.0.1", Port: -1, JetStreamDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(br.Shutdown)
	nc, err := nats.Connect(br.ClientURL())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(nc.Close)
	s, err := app.New(app.Options{Listen: "127.0.0.1:0", Conn: nc, Collector: collector.Options{Collective: "bench"}})
	if err != nil {
		b.Fatal(err)
	}
	stop, err := s.Start(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = stop() })
	base := "http://" + s.Addr()
	publishFleetOf(b, nc, nodes)
	within(b, 60*time.Second, "collector has the fleet", func() (bool, string) {
		v, err := getView(base, "")
		if err != nil {
			return false, err.Error()
		}
		rows := 0
		for _, z := range v.Zones {
			for _, n := range z.Nodes {
				rows += len(n.Checks)
			}
		}
		return rows == 2*nodes, fmt.Sprintf("%d check cells", rows)
	})
	var size int
	if resp, err := http.Get(base + "/api/v1/view"); err == nil {
		var buf bytes.Buffer
		_, _ = io.Copy(&buf, resp.Body)
		resp.Body.Close()
		size = buf.Len()
	}
	b.ResetTimer()
	var total time.Duration
	for b.Loop() {
		start := time.Now()
		if err := chromedp.Do(bctx, chromedp.Navigate(base+"/?n="+fmt.Sprint(time.Now().UnixNano()))); err != nil {
			b.Fatal(err)
		}
		// Loaded: the grid has every node and every overview panel is
		// drawn.
		if err := chromedp.Do(bctx, chromedp.Poll[chromedp.Void](`document.querySelectorAll('#fleet tr[data-identity]').length === `+fmt.Sprint(nodes)+
			` && [...document.querySelectorAll('#overview .panel')].every(p => p.dataset.loaded)`, chromedp.WithPollingInterval(5*time.Millisecond))); err != nil {
			b.Fatal(err)
		}
		total += time.Since(start)
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/load")
	b.ReportMetric(float64(size)/1024, "view-KiB")
}

// The overview's rollouts panel and the feed follow a rollout as it
// happens: the action API rolls a release that breaks logins out, the
// canary's probe fails, the nodes go back; the panel shows the rollout
// rolled back with its reason, the feed the node's changes and the
// rollout's end, each coloured by how it went.
func TestBrowserShowsRollouts(t *testing.T) {
	bctx := browser(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d, err := demo.Start(ctx, demo.Options{
		Nodes: 5, Zones: []string{"eu-west-1a"}, NATSHost: "127.0.0.1", NATSPort: -1,
		CollectorAddr: "127.0.0.1:0", ShopAddr: "127.0.0.1:0", Prometheus: "off", Alertmanager: "off", ChangeDelay: -1,
	})
	if err != nil {
		t.Fatalf("start demo: %v", err)
	}
	t.Cleanup(d.Stop)
	base := webServer(t, d)
	if err := chromedp.Do(bctx, chromedp.Navigate(base+"/#token="+d.ActionToken)); err != nil {
		t.Fatal(err)
	}
	within(t, 15*time.Second, "event stream is live", evalCond(bctx, `document.querySelector('#stream').textContent`, "live"))
	within(t, 10*time.Second, "the rollouts panel says there are none", evalCond(bctx,
		`document.querySelector('#rollouts .body').textContent.startsWith('No rollouts yet')`, true))

	body := `{"package":"shop","version":"` + demo.BadShopVersion + `","filter":{"fact":["role=web"]},"evidence_wait":"20s"}`
	req, _ := http.NewRequest("POST", base+"/api/v1/rollouts", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+d.ActionToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var rec api.Rollout
	err = json.NewDecoder(resp.Body).Decode(&rec)
	resp.Body.Close()
	if err != nil || rec.State != api.RolloutRolledBack {
		t.Fatalf("the rollout of the bad release: %v %+v", err, rec)
	}
	row := `document.querySelector('#rollouts li[data-id="` + rec.ID + `"]')`
	within(t, 20*time.Second, "the panel shows the rollout rolled back", evalCond(bctx, row+`?.dataset.state`, "rolled_back"))
	within(t, 5*time.Second, "with its reason", evalCond(bctx,
		row+`.textContent.includes('probes failed on ip-10-0-1-10: probe login is CRITICAL')`, true))
	within(t, 5*time.Second, "the feed shows the canary's change and the rollout's end", evalCond(bctx,
		`[...document.querySelectorAll('#feed li[data-type="change"]')].some(li => li.textContent.includes('package install shop 1.0.0 → `+demo.BadShopVersion+` on ip-10-0-1-10 by')) && `+
			`[...document.querySelectorAll('#feed li[data-type="rollout"] .ev-warning')].some(s => s.textContent.startsWith('rollout `+rec.ID+` of shop `+demo.BadShopVersion+` rolled_back'))`, true))
	screenshot(t, bctx, "rollouts.png")
}
