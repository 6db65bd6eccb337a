package web_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/pulseops/pulse/collector/api"
	"github.com/pulseops/pulse/demo"
	"github.com/pulseops/pulse/internal/testkit"
)

// stopNginx stops nginx on a node through the action API, as a user would.
func stopNginx(t *testing.T, d *demo.Demo, node string) {
	t.Helper()
	body := `{"agent":"service","action":"stop","data":{"service":"nginx"},"nodes":["` + node + `"]}`
	req, _ := http.NewRequest("POST", "http://"+d.Collector.Addr()+"/api/v1/actions", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+d.ActionToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("stop nginx on %s: %d %s", node, resp.StatusCode, b)
	}
}

// TestBrowserOverview drives the overview page against the whole demo with
// real Prometheus and Alertmanager and a 20% login fault: the firing alerts
// with their nodes and remediation, each zone's login SLO with its burn
// rate, remediations done and deferred with their reason, the last hour's
// graphs, the recent events on first load, the problems-only toggle, the
// sort, and a bad -S filter that keeps the fleet. Screenshots go to
// $PULSE_ARTIFACTS.
func TestBrowserOverview(t *testing.T) {
	bctx := browser(t)
	prometheus, alertmanager := testkit.RealPart(t, "prometheus"), testkit.RealPart(t, "alertmanager")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d, err := demo.Start(ctx, demo.Options{
		Nodes: 11, Zones: []string{"eu-west-1a", "eu-west-1b"}, NATSHost: "127.0.0.1", NATSPort: -1,
		CollectorAddr: "127.0.0.1:0", ShopAddr: "127.0.0.1:0", LoginFailureRate: 0.2,
		Prometheus: prometheus, Alertmanager: alertmanager, PrometheusAddr: testkit.FreeAddr(t), AlertmanagerAddr: testkit.FreeAddr(t),
		Intervals:   demo.Intervals{Register: 2 * time.Second, Load: 2 * time.Second, Nginx: time.Second, Probe: 2 * time.Second},
		ChangeDelay: -1,
	})
	if err != nil {
		t.Fatalf("start demo: %v", err)
	}
	t.Cleanup(d.Stop)
	base := webServer(t, d)
	within(t, 60*time.Second, "the collector knows 11 nodes with check_nginx OK on ip-10-0-1-12", func() (bool, string) {
		v, err := getView(base, "")
		if err != nil {
			return false, err.Error()
		}
		return v.Total == 11 && checkState(v, "ip-10-0-1-12", "check_nginx") == "OK", fmt.Sprintf("%d nodes", v.Total)
	})

	// Break a web node, let the loop repair it, and break it again within
	// the rule's cooldown: that decision waits, deferred, until the
	// cooldown ends. Stop one node's agent: it stays a problem.
	const node = "ip-10-0-1-12"
	stopNginx(t, d, node)
	client := &api.Client{Base: base, Token: d.ActionToken}
	recs := func() []api.Remediation {
		var out struct {
			Remediations []api.Remediation `json:"remediations"`
		}
		if err := client.Do("GET", "/api/v1/remediations", nil, &out); err != nil {
			t.Fatal(err)
		}
		return out.Remediations
	}
	within(t, 60*time.Second, "a verified repair of "+node, func() (bool, string) {
		for _, r := range recs() {
			if r.State == api.StateSucceeded && r.Verified {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%+v", recs())
	})
	stopNginx(t, d, node)
	within(t, 30*time.Second, "the second repair deferred by the cooldown", func() (bool, string) {
		for _, r := range recs() {
			if r.State == api.StateDeferred {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%+v", recs())
	})
	down := d.Agents[10].Identity()
	d.Agents[10].Stop()

	if err := chromedp.Do(bctx, chromedp.Navigate(base+"/#token="+d.ActionToken)); err != nil {
		t.Fatal(err)
	}
	// The feed opens with what happened before the page did.
	within(t, 10*time.Second, "recent events on first load", evalCond(bctx,
		`[...document.querySelectorAll('#feed li[data-type="remediation"]')].some(li => li.textContent.includes('succeeded'))`, true))
	within(t, 10*time.Second, "the remediations panel shows the deferred repair with its reason", evalCond(bctx,
		`(() => { const li = document.querySelector('#remediations [data-group="deferred"] li[data-state="deferred"]'); return !!li && li.textContent.includes('duplicate') && li.textContent.includes('`+node+`'); })()`, true))
	within(t, 10*time.Second, "the remediations panel shows the repair done", evalCond(bctx,
		`!!document.querySelector('#remediations [data-group="done"] li[data-state="succeeded"]')`, true))
	within(t, 60*time.Second, "the alerts panel lists PulseCheckCritical for the node from Alertmanager, with its deferred remediation", evalCond(bctx,
		`(() => { const b = document.querySelector('#alerts .body'); if (!b || !b.dataset.source.startsWith('alertmanager')) return false;
			return [...b.querySelectorAll('tr[data-alert="PulseCheckCritical"]')].some(tr => tr.textContent.includes('`+node+`') && tr.querySelector('td.rem').dataset.state === 'deferred'); })()`, true))
	within(t, 90*time.Second, "the alerts panel shows one PulseProbeFailing per zone with the fault", evalCond(bctx,
		`document.querySelectorAll('#alerts tr[data-alert="PulseProbeFailing"]').length >= 1`, true))
	within(t, 60*time.Second, "the SLO panel shows login per zone, burning", evalCond(bctx,
		`(() => { const rows = [...document.querySelectorAll('#slos tr[data-slo="login"]')]; return rows.length === 2 && rows.every(r => r.children[5].textContent.endsWith('×')) && rows.some(r => r.children[5].classList.contains('bad')); })()`, true))
	within(t, 60*time.Second, "the history draws the checks and the login probe", evalCond(bctx,
		`(() => { const c = document.querySelector('#history figure[data-graph="checks"]'), p = document.querySelector('#history figure[data-graph="probe"][data-probe="login"]');
			return !!c && Number(c.dataset.points) >= 2 && !!c.querySelector('path') && !!p && Number(p.dataset.points) >= 1 && p.dataset.success !== '' && Number(p.dataset.success) < 1; })()`, true))
	within(t, 30*time.Second, "the stopped agent's node is down on the page", evalCond(bctx,
		`!!document.querySelector('tr.node-down[data-identity="`+down+`"]')`, true))
	screenshot(t, bctx, "overview.png")

	// Problems only: every row left has a problem, the down node among
	// them, and most of the fleet is gone.
	if err := chromedp.Do(bctx, chromedp.Click(chromedp.ID("problems"), chromedp.NodeVisible)); err != nil {
		t.Fatal(err)
	}
	within(t, 10*time.Second, "problems only", evalCond(bctx,
		`(() => { const rows = [...document.querySelectorAll('#fleet tr[data-identity]')];
			const bad = (tr) => tr.classList.contains('node-down') || [...tr.querySelectorAll('td.state')].some(td => td.dataset.state && td.dataset.state !== 'OK' || td.classList.contains('stale'));
			return rows.length > 0 && rows.length < 11 && rows.every(bad) && rows.some(tr => tr.dataset.identity === '`+down+`'); })()`, true))
	screenshot(t, bctx, "overview-problems.png")
	if err := chromedp.Do(bctx, chromedp.Click(chromedp.ID("problems"), chromedp.NodeVisible)); err != nil {
		t.Fatal(err)
	}
	// Worst first: the down node leads its zone.
	if err := chromedp.Do(bctx, chromedp.SetValue(chromedp.CSS("#sort"), "worst")); err != nil {
		t.Fatal(err)
	}
	if _, err := eval[bool](bctx, `document.querySelector('#sort').dispatchEvent(new Event('change')) || true`); err != nil {
		t.Fatal(err)
	}
	within(t, 10*time.Second, "worst first puts the down node at the top of its zone", evalCond(bctx,
		`(() => { const z = document.querySelector('tr[data-identity="`+down+`"]').closest('section.zone'); return z.querySelector('tr[data-identity]').dataset.identity === '`+down+`' && document.querySelector('#fleet').dataset.sort === 'worst'; })()`, true))
	// A -S filter, then a bad one: the error shows and the fleet stays.
	if err := chromedp.Do(bctx, chromedp.SendKeys(chromedp.ID("filter"), "role=web and ec2_placement_availability_zone=eu-west-1a"+kb.Enter, chromedp.NodeVisible)); err != nil {
		t.Fatal(err)
	}
	within(t, 10*time.Second, "the -S filter shows the zone's three web nodes", evalCond(bctx, `document.querySelectorAll('#fleet tr[data-identity]').length`, 3.0))
	if _, err := eval[string](bctx, `document.querySelector('#filter').value = ''`); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(bctx, chromedp.SendKeys(chromedp.ID("filter"), "role=web and"+kb.Enter, chromedp.NodeVisible)); err != nil {
		t.Fatal(err)
	}
	within(t, 10*time.Second, "a bad filter shows its error", evalCond(bctx, `document.querySelector('#error').textContent.startsWith('bad filter: select "role=web and"')`, true))
	within(t, 5*time.Second, "and the fleet stays", evalCond(bctx, `document.querySelectorAll('#fleet tr[data-identity]').length`, 3.0))
	screenshot(t, bctx, "overview-bad-filter.png")
}
