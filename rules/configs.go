package rules

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"
)

// PromConfigOptions describe a prometheus.yml that scrapes the collector,
// loads pulse's rule files and sends alerts to one Alertmanager. Zero
// durations and names take the defaults noted on each field.
type PromConfigOptions struct {
	// ScrapeInterval defaults to 1s, which keeps the demo loop short.
	ScrapeInterval time.Duration
	// EvaluationInterval defaults to 1s.
	EvaluationInterval time.Duration
	// JobName defaults to "pulse"; FleetOptions.CollectorJob must match.
	JobName string
	// Targets are the collectors' host:port, e.g. 127.0.0.1:9780.
	Targets []string
	// MetricsPath defaults to /metrics.
	MetricsPath string
	// RuleFiles are paths or globs, relative to the config file's directory
	// or absolute.
	RuleFiles []string
	// AlertmanagerURL is e.g. http://127.0.0.1:9093; empty leaves alerting out.
	AlertmanagerURL string
}

type promConfig struct {
	Global        promGlobal      `yaml:"global"`
	RuleFiles     []string        `yaml:"rule_files,omitempty"`
	Alerting      *promAlerting   `yaml:"alerting,omitempty"`
	ScrapeConfigs []promScrapeJob `yaml:"scrape_configs"`
}

type promGlobal struct {
	ScrapeInterval     string `yaml:"scrape_interval"`
	ScrapeTimeout      string `yaml:"scrape_timeout"`
	EvaluationInterval string `yaml:"evaluation_interval"`
}

type promAlerting struct {
	Alertmanagers []promAlertmanager `yaml:"alertmanagers"`
}

type promAlertmanager struct {
	Scheme        string         `yaml:"scheme"`
	PathPrefix    string         `yaml:"path_prefix,omitempty"`
	StaticConfigs []staticConfig `yaml:"static_configs"`
}

type promScrapeJob struct {
	JobName       string         `yaml:"job_name"`
	MetricsPath   string         `yaml:"metrics_path"`
	StaticConfigs []staticConfig `yaml:"static_configs"`
}

type staticConfig struct {
	Targets []string `yaml:"targets"`
}

func orDuration(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

func orString(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func checkInterval(name string, d time.Duration) error {
	if d < time.Millisecond || d%time.Millisecond != 0 {
		return fmt.Errorf("%s %s: use a positive whole number of milliseconds, e.g. 1s", name, d)
	}
	return nil
}

// httpURL parses s and reports whether it is an absolute http(s) URL.
func httpURL(s string) (*url.URL, bool) {
	u, err := url.Parse(s)
	return u, err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// DemoPrometheusConfig renders a prometheus.yml for the demo and e2e tests.
func DemoPrometheusConfig(o PromConfigOptions) ([]byte, error) {
	scrape := orDuration(o.ScrapeInterval, time.Second)
	eval := orDuration(o.EvaluationInterval, time.Second)
	var errs []error
	errs = append(errs, checkInterval("ScrapeInterval", scrape), checkInterval("EvaluationInterval", eval))
	if len(o.Targets) == 0 {
		errs = append(errs, errors.New("Targets: empty; name the collector's host:port, e.g. 127.0.0.1:9780"))
	}
	for _, t := range o.Targets {
		if _, _, err := net.SplitHostPort(t); err != nil {
			errs = append(errs, fmt.Errorf("Targets %q: want host:port, e.g. 127.0.0.1:9780: %w", t, err))
		}
	}
	metricsPath := orString(o.MetricsPath, "/metrics")
	if !strings.HasPrefix(metricsPath, "/") {
		errs = append(errs, fmt.Errorf("MetricsPath %q: must start with /", metricsPath))
	}
	cfg := promConfig{
		Global: promGlobal{
			ScrapeInterval: promDuration(scrape),
			// Prometheus rejects a timeout longer than the interval, and
			// its default is 10s, so short demo intervals need their own.
			ScrapeTimeout:      promDuration(min(scrape, 10*time.Second)),
			EvaluationInterval: promDuration(eval),
		},
		RuleFiles: o.RuleFiles,
		ScrapeConfigs: []promScrapeJob{{
			JobName:       orString(o.JobName, "pulse"),
			MetricsPath:   metricsPath,
			StaticConfigs: []staticConfig{{Targets: o.Targets}},
		}},
	}
	if o.AlertmanagerURL != "" {
		if u, ok := httpURL(o.AlertmanagerURL); !ok {
			errs = append(errs, fmt.Errorf("AlertmanagerURL %q: want an absolute http(s) URL such as http://127.0.0.1:9093", o.AlertmanagerURL))
		} else {
			cfg.Alerting = &promAlerting{Alertmanagers: []promAlertmanager{{
				Scheme:        u.Scheme,
				PathPrefix:    strings.TrimSuffix(u.Path, "/"),
				StaticConfigs: []staticConfig{{Targets: []string{u.Host}}},
			}}}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("prometheus config: %w", err)
	}
	return marshalYAML(header("pulse (rules.DemoPrometheusConfig)"), cfg)
}

// AMConfigOptions describe an alertmanager.yml that sends every alert to
// the collector's webhook. Zero durations take the demo defaults.
type AMConfigOptions struct {
	// WebhookURL is the collector's alert receiver, e.g.
	// http://127.0.0.1:9780/api/v1/alerts.
	WebhookURL string
	// CredentialsFile holds the bearer token the collector expects; empty
	// sends no Authorization header.
	CredentialsFile string
	// GroupWait defaults to 1s.
	GroupWait time.Duration
	// GroupInterval defaults to 1s.
	GroupInterval time.Duration
	// RepeatInterval defaults to 5m.
	RepeatInterval time.Duration
}

type amConfig struct {
	Route        amRoute      `yaml:"route"`
	Receivers    []amReceiver `yaml:"receivers"`
	InhibitRules []amInhibit  `yaml:"inhibit_rules"`
}

type amRoute struct {
	Receiver       string   `yaml:"receiver"`
	GroupBy        []string `yaml:"group_by"`
	GroupWait      string   `yaml:"group_wait"`
	GroupInterval  string   `yaml:"group_interval"`
	RepeatInterval string   `yaml:"repeat_interval"`
}

type amReceiver struct {
	Name           string      `yaml:"name"`
	WebhookConfigs []amWebhook `yaml:"webhook_configs"`
}

type amWebhook struct {
	URL          string        `yaml:"url"`
	SendResolved bool          `yaml:"send_resolved"`
	HTTPConfig   *amHTTPConfig `yaml:"http_config,omitempty"`
}

type amHTTPConfig struct {
	Authorization amAuthorization `yaml:"authorization"`
}

type amAuthorization struct {
	Type            string `yaml:"type"`
	CredentialsFile string `yaml:"credentials_file"`
}

type amInhibit struct {
	SourceMatchers []string `yaml:"source_matchers"`
	TargetMatchers []string `yaml:"target_matchers"`
	Equal          []string `yaml:"equal"`
}

// DemoAlertmanagerConfig renders an alertmanager.yml for the demo and e2e
// tests: every alert goes to the collector's webhook on its own.
func DemoAlertmanagerConfig(o AMConfigOptions) ([]byte, error) {
	wait := orDuration(o.GroupWait, time.Second)
	interval := orDuration(o.GroupInterval, time.Second)
	repeat := orDuration(o.RepeatInterval, 5*time.Minute)
	errs := []error{
		checkInterval("GroupWait", wait), checkInterval("GroupInterval", interval), checkInterval("RepeatInterval", repeat),
	}
	if _, ok := httpURL(o.WebhookURL); !ok {
		errs = append(errs, fmt.Errorf("WebhookURL %q: want an absolute http(s) URL such as http://127.0.0.1:9780/api/v1/alerts", o.WebhookURL))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("alertmanager config: %w", err)
	}
	hook := amWebhook{URL: o.WebhookURL, SendResolved: true}
	if o.CredentialsFile != "" {
		hook.HTTPConfig = &amHTTPConfig{Authorization: amAuthorization{Type: "Bearer", CredentialsFile: o.CredentialsFile}}
	}
	cfg := amConfig{
		Route: amRoute{
			Receiver: "pulse",
			// "..." groups by every label, so each alert is its own
			// notification and the remediation engine acts per node and
			// check instead of on a batch.
			GroupBy:        []string{"..."},
			GroupWait:      promDuration(wait),
			GroupInterval:  promDuration(interval),
			RepeatInterval: promDuration(repeat),
		},
		Receivers:    []amReceiver{{Name: "pulse", WebhookConfigs: []amWebhook{hook}}},
		InhibitRules: fleetInhibitRules(),
	}
	return marshalYAML(header("pulse (rules.DemoAlertmanagerConfig)"), cfg)
}

// fleetInhibitRules keep a down node from also raising (and remediating)
// every check and probe on it: PulseNodeDown already says why.
func fleetInhibitRules() []amInhibit {
	return []amInhibit{{
		SourceMatchers: []string{`alertname="PulseNodeDown"`},
		TargetMatchers: []string{`alertname=~"PulseCheck.*|PulseProbeFailing"`},
		Equal:          []string{"identity"},
	}}
}
