package dashboards

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pulseops/pulse/demo"
)

// The web node whose nginx the test stops, so that check, alert and
// remediation panels have something to show.
const brokenNode = "ip-10-0-1-12"

// needBinary fails under CI=true and skips otherwise when a binary the
// test is about is missing.
func needBinary(t *testing.T, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := exec.LookPath(n); err == nil {
			return
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s not on PATH; apt-get install prometheus prometheus-alertmanager", names[0])
	}
	t.Skipf("%s not on PATH; apt-get install prometheus prometheus-alertmanager", names[0])
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// eventually polls f until it succeeds or the deadline passes, and
// returns f's last error.
func eventually(deadline time.Time, every time.Duration, f func() error) error {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		err := f()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		<-tick.C
	}
}

// TestDashboardsShowData runs the demo fleet with a real Prometheus and
// Alertmanager, breaks nginx on one node so a remediation happens, then
// runs every panel, annotation and variable query with the variables at
// "All" and requires each to return data: no panel is blank.
func TestDashboardsShowData(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Prometheus and Alertmanager; skipped with -short")
	}
	needBinary(t, "prometheus")
	needBinary(t, "prometheus-alertmanager", "alertmanager")
	qs, vs := allQueries(t)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d, err := demo.Start(ctx, demo.Options{
		Nodes: 11, Zones: []string{"eu-west-1a", "eu-west-1b"}, NATSPort: -1,
		CollectorAddr: "127.0.0.1:0", ShopAddr: "127.0.0.1:0",
		Prometheus: "auto", Alertmanager: "auto",
		PrometheusAddr: freeAddr(t), AlertmanagerAddr: freeAddr(t),
		Intervals:   demo.Intervals{Register: time.Second, Load: time.Second, Nginx: 500 * time.Millisecond, Probe: time.Second},
		ChangeDelay: -1,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Stop()
	prom := &promAPI{base: d.Prometheus.URL}
	deadline := time.Now().Add(3 * time.Minute)

	if err := eventually(deadline, 500*time.Millisecond, func() error {
		return prom.instantHas(`count(pulse_node_info) == 11`)
	}); err != nil {
		t.Fatalf("Prometheus never saw the 11 demo nodes: %v", err)
	}

	// Break nginx; the alert reaches the collector through Alertmanager and
	// the restart-nginx rule repairs it.
	breakNginx := func() error { return stopNginx(d.Collector.Addr(), d.ActionToken) }
	if err := breakNginx(); err != nil {
		t.Fatal(err)
	}
	if err := eventually(deadline, 500*time.Millisecond, func() error {
		return prom.instantHas(`pulse_remediations_total{rule="restart-nginx"}`)
	}); err != nil {
		t.Fatalf("no remediation of the stopped nginx reached Prometheus: %v", err)
	}
	// Break it again: the rule's cooldown leaves it broken for a while, so
	// "failing now" panels have a failing check to show. Each query that
	// has no data yet breaks it again before the next try.
	if err := breakNginx(); err != nil {
		t.Fatal(err)
	}

	for _, q := range qs {
		expr := substitute(q.Expr)
		err := eventually(deadline, time.Second, func() error {
			var err error
			if q.Instant {
				err = prom.instantHas(expr)
			} else {
				err = prom.rangeHas(expr, 10*time.Minute)
			}
			if err != nil {
				_ = breakNginx()
			}
			return err
		})
		if err != nil {
			t.Errorf("%s shows no data: %v\n  query: %s", q.Where, err, expr)
		}
	}
	for _, v := range vs {
		sel := substitute(v.Selector)
		if err := eventually(deadline, time.Second, func() error { return prom.labelHas(v.Label, sel) }); err != nil {
			t.Errorf("%s offers no values: %v", v.Where, err)
		}
	}
}

// stopNginx stops nginx on brokenNode through the collector's action API,
// as an operator's `pulse service nginx stop -I <node>` would.
func stopNginx(collector, token string) error {
	body, _ := json.Marshal(map[string]any{
		"agent": "service", "action": "stop", "data": map[string]string{"service": "nginx"},
		"nodes": []string{brokenNode},
	})
	req, err := http.NewRequest(http.MethodPost, "http://"+collector+"/api/v1/actions", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("stop nginx on %s: %w", brokenNode, err)
	}
	defer resp.Body.Close()
	var rec struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&rec); err != nil {
		return fmt.Errorf("stop nginx on %s: status %s: %w", brokenNode, resp.Status, err)
	}
	if !rec.OK {
		return fmt.Errorf("stop nginx on %s: status %s, error %q", brokenNode, resp.Status, rec.Error)
	}
	return nil
}

// promAPI asks Prometheus' HTTP API what Grafana would ask it.
type promAPI struct{ base string }

type promResponse struct {
	Status string `json:"status"`
	Error  string `json:"error"`
	Data   struct {
		ResultType string `json:"resultType"`
		Result     []struct {
			Metric map[string]string `json:"metric"`
			Value  []any             `json:"value"`
			Values [][]any           `json:"values"`
		} `json:"result"`
	} `json:"data"`
}

var errNoData = errors.New("no series with a number")

func (p *promAPI) get(path string, params url.Values, out any) error {
	resp, err := http.Get(p.base + path + "?" + params.Encode())
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("%s: status %s: %w", path, resp.Status, err)
	}
	return nil
}

func (p *promAPI) query(path string, params url.Values) (*promResponse, error) {
	var r promResponse
	if err := p.get(path, params, &r); err != nil {
		return nil, err
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("prometheus: %s", r.Error)
	}
	return &r, nil
}

// isNumber is false for NaN: Grafana draws nothing for it.
func isNumber(sample []any) bool {
	if len(sample) != 2 {
		return false
	}
	s, ok := sample[1].(string)
	if !ok {
		return false
	}
	f, err := strconv.ParseFloat(s, 64)
	return err == nil && f == f
}

func (p *promAPI) instantHas(expr string) error {
	r, err := p.query("/api/v1/query", url.Values{"query": {expr}})
	if err != nil {
		return err
	}
	for _, s := range r.Data.Result {
		if isNumber(s.Value) {
			return nil
		}
	}
	if r.Data.ResultType == "scalar" {
		return nil
	}
	return errNoData
}

func (p *promAPI) rangeHas(expr string, window time.Duration) error {
	end := time.Now()
	r, err := p.query("/api/v1/query_range", url.Values{
		"query": {expr},
		"start": {strconv.FormatInt(end.Add(-window).Unix(), 10)},
		"end":   {strconv.FormatInt(end.Unix(), 10)},
		"step":  {"2"},
	})
	if err != nil {
		return err
	}
	for _, s := range r.Data.Result {
		for _, v := range s.Values {
			if isNumber(v) {
				return nil
			}
		}
	}
	return errNoData
}

// labelHas asks for a variable's values the way Grafana's label_values
// does: the label's values among the series a selector matches.
func (p *promAPI) labelHas(label, selector string) error {
	var r struct {
		Status string   `json:"status"`
		Error  string   `json:"error"`
		Data   []string `json:"data"`
	}
	if err := p.get("/api/v1/label/"+label+"/values", url.Values{"match[]": {selector}}, &r); err != nil {
		return err
	}
	if r.Status != "success" {
		return fmt.Errorf("prometheus: %s", r.Error)
	}
	if len(r.Data) == 0 {
		return fmt.Errorf("no values of %s among %s", label, selector)
	}
	if strings.Join(r.Data, "") == "" {
		return fmt.Errorf("only empty values of %s among %s", label, selector)
	}
	return nil
}
