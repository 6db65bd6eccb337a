// Package slo answers GET /api/v1/slos: each SLO's success ratio, error
// budget left and burn rate, read from the recording rules `pulse rules slo`
// generates (pulse_slo:*) in the Prometheus the collector is told about. The
// web view's SLO panel shows them.
//
// It only reads Prometheus; the numbers are Prometheus', never recomputed
// here from the collector's own state, so the panel and the dashboards and
// alerts agree.
package slo

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pulseops/pulse/collector/api"
)

// The recording rules read. The period's ratio is derived from the budget
// left, so whatever period an SLO has, no rule name depends on it.
const (
	objectiveRule = "pulse_slo:objective:ratio"
	budgetRule    = "pulse_slo:error_budget_remaining:ratio"
	// BurnWindow is the window of the burn rate shown: the long window of
	// the fast-burn page, so the panel says what would page.
	BurnWindow = "1h"
	burnRule   = "pulse_slo:error_ratio:rate" + BurnWindow
)

// Options configure the view.
type Options struct {
	// Prometheus is its base URL (http://127.0.0.1:9090); empty shows none.
	Prometheus string
	// HTTP asks it (a client with a 5s timeout by default).
	HTTP *http.Client
}

// View reads every SLO from Prometheus.
func View(ctx context.Context, o Options) api.SLOsView {
	v := api.SLOsView{Source: o.Prometheus, SLOs: []api.SLOView{}}
	if o.Prometheus == "" {
		v.Error = "the collector is not told where Prometheus is: set prometheus_url in its config to see the SLOs"
		return v
	}
	hc := o.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 5 * time.Second}
	}
	read := func(rule string) ([]sample, error) { return query(ctx, hc, o.Prometheus, rule) }
	objectives, err := read(objectiveRule)
	if err != nil {
		v.Error = err.Error()
		return v
	}
	budgets, err := read(budgetRule)
	if err != nil {
		v.Error = err.Error()
		return v
	}
	burns, err := read(burnRule)
	if err != nil {
		v.Error = err.Error()
		return v
	}
	objective := map[string]float64{}
	for _, s := range objectives {
		objective[s.Metric["slo"]] = s.Value
	}
	type key struct{ slo, labels string }
	rows := map[key]*api.SLOView{}
	row := func(m map[string]string) *api.SLOView {
		labels := map[string]string{}
		for k, val := range m {
			if k != "__name__" && k != "slo" {
				labels[k] = val
			}
		}
		k := key{m["slo"], labelString(labels)}
		if r := rows[k]; r != nil {
			return r
		}
		obj, ok := objective[k.slo]
		if !ok {
			return nil // an SLO without its objective is not one pulse generated
		}
		r := &api.SLOView{SLO: k.slo, Labels: labels, Objective: obj, BurnRateWindow: BurnWindow}
		rows[k] = r
		return r
	}
	for _, s := range budgets {
		if r := row(s.Metric); r != nil {
			left := number(s.Value)
			r.ErrorBudgetRemaining = left
			if left != nil {
				// left = 1 - errors/(1-objective) over the period.
				success := 1 - (1-*left)*(1-r.Objective)
				r.SuccessRatio = &success
			}
		}
	}
	for _, s := range burns {
		if r := row(s.Metric); r != nil && r.Objective < 1 {
			r.BurnRate = number(s.Value / (1 - r.Objective))
		}
	}
	for _, r := range rows {
		v.SLOs = append(v.SLOs, *r)
	}
	slices.SortFunc(v.SLOs, func(a, b api.SLOView) int {
		return cmp.Or(cmp.Compare(a.SLO, b.SLO), cmp.Compare(labelString(a.Labels), labelString(b.Labels)))
	})
	return v
}

// number is x, or nil for NaN and infinities (no runs in the window), which
// JSON cannot carry and which mean "no data", not a ratio.
func number(x float64) *float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return nil
	}
	return &x
}

func labelString(l map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(l)) {
		parts = append(parts, k+"="+l[k])
	}
	return strings.Join(parts, ",")
}

// sample is one series of an instant vector.
type sample struct {
	Metric map[string]string
	Value  float64
}

// query asks Prometheus' HTTP API for an instant vector. Its answer is
// small and plain JSON; a client library would bring a JSON dependency of
// its own for three fields.
func query(ctx context.Context, hc *http.Client, base, q string) ([]sample, error) {
	u, err := url.Parse(strings.TrimRight(base, "/") + "/api/v1/query")
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("prometheus URL %q is not an http:// or https:// URL", base)
	}
	u.RawQuery = url.Values{"query": {q}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot ask Prometheus at %s for %s: %w", base, q, err)
	}
	defer resp.Body.Close()
	out, err := parseVector(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("prometheus at %s answered %s for %s with %w", base, resp.Status, q, err)
	}
	return out, nil
}

// parseVector reads Prometheus' answer to an instant query.
func parseVector(r io.Reader) ([]sample, error) {
	var body struct {
		Status    string `json:"status"`
		Error     string `json:"error"`
		ErrorType string `json:"errorType"`
		Data      struct {
			ResultType string `json:"resultType"`
			Result     []struct {
				Metric map[string]string `json:"metric"`
				Value  [2]any            `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(r).Decode(&body); err != nil {
		return nil, fmt.Errorf("what is not its API's JSON: %w", err)
	}
	if body.Status != "success" {
		return nil, fmt.Errorf("a refusal: %s: %s", body.ErrorType, body.Error)
	}
	if body.Data.ResultType != "vector" {
		return nil, fmt.Errorf("a %s, not an instant vector", body.Data.ResultType)
	}
	out := make([]sample, 0, len(body.Data.Result))
	for _, res := range body.Data.Result {
		s, _ := res.Value[1].(string)
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("the value %v: %w", res.Value[1], err)
		}
		out = append(out, sample{Metric: res.Metric, Value: v})
	}
	return out, nil
}
