package rules

import (
	"testing"
	"time"
)

func TestDemoConfigsGolden(t *testing.T) {
	prom, err := DemoPrometheusConfig(PromConfigOptions{
		Targets:         []string{"127.0.0.1:9780"},
		RuleFiles:       []string{"pulse.rules.yml", "slo-*.rules.yml"},
		AlertmanagerURL: "http://127.0.0.1:9093",
	})
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "testdata/demo-prometheus.yml", prom)
	am, err := DemoAlertmanagerConfig(AMConfigOptions{
		WebhookURL:      "http://127.0.0.1:9780/api/v1/alerts",
		CredentialsFile: "/run/pulse/alertmanager.token",
	})
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "testdata/demo-alertmanager.yml", am)
	fleet, err := FleetRules(DemoFleetOptions())
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "testdata/demo-fleet.rules.yml", fleet)
}

func TestDemoPrometheusConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    PromConfigOptions
		want string
	}{
		{"no targets", PromConfigOptions{},
			"prometheus config: Targets: empty; name the collector's host:port, e.g. 127.0.0.1:9780"},
		{"bad target", PromConfigOptions{Targets: []string{"http://127.0.0.1:9780"}},
			`prometheus config: Targets "http://127.0.0.1:9780": want host:port, e.g. 127.0.0.1:9780: address http://127.0.0.1:9780: too many colons in address`},
		{"bad interval", PromConfigOptions{Targets: []string{"a:1"}, ScrapeInterval: -time.Second, MetricsPath: "metrics"},
			"prometheus config: ScrapeInterval -1s: use a positive whole number of milliseconds, e.g. 1s\n" +
				`MetricsPath "metrics": must start with /`},
		{"bad alertmanager", PromConfigOptions{Targets: []string{"a:1"}, AlertmanagerURL: "127.0.0.1:9093"},
			`prometheus config: AlertmanagerURL "127.0.0.1:9093": want an absolute http(s) URL such as http://127.0.0.1:9093`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DemoPrometheusConfig(tc.o)
			if err == nil || err.Error() != tc.want {
				t.Errorf("error\n got: %v\nwant: %s", err, tc.want)
			}
		})
	}
}

func TestDemoAlertmanagerConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    AMConfigOptions
		want string
	}{
		{"no webhook", AMConfigOptions{},
			`alertmanager config: WebhookURL "": want an absolute http(s) URL such as http://127.0.0.1:9780/api/v1/alerts`},
		{"bad durations", AMConfigOptions{WebhookURL: "https://c/api/v1/alerts", GroupWait: -1, RepeatInterval: time.Microsecond},
			"alertmanager config: GroupWait -1ns: use a positive whole number of milliseconds, e.g. 1s\n" +
				"RepeatInterval 1µs: use a positive whole number of milliseconds, e.g. 1s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DemoAlertmanagerConfig(tc.o)
			if err == nil || err.Error() != tc.want {
				t.Errorf("error\n got: %v\nwant: %s", err, tc.want)
			}
		})
	}
}
