package rollout

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/prometheus/promql/parser"

	"github.com/pulseops/pulse/collector/api"
	"github.com/pulseops/pulse/internal/config"
)

// A gate is a PromQL query judged after each step, in the spirit of Argo
// Rollouts' analysis: it is measured Count times, Interval apart (after
// InitialDelay), and fails once more than FailureLimit measurements miss
// its Success condition. A measurement that cannot be taken — Prometheus
// unreachable, a query it refuses, no samples — fails the gate at once:
// evidence that could not be read never passes a step.

// Gate defaults.
const (
	defaultGateCount    = 1
	defaultGateInterval = 10 * time.Second
	maxGateCount        = 100
)

// GatesFile is the YAML of --gates FILE.
type GatesFile struct {
	// Prometheus is the base URL the gates query; --prometheus overrides.
	Prometheus string
	Gates      []api.GateSpec
}

// gatesYAML is a gates file as written, durations as text, so a bad one is
// reported at its line.
type gatesYAML struct {
	Prometheus string `yaml:"prometheus"`
	Gates      []gate `yaml:"gates"`
}

// gate is one gate as written.
type gate struct {
	Name         string `yaml:"name"`
	Query        string `yaml:"query"`
	Success      string `yaml:"success"`
	FailureLimit int    `yaml:"failure_limit"`
	Count        int    `yaml:"count"`
	Interval     string `yaml:"interval"`
	InitialDelay string `yaml:"initial_delay"`
}

// LoadGates reads a gates file strictly: unknown keys, bad durations,
// queries that do not parse and conditions that are not "result OP NUMBER"
// are errors naming the file and line.
func LoadGates(path string) (*GatesFile, error) {
	var y gatesYAML
	doc, err := config.LoadNode(path, &y)
	if err != nil {
		return nil, err
	}
	if len(y.Gates) == 0 {
		return nil, config.At(path, config.Find(doc, "gates"), "no gates: list them under gates:, each with name, query and success")
	}
	f := &GatesFile{Prometheus: y.Prometheus}
	for i, g := range y.Gates {
		spec := api.GateSpec{Name: g.Name, Query: g.Query, Success: g.Success, FailureLimit: g.FailureLimit, Count: g.Count}
		for _, d := range []struct {
			key, text string
			dst       *api.Duration
		}{{"interval", g.Interval, &spec.Interval}, {"initial_delay", g.InitialDelay, &spec.InitialDelay}} {
			if d.text == "" {
				continue
			}
			v, err := time.ParseDuration(d.text)
			if err != nil || v < 0 {
				return nil, config.At(path, config.Find(doc, "gates", i, d.key), "gate %s: %s %q is not a duration such as 10s", g.Name, d.key, d.text)
			}
			*d.dst = api.Duration(v)
		}
		f.Gates = append(f.Gates, spec)
	}
	seen := map[string]bool{}
	for i := range f.Gates {
		g := &f.Gates[i]
		if err := CheckGate(g); err != nil {
			var ge *gateError
			key := ""
			if errors.As(err, &ge) {
				key = ge.key
			}
			node := config.Find(doc, "gates", i)
			if key != "" {
				node = config.Find(doc, "gates", i, key)
			}
			return nil, config.At(path, node, "%v", err)
		}
		if seen[g.Name] {
			return nil, config.At(path, config.Find(doc, "gates", i, "name"), "gate %q is defined twice", g.Name)
		}
		seen[g.Name] = true
	}
	return f, nil
}

// gateError is a gate error about one of its keys, so a file's error can
// point at that key's line.
type gateError struct {
	key string
	err error
}

func (e *gateError) Error() string { return e.err.Error() }

func gateErr(key, format string, args ...any) error {
	return &gateError{key: key, err: fmt.Errorf(format, args...)}
}

var gateNameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// CheckGate validates g and fills in its defaults. The query is parsed
// with Prometheus' own parser, its placeholders standing for a value of
// their kind, so a query that cannot run is refused before any node
// changes.
func CheckGate(g *api.GateSpec) error {
	switch {
	case !gateNameRE.MatchString(g.Name):
		return gateErr("name", "gate name %q must be 1 to 64 letters, digits, '.', '_' or '-'", g.Name)
	case strings.TrimSpace(g.Query) == "":
		return gateErr("query", "gate %s has no query", g.Name)
	case g.Count < 0 || g.Count > maxGateCount:
		return gateErr("count", "gate %s: count %d must be between 1 and %d", g.Name, g.Count, maxGateCount)
	case g.FailureLimit < 0:
		return gateErr("failure_limit", "gate %s: failure_limit %d must not be negative", g.Name, g.FailureLimit)
	case g.Interval < 0 || g.InitialDelay < 0:
		return gateErr("interval", "gate %s: durations must not be negative", g.Name)
	}
	if g.Count == 0 {
		g.Count = defaultGateCount
	}
	if g.Interval == 0 {
		g.Interval = api.Duration(defaultGateInterval)
	}
	if g.FailureLimit >= g.Count {
		return gateErr("failure_limit", "gate %s: failure_limit %d lets all %d measurements fail: it must be below count", g.Name, g.FailureLimit, g.Count)
	}
	if _, err := parseCondition(g.Success); err != nil {
		return gateErr("success", "gate %s: %v", g.Name, err)
	}
	q, err := render(g.Query, placeholders{nodes: "node-a|node-b", stepNodes: "node-a", pkg: "pkg", version: "1.0"})
	if err != nil {
		return gateErr("query", "gate %s: %v", g.Name, err)
	}
	if _, err := parser.NewParser(parser.Options{}).ParseExpr(q); err != nil {
		return gateErr("query", "gate %s: query does not parse: %v", g.Name, err)
	}
	return nil
}

// ParseInlineGate reads --gate 'NAME: QUERY OP NUMBER', a query whose
// outermost operation compares with a number; the comparison becomes the
// success condition, the rest the query. Other conditions need a gates
// file.
func ParseInlineGate(s string, count, failureLimit int, interval time.Duration) (api.GateSpec, error) {
	name, expr, ok := strings.Cut(s, ":")
	if !ok {
		return api.GateSpec{}, fmt.Errorf("--gate %q: write NAME: QUERY OP NUMBER, e.g. login: sum(rate(pulse_probe_failures_total{identity=~\"{{nodes}}\"}[1m])) < 0.1", s)
	}
	name, expr = strings.TrimSpace(name), strings.TrimSpace(expr)
	rendered, err := render(expr, placeholders{nodes: "node-a|node-b", stepNodes: "node-a", pkg: "pkg", version: "1.0"})
	if err != nil {
		return api.GateSpec{}, fmt.Errorf("--gate %s: %w", name, err)
	}
	e, err := parser.NewParser(parser.Options{}).ParseExpr(rendered)
	if err != nil {
		return api.GateSpec{}, fmt.Errorf("--gate %s: query does not parse: %w", name, err)
	}
	b, ok := e.(*parser.BinaryExpr)
	num, isNum := unparen(b).(*parser.NumberLiteral)
	if !ok || !b.Op.IsComparisonOperator() || b.ReturnBool || !isNum {
		return api.GateSpec{}, fmt.Errorf("--gate %s: the query must end in a comparison with a number (QUERY < 0.1); for other conditions use --gates FILE", name)
	}
	// The condition's number is cut from the original text at the
	// operator's position in the rendered one: placeholders only appear
	// in the query part, before it.
	op := b.Op.String()
	i := strings.LastIndex(expr, op)
	if i < 0 {
		return api.GateSpec{}, fmt.Errorf("--gate %s: cannot find the comparison %s", name, op)
	}
	g := api.GateSpec{
		Name: name, Query: strings.TrimSpace(expr[:i]), Success: fmt.Sprintf("result %s %s", op, strconv.FormatFloat(num.Val, 'g', -1, 64)),
		Count: count, FailureLimit: failureLimit, Interval: api.Duration(interval),
	}
	return g, CheckGate(&g)
}

func unparen(b *parser.BinaryExpr) parser.Expr {
	if b == nil {
		return nil
	}
	e := b.RHS
	for {
		p, ok := e.(*parser.ParenExpr)
		if !ok {
			return e
		}
		e = p.Expr
	}
}

// condition is a parsed success condition: result OP value.
type condition struct {
	op    string
	value float64
}

var conditionRE = regexp.MustCompile(`^\s*result\s*(<=|>=|==|!=|<|>)\s*(\S+)\s*$`)

func parseCondition(s string) (condition, error) {
	m := conditionRE.FindStringSubmatch(s)
	if m == nil {
		return condition{}, fmt.Errorf("success %q must be result OP NUMBER, OP one of < <= > >= == !=, e.g. result >= 0.95", s)
	}
	v, err := strconv.ParseFloat(m[2], 64)
	if err != nil || math.IsNaN(v) {
		return condition{}, fmt.Errorf("success %q: %q is not a number", s, m[2])
	}
	return condition{op: m[1], value: v}, nil
}

// holds reports whether v meets the condition; NaN (a ratio of nothing)
// never does.
func (c condition) holds(v float64) bool {
	switch c.op {
	case "<":
		return v < c.value
	case "<=":
		return v <= c.value
	case ">":
		return v > c.value
	case ">=":
		return v >= c.value
	case "==":
		return v == c.value
	case "!=":
		return v != c.value && !math.IsNaN(v)
	}
	return false
}

// placeholders are what a gate's query may refer to.
type placeholders struct {
	nodes, stepNodes, pkg, version string
}

var placeholderRE = regexp.MustCompile(`\{\{\s*([a-z_]+)\s*\}\}`)

// render fills a query's placeholders; an unknown one is an error.
func render(q string, p placeholders) (string, error) {
	var bad []string
	out := placeholderRE.ReplaceAllStringFunc(q, func(m string) string {
		switch placeholderRE.FindStringSubmatch(m)[1] {
		case "nodes":
			return p.nodes
		case "step_nodes":
			return p.stepNodes
		case "package":
			return p.pkg
		case "version":
			return p.version
		}
		bad = append(bad, m)
		return m
	})
	if len(bad) > 0 {
		return "", fmt.Errorf("unknown placeholder %s: use {{nodes}}, {{step_nodes}}, {{package}} or {{version}}", bad[0])
	}
	return out, nil
}

// nodesRegexp is identities as a PromQL regular expression matching exactly
// them, for identity=~"{{nodes}}".
func nodesRegexp(ids []string) string {
	q := make([]string, len(ids))
	for i, id := range ids {
		// Escaped for RE2, then for a PromQL double-quoted string.
		q[i] = strings.ReplaceAll(regexp.QuoteMeta(id), `\`, `\\`)
	}
	return strings.Join(q, "|")
}
