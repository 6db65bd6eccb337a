package remediation

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestLoadCommittedRules(t *testing.T) {
	rs, err := LoadRules("../../rules/remediation.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range rs.Rules {
		names = append(names, r.Name)
	}
	if want := []string{"restart-nginx", "restart-service-approved", "login-probe-web-restart-dry-run"}; !slices.Equal(names, want) {
		t.Fatalf("rules %v, want %v", names, want)
	}
	r := rs.Rules[0]
	want := Guards{Cooldown: 60 * time.Second, MaxPerHour: 10, MaxTargets: 2, MaxGroupPercent: 34, GroupLabel: "az", GroupFact: "ec2_placement_availability_zone", Batch: 1, BatchSleep: time.Second, CircuitBreaker: 3}
	if r.Guards != want || r.IdentityLabel != "identity" || r.Verify.Check != "check_nginx" || r.Verify.After != 2*time.Second {
		t.Errorf("restart-nginx: %+v", r)
	}
	// Defaults fill what a rule leaves out.
	if g := rs.Rules[1].Guards; g.MaxTargets != DefaultMaxTargets || g.Batch != DefaultBatch || !g.Approval || g.CircuitBreaker != 2 {
		t.Errorf("restart-service-approved guards: %+v", g)
	}
	nginx := map[string]string{"alertname": "PulseCheckCritical", "check": "check_nginx", "service": "nginx"}
	other := map[string]string{"alertname": "PulseCheckCritical", "check": "check_redis", "service": "redis-server"}
	if m := rs.Match(nginx); m == nil || m.Name != "restart-nginx" {
		t.Errorf("nginx alert matched %v", m)
	}
	if m := rs.Match(other); m == nil || m.Name != "restart-service-approved" {
		t.Errorf("redis alert matched %v", m)
	}
	if m := rs.Match(map[string]string{"alertname": "PulseCheckCritical", "service": "Bad Name"}); m != nil {
		t.Errorf("match_re is not anchored: matched %s", m.Name)
	}
}

func TestLoadRulesMissingFile(t *testing.T) {
	_, err := LoadRules(filepath.Join(t.TempDir(), "nope.yaml"))
	if err == nil || !strings.HasPrefix(err.Error(), "load remediation rules: open ") || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("got %v", err)
	}
}

const okRule = `rules:
  - name: r
    match: {alertname: A}
    action: {agent: service, action: restart}
    target: {identity_label: identity}
`

func TestParseRulesErrors(t *testing.T) {
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"syntax", "rules: [", "load remediation rules: bad.yaml:1: did not find expected node content while parsing a flow node"},
		{"unknown key", strings.Replace(okRule, "match:", "matches:", 1), `load remediation rules: bad.yaml:3: unknown key "matches"`},
		{"bad duration", okRule + "    guards: {cooldown: soon}\n", `load remediation rules: bad.yaml:6: "soon" is not a duration: write one such as 10s or 500ms`},
		{"no name", strings.Replace(okRule, "name: r", "name: ''", 1), "load remediation rules: bad.yaml:2: rule 1 has no name"},
		{"bad name", strings.Replace(okRule, "name: r", "name: 'r r'", 1), `load remediation rules: bad.yaml:2: rule name "r r" may only contain letters, digits, '_', '.' and '-'`},
		{"duplicate name", okRule + strings.TrimPrefix(okRule, "rules:\n"), `load remediation rules: bad.yaml:6: rule name "r" is used twice; names key cooldowns, budgets and circuit breakers`},
		{"no matcher", strings.Replace(okRule, "    match: {alertname: A}\n", "", 1), `load remediation rules: bad.yaml:2: rule "r" has neither match nor match_re; a rule must name the alerts it handles`},
		{"bad regex", strings.Replace(okRule, "match: {alertname: A}", "match_re: {alertname: '(('}", 1), "load remediation rules: bad.yaml:3: rule \"r\": match_re alertname: error parsing regexp: missing closing ): `^(?:(()$`"},
		{"no agent", strings.Replace(okRule, "agent: service, ", "", 1), `load remediation rules: bad.yaml:4: rule "r": action.agent "" must be an agent name such as service`},
		{"bad action", strings.Replace(okRule, "action: restart", "action: 'rm -rf'", 1), `load remediation rules: bad.yaml:4: rule "r": action.action "rm -rf" must be an action name such as restart`},
		{"bad template", strings.Replace(okRule, "restart}", "restart, data: {service: '{{ .Labels.service '}}", 1), `load remediation rules: bad.yaml:4: rule "r": action.data.service: bad template "{{ .Labels.service ": template: r/data/service:1: unclosed action`},
		{"unsafe static value", strings.Replace(okRule, "restart}", "restart, data: {service: 'nginx; reboot'}}", 1), `load remediation rules: bad.yaml:4: rule "r": action.data.service: value "nginx; reboot" may only contain letters, digits and _.@:-`},
		{"no target", strings.Replace(okRule, "target: {identity_label: identity}", "target: {}", 1), `load remediation rules: bad.yaml:5: rule "r": target needs identity_label or fact_filter; rules never act on the whole fleet`},
		{"two targets", strings.Replace(okRule, "identity_label: identity}", "identity_label: identity, fact_filter: {role: web}}", 1), `load remediation rules: bad.yaml:5: rule "r": target has both identity_label and fact_filter; use one`},
		{"bad fact", strings.Replace(okRule, "{identity_label: identity}", "{fact_filter: {'a=b': web}}", 1), `load remediation rules: bad.yaml:5: rule "r": target.fact_filter: "a=b" is not a fact name`},
		{"verify without check", okRule + "    verify: {after: 1s}\n", `load remediation rules: bad.yaml:6: rule "r": verify needs check, the nrpe command to re-run, such as check_nginx`},
		{"negative count", okRule + "    guards: {max_per_hour: -1}\n", `load remediation rules: bad.yaml:6: rule "r": guards: counts must not be negative`},
		{"percent over 100", okRule + "    guards: {max_group_percent: 150, group_label: az}\n", `load remediation rules: bad.yaml:6: rule "r": guards: max_group_percent 150 must be between 0 and 100`},
		{"percent without label", okRule + "    guards: {max_group_percent: 50}\n", `load remediation rules: bad.yaml:6: rule "r": guards: max_group_percent needs group_label (the alert label and fact that name the group, such as az)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseRules("bad.yaml", []byte(tc.yaml))
			if err == nil || err.Error() != tc.want {
				t.Fatalf("got  %v\nwant %s", err, tc.want)
			}
		})
	}
}

func TestParseRulesEmptyFileHasNoRules(t *testing.T) {
	rs, err := ParseRules("empty.yaml", nil)
	if err != nil || len(rs.Rules) != 0 || rs.Match(map[string]string{"alertname": "A"}) != nil {
		t.Fatalf("got %+v, %v", rs, err)
	}
}

func FuzzParseRules(f *testing.F) {
	b, err := os.ReadFile("../../rules/remediation.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte(okRule))
	f.Add([]byte(webTierRule))
	f.Add([]byte("rules: [{name: x, match_re: {a: '.*'}}]"))
	f.Fuzz(func(t *testing.T, b []byte) {
		rs, err := ParseRules("fuzz.yaml", b)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "load remediation rules: fuzz.yaml") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		for _, r := range rs.Rules {
			// Whatever parses must never target the whole fleet or run
			// without guards.
			if r.IdentityLabel == "" && len(r.factFilter) == 0 {
				t.Fatalf("rule %q has no target", r.Name)
			}
			if len(r.Match)+len(r.MatchRE) == 0 || r.Guards.MaxTargets < 1 || r.Guards.MaxPerHour < 1 || r.Guards.CircuitBreaker < 1 || r.Guards.Cooldown <= 0 {
				t.Fatalf("rule %q parsed without matchers or guards: %+v", r.Name, r)
			}
		}
	})
}
