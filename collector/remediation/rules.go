package remediation

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"text/template"
	"time"

	"go.yaml.in/yaml/v4"

	"github.com/pulseops/pulse/internal/config"
	"github.com/pulseops/pulse/internal/filter"
)

// Guard defaults apply when a rule leaves a guard at zero. They are chosen
// so that a rule written without thinking about guards restarts one node at
// a time, a few times an hour, and stops itself when restarts do not help.
const (
	DefaultCooldown       = 5 * time.Minute
	DefaultMaxPerHour     = 10
	DefaultMaxTargets     = 1
	DefaultBatch          = 1
	DefaultCircuitBreaker = 3
)

// safeValue is what a templated value may contain once rendered. Values end
// up as RPC data (service and package names, check names) and as filter
// terms, so anything a shell or a filter would interpret is refused.
var safeValue = regexp.MustCompile(`^[A-Za-z0-9_.@:-]+$`)

var (
	ruleNameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)
	agentRE    = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	labelRE    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	factRE     = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.]*$`)
)

// RuleSet is an ordered list of remediation rules; the first rule whose
// matchers accept an alert handles it.
type RuleSet struct {
	Rules []*Rule
}

// Rule maps alerts to one action on the nodes the alert names.
type Rule struct {
	Name    string
	Match   map[string]string
	MatchRE map[string]*regexp.Regexp
	Agent   string
	Action  string
	// IdentityLabel names the alert label holding the target node's identity;
	// otherwise FactFilter selects the targets.
	IdentityLabel string
	Verify        *Verify
	Guards        Guards

	data        map[string]*template.Template
	factFilter  map[string]*template.Template
	verifyCheck *template.Template
}

// Verify re-runs a check through nrpe on the targets after the action. Check
// may be a template over the alert, such as "{{ .Labels.check }}".
type Verify struct {
	Check string        `yaml:"check"`
	After time.Duration `yaml:"after"`
}

// Guards limit what a rule may do; see the package documentation.
type Guards struct {
	Cooldown        time.Duration `yaml:"cooldown" json:"cooldown"`
	MaxPerHour      int           `yaml:"max_per_hour" json:"max_per_hour"`
	MaxTargets      int           `yaml:"max_targets" json:"max_targets"`
	MaxGroupPercent float64       `yaml:"max_group_percent" json:"max_group_percent,omitempty"`
	GroupLabel      string        `yaml:"group_label" json:"group_label,omitempty"`
	// GroupFact is the fact whose value the group label carries (the
	// collector renames ec2_placement_availability_zone to az); it
	// defaults to GroupLabel.
	GroupFact      string        `yaml:"group_fact" json:"group_fact,omitempty"`
	Batch          int           `yaml:"batch" json:"batch"`
	BatchSleep     time.Duration `yaml:"batch_sleep" json:"batch_sleep"`
	CircuitBreaker int           `yaml:"circuit_breaker" json:"circuit_breaker"`
	DryRun         bool          `yaml:"dry_run" json:"dry_run"`
	Approval       bool          `yaml:"approval" json:"approval"`
}

type rulesFile struct {
	Rules []ruleYAML `yaml:"rules"`
}

type ruleYAML struct {
	Name    string            `yaml:"name"`
	Match   map[string]string `yaml:"match"`
	MatchRE map[string]string `yaml:"match_re"`
	Action  struct {
		Agent  string            `yaml:"agent"`
		Action string            `yaml:"action"`
		Data   map[string]string `yaml:"data"`
	} `yaml:"action"`
	Target struct {
		IdentityLabel string            `yaml:"identity_label"`
		FactFilter    map[string]string `yaml:"fact_filter"`
	} `yaml:"target"`
	Verify *Verify `yaml:"verify"`
	Guards Guards  `yaml:"guards"`
}

// LoadRules reads and validates a remediation rules file.
func LoadRules(path string) (*RuleSet, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load remediation rules: %w", err)
	}
	return ParseRules(path, b)
}

// ParseRules validates remediation rules from b, naming name in errors.
func ParseRules(name string, b []byte) (*RuleSet, error) {
	var f rulesFile
	if err := config.Decode(name, b, &f); err != nil {
		return nil, fmt.Errorf("load remediation rules: %w", err)
	}
	return build(name, b, &f)
}

func build(name string, b []byte, f *rulesFile) (*RuleSet, error) {
	// The typed decode above gives strictness; the node tree gives the
	// line numbers for the checks that only make sense after decoding.
	var root yaml.Node
	_ = yaml.Unmarshal(b, &root)
	fail := func(i int, path []string, format string, args ...any) error {
		keys := []any{"rules", i}
		for _, p := range path {
			keys = append(keys, p)
		}
		return fmt.Errorf("load remediation rules: %w", config.At(name, config.Find(&root, keys...), format, args...))
	}

	rs := &RuleSet{}
	seen := map[string]bool{}
	for i, ry := range f.Rules {
		r := &Rule{
			Name:          ry.Name,
			Match:         ry.Match,
			MatchRE:       map[string]*regexp.Regexp{},
			Agent:         ry.Action.Agent,
			Action:        ry.Action.Action,
			IdentityLabel: ry.Target.IdentityLabel,
			Verify:        ry.Verify,
			Guards:        ry.Guards,
			data:          map[string]*template.Template{},
			factFilter:    map[string]*template.Template{},
		}
		switch {
		case r.Name == "":
			return nil, fail(i, nil, "rule %d has no name", i+1)
		case !ruleNameRE.MatchString(r.Name):
			return nil, fail(i, []string{"name"}, "rule name %q may only contain letters, digits, '_', '.' and '-'", r.Name)
		case seen[r.Name]:
			return nil, fail(i, []string{"name"}, "rule name %q is used twice; names key cooldowns, budgets and circuit breakers", r.Name)
		}
		seen[r.Name] = true
		if len(ry.Match) == 0 && len(ry.MatchRE) == 0 {
			return nil, fail(i, nil, "rule %q has neither match nor match_re; a rule must name the alerts it handles", r.Name)
		}
		for l := range ry.Match {
			if !labelRE.MatchString(l) {
				return nil, fail(i, []string{"match", l}, "rule %q: %q is not a valid label name", r.Name, l)
			}
		}
		for l, expr := range ry.MatchRE {
			if !labelRE.MatchString(l) {
				return nil, fail(i, []string{"match_re", l}, "rule %q: %q is not a valid label name", r.Name, l)
			}
			// Anchored like Prometheus and Alertmanager matchers, so that
			// "web" does not also match "webhook-relay".
			re, err := regexp.Compile("^(?:" + expr + ")$")
			if err != nil {
				return nil, fail(i, []string{"match_re", l}, "rule %q: match_re %s: %v", r.Name, l, err)
			}
			r.MatchRE[l] = re
		}
		if !agentRE.MatchString(r.Agent) {
			return nil, fail(i, []string{"action", "agent"}, "rule %q: action.agent %q must be an agent name such as service", r.Name, r.Agent)
		}
		if !agentRE.MatchString(r.Action) {
			return nil, fail(i, []string{"action", "action"}, "rule %q: action.action %q must be an action name such as restart", r.Name, r.Action)
		}
		for k, v := range ry.Action.Data {
			t, err := parseValue(r.Name+"/data/"+k, v)
			if err != nil {
				return nil, fail(i, []string{"action", "data", k}, "rule %q: action.data.%s: %v", r.Name, k, err)
			}
			r.data[k] = t
		}
		hasID, hasFacts := r.IdentityLabel != "", len(ry.Target.FactFilter) > 0
		switch {
		case hasID && hasFacts:
			return nil, fail(i, []string{"target"}, "rule %q: target has both identity_label and fact_filter; use one", r.Name)
		case !hasID && !hasFacts:
			return nil, fail(i, []string{"target"}, "rule %q: target needs identity_label or fact_filter; rules never act on the whole fleet", r.Name)
		case hasID && !labelRE.MatchString(r.IdentityLabel):
			return nil, fail(i, []string{"target", "identity_label"}, "rule %q: target.identity_label %q is not a valid label name", r.Name, r.IdentityLabel)
		}
		for k, v := range ry.Target.FactFilter {
			if !factRE.MatchString(k) {
				return nil, fail(i, []string{"target", "fact_filter", k}, "rule %q: target.fact_filter: %q is not a fact name", r.Name, k)
			}
			t, err := parseValue(r.Name+"/fact/"+k, v)
			if err != nil {
				return nil, fail(i, []string{"target", "fact_filter", k}, "rule %q: target.fact_filter.%s: %v", r.Name, k, err)
			}
			r.factFilter[k] = t
		}
		if v := r.Verify; v != nil {
			if v.Check == "" {
				return nil, fail(i, []string{"verify"}, "rule %q: verify needs check, the nrpe command to re-run, such as check_nginx", r.Name)
			}
			t, err := parseValue(r.Name+"/verify/check", v.Check)
			if err != nil {
				return nil, fail(i, []string{"verify", "check"}, "rule %q: verify.check: %v", r.Name, err)
			}
			r.verifyCheck = t
			if v.After < 0 {
				return nil, fail(i, []string{"verify", "after"}, "rule %q: verify.after must not be negative", r.Name)
			}
		}
		if err := applyGuardDefaults(&r.Guards); err != "" {
			return nil, fail(i, []string{"guards"}, "rule %q: guards: %s", r.Name, err)
		}
		rs.Rules = append(rs.Rules, r)
	}
	return rs, nil
}

func applyGuardDefaults(g *Guards) string {
	switch {
	case g.Cooldown < 0 || g.BatchSleep < 0:
		return "durations must not be negative"
	case g.MaxPerHour < 0 || g.MaxTargets < 0 || g.Batch < 0 || g.CircuitBreaker < 0:
		return "counts must not be negative"
	case g.MaxGroupPercent < 0 || g.MaxGroupPercent > 100:
		return fmt.Sprintf("max_group_percent %g must be between 0 and 100", g.MaxGroupPercent)
	case g.MaxGroupPercent > 0 && g.GroupLabel == "":
		return "max_group_percent needs group_label (the alert label and fact that name the group, such as az)"
	case g.GroupLabel != "" && !labelRE.MatchString(g.GroupLabel):
		return fmt.Sprintf("group_label %q is not a valid label name", g.GroupLabel)
	}
	if g.Cooldown == 0 {
		g.Cooldown = DefaultCooldown
	}
	if g.MaxPerHour == 0 {
		g.MaxPerHour = DefaultMaxPerHour
	}
	if g.MaxTargets == 0 {
		g.MaxTargets = DefaultMaxTargets
	}
	if g.Batch == 0 {
		g.Batch = DefaultBatch
	}
	if g.CircuitBreaker == 0 {
		g.CircuitBreaker = DefaultCircuitBreaker
	}
	return ""
}

// parseValue compiles a templated value. A value without template actions
// is checked now, so a typo fails at load time rather than at 3 a.m.
func parseValue(name, v string) (*template.Template, error) {
	t, err := template.New(name).Option("missingkey=error").Parse(v)
	if err != nil {
		return nil, fmt.Errorf("bad template %q: %w", v, err)
	}
	if !strings.Contains(v, "{{") && !safeValue.MatchString(v) {
		return nil, fmt.Errorf("value %q may only contain letters, digits and _.@:-", v)
	}
	return t, nil
}

// Matches reports whether the rule handles an alert with these labels.
func (r *Rule) Matches(labels map[string]string) bool {
	for k, v := range r.Match {
		if labels[k] != v {
			return false
		}
	}
	for k, re := range r.MatchRE {
		if !re.MatchString(labels[k]) {
			return false
		}
	}
	return true
}

// Match returns the first rule that handles the labels, or nil.
func (rs *RuleSet) Match(labels map[string]string) *Rule {
	if rs == nil {
		return nil
	}
	for _, r := range rs.Rules {
		if r.Matches(labels) {
			return r
		}
	}
	return nil
}

// Rule returns the rule called name, or nil.
func (rs *RuleSet) Rule(name string) *Rule {
	if rs == nil {
		return nil
	}
	for _, r := range rs.Rules {
		if r.Name == name {
			return r
		}
	}
	return nil
}

type templateData struct {
	Labels      map[string]string
	Annotations map[string]string
}

// execute runs t over the alert.
func execute(t *template.Template, a Alert) (string, error) {
	var buf bytes.Buffer
	err := t.Execute(&buf, templateData{Labels: a.Labels, Annotations: a.Annotations})
	return buf.String(), err
}

// render executes t over the alert and checks the result is a safe value.
func render(t *template.Template, a Alert) (string, error) {
	s, err := execute(t, a)
	if err != nil {
		return "", fmt.Errorf("template %s: %w", t.Name(), err)
	}
	if !safeValue.MatchString(s) {
		return s, fmt.Errorf("%s rendered to %q, which is not allowed: values may only contain letters, digits and _.@:-", t.Name(), s)
	}
	return s, nil
}

// renderData renders the action data for an alert.
func (r *Rule) renderData(a Alert) (map[string]any, error) {
	out := make(map[string]any, len(r.data))
	for _, k := range slices.Sorted(maps.Keys(r.data)) {
		s, err := render(r.data[k], a)
		if err != nil {
			return nil, err
		}
		out[k] = s
	}
	return out, nil
}

// target resolves the nodes an alert names: a filter that is never empty,
// and a key that identifies the target for cooldowns. An empty result is an
// error, because an empty filter would select the whole fleet.
func (r *Rule) target(a Alert) (filter.Spec, string, error) {
	if r.IdentityLabel != "" {
		id := a.Labels[r.IdentityLabel]
		if id == "" {
			return filter.Spec{}, "", fmt.Errorf("%w: alert has no %q label", errNoTarget, r.IdentityLabel)
		}
		if !safeValue.MatchString(id) {
			return filter.Spec{}, "", fmt.Errorf("identity label %s=%q is not a valid node identity", r.IdentityLabel, id)
		}
		return filter.Spec{Identity: []string{id}}, id, nil
	}
	var spec filter.Spec
	for _, k := range slices.Sorted(maps.Keys(r.factFilter)) {
		v, err := execute(r.factFilter[k], a)
		if err != nil {
			return filter.Spec{}, "", fmt.Errorf("%w: fact_filter %s: %v", errNoTarget, k, err)
		}
		if v == "" {
			return filter.Spec{}, "", fmt.Errorf("%w: fact_filter %s rendered empty", errNoTarget, k)
		}
		if !safeValue.MatchString(v) {
			return filter.Spec{}, "", fmt.Errorf("fact_filter %s rendered to %q, which is not allowed: values may only contain letters, digits and _.@:-", k, v)
		}
		spec.Fact = append(spec.Fact, k+"="+v)
	}
	if spec.Empty() {
		return filter.Spec{}, "", fmt.Errorf("%w: fact_filter selects nothing", errNoTarget)
	}
	return spec, strings.Join(spec.Fact, ","), nil
}
