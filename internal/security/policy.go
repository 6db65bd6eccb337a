package security

import (
	"fmt"
	"slices"
	"strings"

	"go.yaml.in/yaml/v4"

	"github.com/pulseops/pulse/internal/config"
	"github.com/pulseops/pulse/internal/filter"
	"github.com/pulseops/pulse/internal/protocol"
)

// PolicyFile is the YAML form of an authorization policy, in the spirit of
// MCollective's actionpolicy: rules are tried in order, the first whose
// caller, agent, action and node filter all match decides, and when none
// matches the default (deny unless set to allow) applies.
type PolicyFile struct {
	// Default is "deny" (the default) or "allow".
	Default string     `yaml:"default"`
	Rules   []RuleSpec `yaml:"rules"`
}

// RuleSpec is one rule as written in the file.
type RuleSpec struct {
	// Name describes the rule; refusals quote it.
	Name string `yaml:"name"`
	// Effect is "allow" or "deny".
	Effect string `yaml:"effect"`
	// Callers are key names, "group:<name>" or "*" for anyone, signed or
	// not. Names and groups only ever match signed requests: the Caller
	// field of an unsigned request is a claim anyone can make.
	Callers []string `yaml:"callers"`
	// Agent is an RPC agent name or "*".
	Agent string `yaml:"agent"`
	// Actions are action names or "*" (the default when empty).
	Actions []string `yaml:"actions"`
	// Nodes, when set, limits the rule to nodes whose own facts, classes
	// and identity match this filter (the -W/-F/-I/-C/-S language).
	Nodes *filter.Spec `yaml:"nodes"`
}

type rule struct {
	n       int
	label   string
	allow   bool
	callers []string
	agent   string
	actions []string
	nodes   *filter.Filter
}

// Policy is a compiled policy; immutable and safe for concurrent use.
type Policy struct {
	rules   []rule
	allowDf bool
}

// LoadPolicy reads and compiles a policy file. trust resolves the groups of
// signed callers; it may be nil when every rule names only "*".
func LoadPolicy(path string, trust *Trust) (*Policy, error) {
	var pf PolicyFile
	doc, err := config.LoadNode(path, &pf)
	if err != nil {
		return nil, err
	}
	return compilePolicy(path, doc, pf, trust)
}

// NewPolicy compiles a policy built in code (the demo's), naming src in
// errors.
func NewPolicy(src string, pf PolicyFile, trust *Trust) (*Policy, error) {
	return compilePolicy(src, nil, pf, trust)
}

func compilePolicy(path string, doc *yaml.Node, pf PolicyFile, trust *Trust) (*Policy, error) {
	p := &Policy{}
	switch pf.Default {
	case "", "deny":
	case "allow":
		p.allowDf = true
	default:
		return nil, config.At(path, config.Find(doc, "default"), "default must be allow or deny, not %q", pf.Default)
	}
	for i, rs := range pf.Rules {
		at := func(field string, format string, args ...any) error {
			return config.At(path, config.Find(doc, "rules", i, field), "rule %d: "+format, append([]any{i + 1}, args...)...)
		}
		r := rule{n: i + 1, label: rs.Name, agent: rs.Agent, callers: rs.Callers, actions: rs.Actions}
		if r.label == "" {
			if n := config.Find(doc, "rules", i); n != nil {
				r.label = fmt.Sprintf("%s:%d", path, n.Line)
			} else {
				r.label = "unnamed"
			}
		}
		switch rs.Effect {
		case "allow":
			r.allow = true
		case "deny":
		default:
			return nil, at("effect", "effect must be allow or deny, not %q", rs.Effect)
		}
		if len(rs.Callers) == 0 {
			return nil, at("callers", `callers is empty: list key names, "group:<name>" or "*"`)
		}
		for _, c := range rs.Callers {
			name := strings.TrimPrefix(c, "group:")
			if c == "*" {
				continue
			}
			if err := ValidName(name); err != nil {
				return nil, at("callers", "caller: %v", err)
			}
			if trust != nil && !strings.HasPrefix(c, "group:") && trust.byName[c] == nil {
				return nil, at("callers", "caller %q is not in the trusted keys %s, so this rule could never match", c, trust.source)
			}
		}
		if rs.Agent == "" {
			return nil, at("agent", `agent is empty: name an agent or "*"`)
		}
		if rs.Agent != "*" && !protocol.ValidToken(rs.Agent) {
			return nil, at("agent", "agent %q is not a valid agent name", rs.Agent)
		}
		if len(r.actions) == 0 {
			r.actions = []string{"*"}
		}
		if rs.Nodes != nil {
			f, err := filter.Compile(*rs.Nodes)
			if err != nil {
				return nil, at("nodes", "nodes: %v", err)
			}
			r.nodes = f
		}
		p.rules = append(p.rules, r)
	}
	return p, nil
}

func matchAny(list []string, v string) bool {
	for _, x := range list {
		if x == "*" || x == v {
			return true
		}
	}
	return false
}

func (r *rule) matchCaller(p *Principal) bool {
	for _, c := range r.callers {
		switch {
		case c == "*":
			return true
		case p == nil:
			// unsigned: names and groups are claims, never matched
		case strings.HasPrefix(c, "group:"):
			if p.InGroup(strings.TrimPrefix(c, "group:")) {
				return true
			}
		case c == p.Name:
			return true
		}
	}
	return false
}

// Authorize decides whether req may run on node; it is
// nodeagent.Options.Authorize. It relies on the request having been
// verified already (nodeagent runs Verify first and sets req.Principal, the
// caller's name and groups). The reason names the rule that refused, or
// says that nothing allowed it.
func (p *Policy) Authorize(req *protocol.Request, node *filter.Target) (bool, string) {
	pr := req.Principal
	for i := range p.rules {
		r := &p.rules[i]
		if (r.agent != "*" && r.agent != req.Agent) || !matchAny(r.actions, req.Action) || !r.matchCaller(pr) {
			continue
		}
		if r.nodes != nil && !r.nodes.Match(node) {
			continue
		}
		if r.allow {
			return true, ""
		}
		return false, fmt.Sprintf("denied by rule %d (%s)", r.n, r.label)
	}
	if p.allowDf {
		return true, ""
	}
	who := callerName(req, pr)
	if pr == nil {
		who = fmt.Sprintf("unsigned caller %q", req.Caller)
	}
	return false, fmt.Sprintf("no rule allows %s %s#%s: default deny", who, req.Agent, req.Action)
}

// Open reports whether the policy lets anyone — any caller, signed or not,
// trusted or not — run every action of agent on every node: the first rule
// that names agent (or "*") allows callers "*" every action with no node
// filter. Then nothing about a request's caller changes what it may do
// with agent, and an agent need not check who sent it. A default of allow
// never opens an agent: it is meant for callers who verified.
func (p *Policy) Open(agent string) bool {
	if p == nil {
		return false
	}
	for i := range p.rules {
		r := &p.rules[i]
		if r.agent != "*" && r.agent != agent {
			continue
		}
		return r.allow && r.nodes == nil && slices.Contains(r.callers, "*") && slices.Contains(r.actions, "*")
	}
	return false
}

// ReadOnlyRules are the rules that let anyone who is trusted (or, with "*",
// anyone at all) discover nodes and read state without changing it:
// rpcutil, package and service status, nrpe checks, and the health agent
// (the node's scheduled checks and probes, read or run now: what a rollout
// judges a step by). Policies usually start with them.
func ReadOnlyRules(callers ...string) []RuleSpec {
	if len(callers) == 0 {
		callers = []string{"*"}
	}
	return []RuleSpec{
		{Name: "anyone may discover and read facts", Effect: "allow", Callers: callers, Agent: "rpcutil"},
		{Name: "anyone may read package state", Effect: "allow", Callers: callers, Agent: "package", Actions: []string{"status"}},
		{Name: "anyone may read service state", Effect: "allow", Callers: callers, Agent: "service", Actions: []string{"status"}},
		{Name: "anyone may list and run nrpe checks", Effect: "allow", Callers: callers, Agent: "nrpe", Actions: []string{"list", "runcommand"}},
		{Name: "anyone may read and re-run the node's own checks and probes", Effect: "allow", Callers: callers, Agent: "health", Actions: []string{"status", "rerun"}},
	}
}
