package rollout

import (
	"github.com/prometheus/prometheus/promql/parser"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pulseops/pulse/collector/api"
)

func TestLoadGates(t *testing.T) {
	dir := t.TempDir()
	write := func(body string) string {
		p := filepath.Join(dir, "gates.yaml")
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := `prometheus: http://127.0.0.1:9090
gates:
  - name: login
    query: |
      sum(rate(pulse_probe_failures_total{probe="login",identity=~"{{nodes}}"}[1m]))
      / sum(rate(pulse_probe_runs_total{probe="login",identity=~"{{nodes}}"}[1m]))
    success: result < 0.05
    count: 3
    interval: 5s
    failure_limit: 1
  - name: latency
    query: max(pulse_probe_duration_seconds{identity=~"{{step_nodes}}"})
    success: result <= 0.5
`
	f, err := LoadGates(write(good))
	if err != nil {
		t.Fatal(err)
	}
	if f.Prometheus != "http://127.0.0.1:9090" || len(f.Gates) != 2 || f.Gates[0].Count != 3 || time.Duration(f.Gates[0].Interval) != 5*time.Second ||
		f.Gates[1].Count != 1 || time.Duration(f.Gates[1].Interval) != defaultGateInterval {
		t.Fatalf("%+v", f)
	}
	p := filepath.Join(dir, "gates.yaml")
	for body, want := range map[string]string{
		"gates:\n  - name: a\n    query: vector(1)\n    sucess: result > 0\n":                                                  p + `:4: unknown key "sucess"`,
		"gates:\n  - name: a\n    query: sum(rate(x[1m])\n    success: result > 0\n":                                           p + ":3: gate a: query does not parse: 1:16: parse error: unclosed left parenthesis",
		"gates:\n  - name: a\n    query: vector(1)\n    success: \">= 0.9\"\n":                                                 p + `:4: gate a: success ">= 0.9" must be result OP NUMBER, OP one of < <= > >= == !=, e.g. result >= 0.95`,
		"gates:\n  - name: a\n    query: vector(1)\n    success: result > 0\n    interval: soon\n":                             p + `:5: gate a: interval "soon" is not a duration such as 10s`,
		"gates:\n  - name: a\n    query: x{i=\"{{node}}\"}\n    success: result > 0\n":                                         p + ":3: gate a: unknown placeholder {{node}}: use {{nodes}}, {{step_nodes}}, {{package}} or {{version}}",
		"gates:\n  - name: a\n    query: vector(1)\n    success: result > 0\n    count: 2\n    failure_limit: 2\n":             p + ":6: gate a: failure_limit 2 lets all 2 measurements fail: it must be below count",
		"gates:\n  - name: a b\n    query: vector(1)\n    success: result > 0\n":                                               p + `:2: gate name "a b" must be 1 to 64 letters, digits, '.', '_' or '-'`,
		"gates:\n  - {name: a, query: vector(1), success: result > 0}\n  - {name: a, query: vector(2), success: result > 0}\n": p + `:3: gate "a" is defined twice`,
		"prometheus: http://x\n": p + ":1: no gates: list them under gates:, each with name, query and success",
	} {
		_, err := LoadGates(write(body))
		if err == nil || err.Error() != want {
			t.Errorf("%q:\n got %v\nwant %s", body, err, want)
		}
	}
}

func TestParseInlineGate(t *testing.T) {
	g, err := ParseInlineGate(`login: sum(rate(pulse_probe_failures_total{identity=~"{{nodes}}"}[1m])) < 0.1`, 3, 1, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	want := api.GateSpec{Name: "login", Query: `sum(rate(pulse_probe_failures_total{identity=~"{{nodes}}"}[1m]))`, Success: "result < 0.1",
		Count: 3, FailureLimit: 1, Interval: api.Duration(2 * time.Second)}
	if g != want {
		t.Fatalf("%+v\nwant %+v", g, want)
	}
	for in, want := range map[string]string{
		`sum(up) < 1`:             `--gate "sum(up) < 1": write NAME: QUERY OP NUMBER, e.g. login: sum(rate(pulse_probe_failures_total{identity=~"{{nodes}}"}[1m])) < 0.1`,
		`up: sum(up)`:             "--gate up: the query must end in a comparison with a number (QUERY < 0.1); for other conditions use --gates FILE",
		`up: sum(up) > bool 1`:    "--gate up: the query must end in a comparison with a number (QUERY < 0.1); for other conditions use --gates FILE",
		`up: sum(up) > sum(down)`: "--gate up: the query must end in a comparison with a number (QUERY < 0.1); for other conditions use --gates FILE",
		`up: sum(up > 1`:          "--gate up: query does not parse: 1:11: parse error: unclosed left parenthesis",
	} {
		if _, err := ParseInlineGate(in, 1, 0, time.Second); err == nil || err.Error() != want {
			t.Errorf("%q:\n got %v\nwant %s", in, err, want)
		}
	}
}

func TestNodesRegexp(t *testing.T) {
	if got := nodesRegexp([]string{"ip-10-0-1-10", "web.01"}); got != `ip-10-0-1-10|web\\.01` {
		t.Fatalf("%s", got)
	}
}

func TestReasonOf(t *testing.T) {
	s := api.RolloutStep{Failures: []api.StepFailure{
		{Gate: "probes", Node: "web-1", Message: "probe login is CRITICAL: 500 from http://shop/node/web-1/login"},
		{Gate: "probes", Node: "web-2", Message: "probe login is CRITICAL: 500 from http://shop/node/web-2/login"},
		{Gate: "checks", Node: "web-3", Message: "check nginx on web-3 is CRITICAL"},
		{Gate: "latency", Message: "1 of 1 measurements failed"},
	}}
	want := "probes failed on web-1, web-2: probe login is CRITICAL: 500 from http://shop/node/<node>/login; " +
		"checks failed on web-3: check nginx on web-3 is CRITICAL; latency failed: 1 of 1 measurements failed"
	if got := reasonOf(s); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

// A gate comes from a user's file, flag or API body: whatever it says,
// parsing never panics, and a gate that is accepted renders a query
// Prometheus' parser reads and a condition that evaluates.
func FuzzGate(f *testing.F) {
	for _, s := range []string{
		`login: sum(rate(pulse_probe_failures_total{identity=~"{{nodes}}"}[1m])) < 0.1`,
		`up: sum(up) >= bool 1`, `x: {{nodes}} < 1`, `g: vector(1) == NaN`, `:`, `a: b`, `a: 1 < 2`,
		`g: label_replace(vector(1), "n", "{{step_nodes}}", "", "") != 0`, "g: (sum(x) > (2))",
	} {
		f.Add(s, "result >= 0.95")
	}
	f.Fuzz(func(t *testing.T, inline, success string) {
		if g, err := ParseInlineGate(inline, 1, 0, time.Second); err == nil {
			check(t, g)
		}
		g := api.GateSpec{Name: "g", Query: inline, Success: success}
		if CheckGate(&g) == nil {
			check(t, g)
		}
	})
}

func check(t *testing.T, g api.GateSpec) {
	t.Helper()
	q, err := render(g.Query, placeholders{nodes: nodesRegexp([]string{"a.b", "c"}), stepNodes: "c", pkg: "p", version: "1"})
	if err != nil {
		t.Fatalf("accepted gate %+v does not render: %v", g, err)
	}
	if _, err := parser.NewParser(parser.Options{}).ParseExpr(q); err != nil {
		t.Fatalf("accepted gate %+v renders %q, which does not parse: %v", g, q, err)
	}
	c, err := parseCondition(g.Success)
	if err != nil {
		t.Fatalf("accepted gate %+v has a condition that does not parse: %v", g, err)
	}
	_ = c.holds(1)
}
