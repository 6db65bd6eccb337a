package rules

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v4"
)

const validSLO = `name: login
objective: 0.995
period: 30d
errors: pulse_probe_failures_total{probe="login"}
total: pulse_probe_runs_total{probe="login"}
keep_labels: [az]
`

func TestParseSLO(t *testing.T) {
	s, err := ParseSLO("login.yaml", []byte(`name: checkout_api-v2
objective: 0.999
errors: ' http_errors_total{ job = "shop" , code=~"5.."} '
total: http_requests_total{job="shop"}
description: |
  Checkout answers.
`))
	if err != nil {
		t.Fatal(err)
	}
	want := SLOSpec{
		Name:        "checkout_api-v2",
		Objective:   0.999,
		Period:      30 * 24 * time.Hour,
		Errors:      `http_errors_total{code=~"5..",job="shop"}`,
		Total:       `http_requests_total{job="shop"}`,
		Description: "Checkout answers.",
		NoDataFor:   10 * time.Minute,
	}
	if s.Name != want.Name || s.Objective != want.Objective || s.Period != want.Period ||
		s.Errors != want.Errors || s.Total != want.Total || s.Description != want.Description ||
		s.NoDataFor != want.NoDataFor || len(s.KeepLabels) != 0 {
		t.Errorf("got %+v\nwant %+v", *s, want)
	}
}

func TestParseSLOErrors(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"unknown key", validSLO + "objectiv: 0.9\n",
			`x.yaml:7: unknown key "objectiv"`},
		{"syntax", "name: [login\n",
			"x.yaml:1: did not find expected ',' or ']' while parsing a flow sequence"},
		{"missing everything", "description: nothing\n",
			"x.yaml:1: name: required, e.g. name: login\n" +
				"x.yaml:1: objective: required, the success ratio, e.g. objective: 0.995\n" +
				"x.yaml:1: errors: required, a counter selector such as pulse_probe_runs_total{probe=\"login\"}\n" +
				"x.yaml:1: total: required, a counter selector such as pulse_probe_runs_total{probe=\"login\"}"},
		{"bad name", strings.Replace(validSLO, "name: login", "name: Login Page", 1),
			`x.yaml:1: name "Login Page": use lower-case letters and digits separated by - or _, e.g. checkout-api`},
		{"objective percent", strings.Replace(validSLO, "0.995", "99.5", 1),
			"x.yaml:2: objective 99.5: must be a ratio between 0 and 1 exclusive, e.g. 0.995 for 99.5%"},
		{"objective one", strings.Replace(validSLO, "0.995", "1", 1),
			"x.yaml:2: objective 1: must be a ratio between 0 and 1 exclusive, e.g. 0.995 for 99.5%"},
		{"objective string", strings.Replace(validSLO, "0.995", "high", 1),
			`x.yaml:2: "high" is not a number`},
		{"period syntax", strings.Replace(validSLO, "30d", "a month", 1),
			`x.yaml:3: period "a month": not a duration, e.g. 30d or 4w`},
		{"period short", strings.Replace(validSLO, "30d", "6h", 1),
			`x.yaml:3: period "6h": must be at least 1d; the burn-rate alerts assume a period of weeks`},
		{"no data", validSLO + "no_data_for: 0s\n",
			`x.yaml:7: no_data_for "0s": must be positive`},
		{"errors bad promql", strings.Replace(validSLO, `failures_total{probe="login"}`, `failures_total{probe=}`, 1),
			`x.yaml:4: errors "pulse_probe_failures_total{probe=}": not valid PromQL: 1:34: parse error: unexpected "}" in label matching, expected string`},
		{"errors range", strings.Replace(validSLO, `failures_total{probe="login"}`, `failures_total{probe="login"}[5m]`, 1),
			`x.yaml:4: errors "pulse_probe_failures_total{probe=\"login\"}[5m]": must be a plain counter selector such as pulse_probe_runs_total{probe="login"}, not a range selector`},
		{"total expression", strings.Replace(validSLO, `total: pulse_probe_runs_total{probe="login"}`, `total: sum(pulse_probe_runs_total)`, 1),
			`x.yaml:5: total "sum(pulse_probe_runs_total)": must be a plain counter selector such as pulse_probe_runs_total{probe="login"}, not an aggregation`},
		{"total offset", strings.Replace(validSLO, `total: pulse_probe_runs_total{probe="login"}`, `total: pulse_probe_runs_total offset 5m`, 1),
			`x.yaml:5: total "pulse_probe_runs_total offset 5m": offset and @ modifiers are not allowed; the generator chooses the windows`},
		{"keep label invalid", strings.Replace(validSLO, "[az]", "[az, az-name]", 1),
			`x.yaml:6: keep_labels[1] "az-name": not a Prometheus label name`},
		{"keep label slo", strings.Replace(validSLO, "[az]", "[slo]", 1),
			`x.yaml:6: keep_labels[0] "slo": reserved, the generator sets it to the SLO name`},
		{"template in description", validSLO + "description: 'Users log in {{ $labels.az }}'\n",
			"x.yaml:7: description: must not contain {{ or }}; it is copied into alert annotations, which Prometheus expands as templates"},
		{"keep label twice", strings.Replace(validSLO, "[az]", "[az, role, az]", 1),
			`x.yaml:6: keep_labels[2] "az": listed twice`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseSLO("x.yaml", []byte(tc.in))
			if err == nil {
				t.Fatalf("no error, want %q", tc.want)
			}
			if err.Error() != tc.want {
				t.Errorf("error\n got: %s\nwant: %s", err, tc.want)
			}
		})
	}
}

func TestLoadSLOMissingFile(t *testing.T) {
	_, err := LoadSLO(filepath.Join(t.TempDir(), "none.yaml"))
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("got %v, want a not-exist error", err)
	}
}

func TestAlertPrefix(t *testing.T) {
	for in, want := range map[string]string{
		"login": "Login", "checkout-api": "CheckoutApi", "search_v2": "SearchV2", "a-b_c": "ABC",
	} {
		if got := alertPrefix(in); got != want {
			t.Errorf("alertPrefix(%q) = %q, want %q", in, got, want)
		}
	}
}

// A spec built in Go gets the parser's defaults and checks.
func TestGenerateSLOFromGo(t *testing.T) {
	b, err := GenerateSLO(&SLOSpec{
		Name:      "search",
		Objective: 0.99,
		Period:    24 * time.Hour, // equal to an alert window: one rule, not two
		Errors:    `search_errors_total`,
		Total:     `search_total`,
	})
	if err != nil {
		t.Fatal(err)
	}
	f := parseRuleFile(t, b)
	seen := map[string]int{}
	for _, r := range f.Groups[0].Rules {
		seen[r.Record+r.Alert]++
		if r.Record != "" && strings.Contains(r.Expr, "sum by") {
			t.Errorf("%s: no keep_labels must give a plain sum, got %s", r.Record, r.Expr)
		}
	}
	for name, n := range seen {
		if n != 1 {
			t.Errorf("rule %s generated %d times", name, n)
		}
	}
	for _, name := range []string{"pulse_slo:error_ratio:rate1d", "SearchSLOBurnRatePage", "SearchSLOBurnRateTicket", "SearchSLONoData"} {
		if seen[name] != 1 {
			t.Errorf("missing rule %s; got %v", name, seen)
		}
	}
	if !strings.Contains(string(b), "increase(search_total[10m])") || !strings.Contains(string(b), "for: 10m") {
		t.Errorf("the default no_data_for of 10m is not applied:\n%s", b)
	}

	_, err = GenerateSLO(&SLOSpec{Name: "bad", Objective: 2, Errors: "a_total", Total: "b_total"})
	want := "generate SLO rules: SLO spec bad:2: objective 2: must be a ratio between 0 and 1 exclusive, e.g. 0.995 for 99.5%"
	if err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
	if _, err := GenerateSLO(nil); err == nil || err.Error() != "generate SLO rules: nil spec" {
		t.Errorf("nil spec: got %v", err)
	}
}

func parseRuleFile(t testing.TB, b []byte) ruleFile {
	t.Helper()
	var f ruleFile
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatalf("generated rules do not parse: %v\n%s", err, b)
	}
	if len(f.Groups) != 1 {
		t.Fatalf("want one group, got %d", len(f.Groups))
	}
	return f
}

// FuzzParseSLO feeds arbitrary specs to the parser: it must never panic,
// and whatever it accepts the generator must turn into rules that parse.
func FuzzParseSLO(f *testing.F) {
	specs, _ := filepath.Glob("slo/*.yaml")
	for _, p := range specs {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(validSLO))
	f.Add([]byte("name: a\nobjective: 0.5\nerrors: a{b=~\".*\"}\ntotal: '{__name__=\"x\"}'\nperiod: 1w\nno_data_for: 1ms\n"))
	f.Add([]byte("name: [\n"))
	f.Add([]byte("errors: sum(x)\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseSLO("fuzz.yaml", b)
		if err != nil {
			return
		}
		if _, err := GenerateSLO(s); err != nil {
			t.Fatalf("accepted spec does not generate: %v\n%s", err, b)
		}
	})
}
