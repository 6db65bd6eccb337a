package dashboards

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/promql/parser"
)

// promQuery is one PromQL query found in a generated dashboard.
type promQuery struct {
	// Where names it for error messages: dashboard, panel and refId.
	Where string
	Expr  string
	// Instant queries are evaluated once at the end of the range; the rest
	// are range queries, as Grafana runs them.
	Instant bool
	// Annotation queries mark events, so they answer only once something
	// happened; panel queries must answer in a quiet fleet too.
	Annotation bool
	// NaNShown: the panel maps NaN to text, so a NaN is a value it shows.
	NaNShown bool
}

// varQuery is a label_values(selector, label) template variable.
type varQuery struct {
	Where    string
	Selector string
	Label    string
}

var labelValuesRE = regexp.MustCompile(`^label_values\((.+),\s*([a-zA-Z_][a-zA-Z0-9_]*)\)$`)

// extract walks a dashboard's JSON, as Grafana will read it, for every
// panel target, annotation and query variable.
func extract(name string, js []byte) ([]promQuery, []varQuery, error) {
	var d struct {
		Panels      []jsonPanel `json:"panels"`
		Annotations struct {
			List []struct {
				Name       string         `json:"name"`
				Datasource map[string]any `json:"datasource"`
				// Expr is the legacy place of a Prometheus annotation's
				// query; Grafana keeps it under target now.
				Expr   string `json:"expr"`
				Target struct {
					Expr string `json:"expr"`
				} `json:"target"`
			} `json:"list"`
		} `json:"annotations"`
		Templating struct {
			List []struct {
				Type  string `json:"type"`
				Name  string `json:"name"`
				Query any    `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(js, &d); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	var qs []promQuery
	var walk func([]jsonPanel)
	walk = func(ps []jsonPanel) {
		for _, p := range ps {
			nan := false
			for _, m := range p.FieldConfig.Defaults.Mappings {
				nan = nan || (m.Type == "special" && m.Options.Match == "nan")
			}
			for _, t := range p.Targets {
				qs = append(qs, promQuery{Where: fmt.Sprintf("%s panel %d %q query %s", name, p.ID, p.Title, t.RefID), Expr: t.Expr, Instant: t.Instant, NaNShown: nan})
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	for _, a := range d.Annotations.List {
		if a.Datasource["type"] != "prometheus" {
			continue
		}
		if a.Expr != "" {
			return nil, nil, fmt.Errorf("%s annotation %q: query in the legacy top-level expr, want it under target", name, a.Name)
		}
		qs = append(qs, promQuery{Where: fmt.Sprintf("%s annotation %q", name, a.Name), Expr: a.Target.Expr, Annotation: true})
	}
	var vs []varQuery
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		q, ok := v.Query.(string)
		if !ok {
			return nil, nil, fmt.Errorf("%s variable %s: query is %T, want a label_values string", name, v.Name, v.Query)
		}
		m := labelValuesRE.FindStringSubmatch(q)
		if m == nil {
			return nil, nil, fmt.Errorf("%s variable %s: query %q is not label_values(selector, label)", name, v.Name, q)
		}
		vs = append(vs, varQuery{Where: fmt.Sprintf("%s variable %s", name, v.Name), Selector: m[1], Label: m[2]})
	}
	return qs, vs, nil
}

type jsonPanel struct {
	ID      int    `json:"id"`
	Title   string `json:"title"`
	Targets []struct {
		RefID   string `json:"refId"`
		Expr    string `json:"expr"`
		Instant bool   `json:"instant"`
	} `json:"targets"`
	Panels      []jsonPanel `json:"panels"`
	FieldConfig struct {
		Defaults struct {
			Mappings []struct {
				Type    string `json:"type"`
				Options struct {
					Match string `json:"match"`
				} `json:"options"`
			} `json:"mappings"`
		} `json:"defaults"`
	} `json:"fieldConfig"`
}

// substitute does what Grafana does before a query reaches Prometheus,
// with every variable at "All" (".*") or its demo value and the interval macros at values a
// one-hour dashboard would get.
var substitute = strings.NewReplacer(
	"$__rate_interval", "1m",
	"$__interval", "15s",
	"$__range", "1h",
	"$datasource", "prometheus",
	"$az", ".*",
	"$role", ".*",
	"$cluster", ".*",
	"$node", ".*",
	"$probe", ".*",
	"$check", ".*",
	// A single-value variable: the demo's application.
	"$package", "shop",
).Replace

// allQueries extracts every query of every generated dashboard.
func allQueries(t *testing.T) ([]promQuery, []varQuery) {
	t.Helper()
	files, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	var qs []promQuery
	var vs []varQuery
	for _, n := range names {
		q, v, err := extract(n, files[n])
		if err != nil {
			t.Fatal(err)
		}
		qs, vs = append(qs, q...), append(vs, v...)
	}
	return qs, vs
}

// TestQueriesParse runs every panel, annotation and variable query
// through Prometheus' own PromQL parser after Grafana's substitutions.
func TestQueriesParse(t *testing.T) {
	qs, vs := allQueries(t)
	if len(qs) < 40 || len(vs) < 10 {
		t.Fatalf("found only %d queries and %d variables; is extract still reading the JSON Grafana reads?", len(qs), len(vs))
	}
	p := parser.NewParser(parser.Options{})
	for _, q := range qs {
		if strings.TrimSpace(q.Expr) == "" {
			t.Errorf("%s: empty query", q.Where)
			continue
		}
		expr := substitute(q.Expr)
		if strings.Contains(expr, "$") {
			t.Errorf("%s: unknown variable left after substitution: %s", q.Where, expr)
			continue
		}
		if _, err := p.ParseExpr(expr); err != nil {
			t.Errorf("%s: %v\n  query: %s", q.Where, err, expr)
		}
	}
	for _, v := range vs {
		sel := substitute(v.Selector)
		if strings.Contains(sel, "$") {
			t.Errorf("%s: unknown variable left after substitution: %s", v.Where, sel)
			continue
		}
		if _, err := p.ParseMetricSelector(sel); err != nil {
			t.Errorf("%s: selector %s: %v", v.Where, sel, err)
		}
	}
}

// TestQueriesHonourVariables: every query about nodes narrows by zone,
// role and cluster; the ones that cannot must say so in their panel.
func TestQueriesHonourVariables(t *testing.T) {
	qs, _ := allQueries(t)
	// Series without node labels: remediation and collector metrics, the
	// scrape's up, and SLO recording rules (which keep only az).
	exempt := regexp.MustCompile(`pulse_remediation|pulse_collector_|up\{job=|pulse_slo:`)
	for _, q := range qs {
		if exempt.MatchString(q.Expr) {
			continue
		}
		for _, v := range []string{"$az", "$role", "$cluster"} {
			if !strings.Contains(q.Expr, v) {
				t.Errorf("%s does not use %s: %s", q.Where, v, q.Expr)
			}
		}
	}
}

// TestExtractErrors pins the messages a malformed dashboard gives.
func TestExtractErrors(t *testing.T) {
	for _, tc := range []struct {
		name, js, want string
	}{
		{"bad json", `{`, "d.json: unexpected end of JSON input"},
		{"map query", `{"templating":{"list":[{"type":"query","name":"az","query":{"query":"x"}}]}}`, "d.json variable az: query is map[string]interface {}, want a label_values string"},
		{"legacy annotation", `{"annotations":{"list":[{"name":"A","datasource":{"type":"prometheus"},"expr":"up"}]}}`, `d.json annotation "A": query in the legacy top-level expr, want it under target`},
		{"not label_values", `{"templating":{"list":[{"type":"query","name":"az","query":"up"}]}}`, `d.json variable az: query "up" is not label_values(selector, label)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := extract("d.json", []byte(tc.js))
			if err == nil || err.Error() != tc.want {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}

// FuzzExtract: whatever JSON a dashboard file holds, reading its queries
// returns an error or queries, never a panic.
func FuzzExtract(f *testing.F) {
	files, err := Generate()
	if err != nil {
		f.Fatal(err)
	}
	for _, b := range files {
		f.Add(b)
	}
	f.Add([]byte(`{"panels":[{"panels":[{"targets":[{"expr":"up"}]}]}]}`))
	f.Add([]byte(`{"templating":{"list":[{"type":"query","query":"label_values(up, job)"}]}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		qs, vs, err := extract("fuzz.json", b)
		if err != nil && (qs != nil || vs != nil) {
			t.Fatalf("error %v with results", err)
		}
	})
}
