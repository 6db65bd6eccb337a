package dashboards

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pulseops/pulse/demo"
	"github.com/pulseops/pulse/internal/testkit"
)

// The web node whose nginx the test stops, so that the alert and
// remediation annotations have something to mark.
const brokenNode = "ip-10-0-1-12"

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
// Alertmanager and runs every panel and variable query with the variables
// at "All" in the quiet state (healthy, nothing happened yet): each must
// return a value, so no panel reads "No data". Then it breaks nginx on one
// node so a remediation happens, and every annotation must mark it.
func TestDashboardsShowData(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Prometheus and Alertmanager; skipped with -short")
	}
	prometheus, alertmanager := testkit.RealPart(t, "prometheus"), testkit.RealPart(t, "alertmanager")
	qs, vs := allQueries(t)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d, err := demo.Start(ctx, demo.Options{
		Nodes: 11, Zones: []string{"eu-west-1a", "eu-west-1b"}, NATSPort: -1,
		CollectorAddr: "127.0.0.1:0", ShopAddr: "127.0.0.1:0",
		Prometheus: prometheus, Alertmanager: alertmanager,
		PrometheusAddr: testkit.FreeAddr(t), AlertmanagerAddr: testkit.FreeAddr(t),
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

	// The quiet state: a healthy fleet where nothing has happened yet. Every
	// panel must show a value (0, or "none") here, because in Grafana "No
	// data" reads the same as a broken query.
	var annotations []promQuery
	for _, q := range qs {
		if q.Annotation {
			annotations = append(annotations, q)
			continue
		}
		expr := substitute(q.Expr)
		if err := eventually(deadline, time.Second, func() error { return prom.has(q, expr) }); err != nil {
			t.Errorf("%s shows no data in the quiet state: %v\n  query: %s", q.Where, err, expr)
		}
	}
	// The demo's check_load reads this machine's real load, so a busy
	// machine has failing checks even here. The failing-checks table's
	// answer for "nothing fails" is proven with a zone that has no nodes.
	for _, q := range qs {
		if !strings.Contains(q.Where, "Checks failing now") {
			continue
		}
		expr := strings.ReplaceAll(q.Expr, "$az", "no-such-zone")
		r, err := prom.query("/api/v1/query", url.Values{"query": {substitute(expr)}})
		if err != nil || len(r.Data.Result) != 1 || r.Data.Result[0].Metric["check"] != "none" {
			t.Errorf("%s with nothing failing: want one row with check \"none\", got %+v (%v)", q.Where, r, err)
		}
	}
	if n, err := prom.count(`sum(pulse_remediations_total)`); err != nil || n != 0 {
		t.Fatalf("the quiet state was not quiet: %v remediations (%v)", n, err)
	}

	// Break nginx; the alert reaches the collector through Alertmanager and
	// the restart-nginx rule repairs it. Now the annotations have events to
	// mark, and the failing-checks table real rows.
	breakNginx := func() error { return stopNginx(d.Collector.Addr(), d.ActionToken) }
	if err := breakNginx(); err != nil {
		t.Fatal(err)
	}
	if err := eventually(deadline, 500*time.Millisecond, func() error {
		return prom.instantHas(`pulse_remediations_total{rule="restart-nginx"} > 0`)
	}); err != nil {
		t.Fatalf("no remediation of the stopped nginx reached Prometheus: %v", err)
	}
	for _, q := range annotations {
		expr := substitute(q.Expr)
		if err := eventually(deadline, time.Second, func() error { return prom.has(q, expr) }); err != nil {
			t.Errorf("%s marks nothing after a remediation: %v\n  query: %s", q.Where, err, expr)
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

// isNumber is false for NaN unless nan says the panel shows it as text:
// Grafana draws nothing for it.
func isNumber(sample []any, nan bool) bool {
	if len(sample) != 2 {
		return false
	}
	s, ok := sample[1].(string)
	if !ok {
		return false
	}
	f, err := strconv.ParseFloat(s, 64)
	return err == nil && (f == f || nan)
}

func (p *promAPI) instantHas(expr string, nan ...bool) error {
	r, err := p.query("/api/v1/query", url.Values{"query": {expr}})
	if err != nil {
		return err
	}
	for _, s := range r.Data.Result {
		if isNumber(s.Value, len(nan) > 0 && nan[0]) {
			return nil
		}
	}
	if r.Data.ResultType == "scalar" {
		return nil
	}
	return errNoData
}

// has runs q as Grafana would and says whether its panel shows a value:
// a number, or a NaN the panel maps to text.
func (p *promAPI) has(q promQuery, expr string) error {
	if q.Instant {
		return p.instantHas(expr, q.NaNShown)
	}
	return p.rangeHas(expr, 10*time.Minute, q.NaNShown)
}

// count is the value of an instant query that returns one number.
func (p *promAPI) count(expr string) (float64, error) {
	r, err := p.query("/api/v1/query", url.Values{"query": {expr}})
	if err != nil {
		return 0, err
	}
	if len(r.Data.Result) != 1 || len(r.Data.Result[0].Value) != 2 {
		return 0, fmt.Errorf("%s: want one sample, got %d series", expr, len(r.Data.Result))
	}
	s, _ := r.Data.Result[0].Value[1].(string)
	return strconv.ParseFloat(s, 64)
}

func (p *promAPI) rangeHas(expr string, window time.Duration, nan bool) error {
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
			if isNumber(v, nan) {
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
