package rules

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v4"
)

func TestFleetOptionsErrors(t *testing.T) {
	bad := DefaultFleetOptions()
	bad.CheckFor = -time.Second
	bad.StaleFor = 1500 * time.Microsecond
	bad.RemediationWindow = 0
	bad.CollectorJob = `pu"lse`
	_, err := FleetRules(bad)
	want := "fleet rule options: CheckFor is -1s: use zero or a positive whole number of milliseconds\n" +
		"StaleFor is 1.5ms: use zero or a positive whole number of milliseconds\n" +
		"RemediationWindow is 0s: use a positive range spanning a few scrapes, e.g. 15m\n" +
		`CollectorJob "pu\"lse": use the job_name that scrapes the collector, without quotes or backslashes`
	if err == nil || err.Error() != want {
		t.Errorf("error\n got: %v\nwant: %s", err, want)
	}
}

// TestFleetDurations proves the options reach the rules: the demo variant
// must fire within seconds, production after minutes.
func TestFleetDurations(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    FleetOptions
		want map[string]string // alert -> for
	}{
		{"default", DefaultFleetOptions(), map[string]string{
			"PulseNodeDown": "1m", "PulseCheckCritical": "2m", "PulseProbeFailing": "3m", "PulseCheckStale": "5m", "PulseRemediationCircuitOpen": "",
		}},
		{"demo", DemoFleetOptions(), map[string]string{
			"PulseNodeDown": "5s", "PulseCheckCritical": "2s", "PulseProbeFailing": "5s", "PulseCheckStale": "5s", "PulseRemediationCircuitOpen": "",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := FleetRules(tc.o)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for _, r := range parseRuleFile(t, b).Groups[0].Rules {
				got[r.Alert] = r.For
			}
			for alert, want := range tc.want {
				if got[alert] != want {
					t.Errorf("%s: for %q, want %q", alert, got[alert], want)
				}
			}
		})
	}
}

// TestAlertsAreRoutable checks what Alertmanager and the remediation engine
// rely on: every alert has a known severity, a summary and a description,
// and every SLO series carries its slo label.
func TestAlertsAreRoutable(t *testing.T) {
	files, _ := filepath.Glob("*.rules.yml")
	demo, err := FleetRules(DemoFleetOptions())
	if err != nil {
		t.Fatal(err)
	}
	contents := map[string][]byte{"demo fleet": demo}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		contents[f] = b
	}
	for name, b := range contents {
		for _, r := range parseRuleFile(t, b).Groups[0].Rules {
			if r.Alert == "" {
				if strings.HasPrefix(r.Record, "pulse_slo:") && r.Labels["slo"] == "" {
					t.Errorf("%s: recording rule %s has no slo label", name, r.Record)
				}
				continue
			}
			if !slices.Contains([]string{"critical", "warning", "page", "ticket"}, r.Labels["severity"]) {
				t.Errorf("%s: %s has severity %q", name, r.Alert, r.Labels["severity"])
			}
			if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("%s: %s lacks a summary or description", name, r.Alert)
			}
		}
	}
}

// promtoolTests is the part of a promtool test file this check reads.
type promtoolTests struct {
	RuleFiles []string `yaml:"rule_files"`
	Tests     []struct {
		AlertRuleTest []struct {
			Alertname string `yaml:"alertname"`
			ExpAlerts []any  `yaml:"exp_alerts"`
		} `yaml:"alert_rule_test"`
	} `yaml:"tests"`
}

// TestEveryAlertHasPromtoolTests keeps tests/ honest: each alert in each
// committed rule file needs a promtool case where it fires and one where it
// must stay quiet, so adding an alert without tests fails here.
func TestEveryAlertHasPromtoolTests(t *testing.T) {
	fires, quiet := map[string]bool{}, map[string]bool{}
	covered := map[string]bool{}
	tests, _ := filepath.Glob("tests/*.test.yml")
	for _, p := range tests {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var pt promtoolTests
		if err := yaml.Unmarshal(b, &pt); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		for _, rf := range pt.RuleFiles {
			covered[filepath.Base(rf)] = true
		}
		for _, tc := range pt.Tests {
			for _, a := range tc.AlertRuleTest {
				if len(a.ExpAlerts) > 0 {
					fires[a.Alertname] = true
				} else {
					quiet[a.Alertname] = true
				}
			}
		}
	}
	files, _ := filepath.Glob("*.rules.yml")
	for _, f := range files {
		if !covered[f] {
			t.Errorf("%s is not loaded by any tests/*.test.yml", f)
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range parseRuleFile(t, b).Groups[0].Rules {
			if r.Alert == "" {
				continue
			}
			if !fires[r.Alert] {
				t.Errorf("%s: alert %s has no promtool case where it fires", f, r.Alert)
			}
			if !quiet[r.Alert] {
				t.Errorf("%s: alert %s has no promtool case where it stays quiet", f, r.Alert)
			}
		}
	}
}
