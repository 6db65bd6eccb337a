package rollout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pulseops/pulse/collector/api"
)

// prometheus asks one Prometheus for instant query results, over its HTTP
// API, as Grafana and promtool do.
type prometheus struct {
	base   string
	client *http.Client
}

func newPrometheus(base string) (*prometheus, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("prometheus URL %q is not an http:// or https:// URL", base)
	}
	return &prometheus{base: strings.TrimSuffix(base, "/"), client: &http.Client{Timeout: 15 * time.Second}}, nil
}

// promAnswer is the part of /api/v1/query's answer a gate reads.
type promAnswer struct {
	Status    string `json:"status"`
	ErrorType string `json:"errorType"`
	Error     string `json:"error"`
	Data      struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	} `json:"data"`
}

// query evaluates q now and returns its samples; a scalar is one sample
// without labels. Anything else — an unreachable Prometheus, a query it
// refuses, a range vector, no samples — is an error saying so.
func (p *prometheus) query(ctx context.Context, q string) ([]api.GateSample, error) {
	form := url.Values{"query": {q}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.base+"/api/v1/query", strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := p.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("Prometheus at %s cannot be reached: %w", p.base, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return nil, fmt.Errorf("Prometheus at %s: read answer: %w", p.base, err)
	}
	var a promAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		return nil, fmt.Errorf("Prometheus at %s answered %s, not its API's JSON (is that Prometheus?)", p.base, resp.Status)
	}
	if a.Status != "success" {
		return nil, fmt.Errorf("Prometheus refused the query (%s): %s", a.ErrorType, a.Error)
	}
	switch a.Data.ResultType {
	case "scalar":
		var v [2]any
		if err := json.Unmarshal(a.Data.Result, &v); err != nil {
			return nil, fmt.Errorf("Prometheus scalar: %w", err)
		}
		f, err := sampleValue(v[1])
		if err != nil {
			return nil, err
		}
		return []api.GateSample{{Value: f}}, nil
	case "vector":
		var vs []struct {
			Metric map[string]string `json:"metric"`
			Value  [2]any            `json:"value"`
		}
		if err := json.Unmarshal(a.Data.Result, &vs); err != nil {
			return nil, fmt.Errorf("Prometheus vector: %w", err)
		}
		if len(vs) == 0 {
			return nil, errors.New("the query returned no samples: no data is no evidence (add `or vector(0)` where none means good)")
		}
		out := make([]api.GateSample, 0, len(vs))
		for _, s := range vs {
			f, err := sampleValue(s.Value[1])
			if err != nil {
				return nil, err
			}
			out = append(out, api.GateSample{Labels: labelString(s.Metric), Value: f})
		}
		sort.Slice(out, func(i, j int) bool { return out[i].Labels < out[j].Labels })
		return out, nil
	}
	return nil, fmt.Errorf("the query returns a %s; a gate needs an instant vector or a scalar", a.Data.ResultType)
}

func sampleValue(v any) (float64, error) {
	s, ok := v.(string)
	if !ok {
		return 0, fmt.Errorf("Prometheus sample value %v is not a string", v)
	}
	return strconv.ParseFloat(s, 64)
}

// labelString prints labels as PromQL does: {a="x", b="y"}.
func labelString(m map[string]string) string {
	if len(m) == 0 {
		return "{}"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + strconv.Quote(m[k])
	}
	return "{" + strings.Join(parts, ", ") + "}"
}
