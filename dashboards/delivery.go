package dashboards

//lint:file-ignore SA1019 the v1 dashboard builder is deprecated for dashboardv2, which Grafana 12 still calls experimental and file provisioning cannot read (README, "Dashboards").

import (
	"github.com/grafana/grafana-foundation-sdk/go/bargauge"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
	"github.com/grafana/grafana-foundation-sdk/go/units"
)

// deliveryDashboard is the flow of changes as the fleet itself measured
// it: how often pulse deploys, how many deployments failed, how long
// restoring took and, where callers said when they committed, the lead
// time — by zone and role. The definitions are the README's ("Delivery
// metrics"); every series is the collector's, derived from change events,
// rollouts and remediation records.
func deliveryDashboard() (*dashboard.DashboardBuilder, error) {
	b := newBoard("pulse-delivery", "pulse / Delivery",
		"Deployment frequency, change failure rate, time to restore and lead time, derived by the collector from the changes pulse made and what followed them, by zone and role.", "delivery", "business")
	fleetVars(b)
	b.Annotation(changeAnnotation(fleetSel))
	b.Annotation(remediationAnnotation())

	// Each group's counters start at 0 when the collector learns of a
	// node; the pulse_node_info fallback keeps a group that has none yet
	// at 0 rather than absent.
	zero := `sum by (az, role) (0 * pulse_node_info{` + fleetSel + `})`
	perGroup := func(metric, window string) string {
		return `(sum by (az, role) (increase(` + metric + `{` + fleetSel + `}[` + window + `])) or ` + zero + `)`
	}
	total := func(metric, window string) string {
		return `(sum(increase(` + metric + `{` + fleetSel + `}[` + window + `])) or vector(0))`
	}
	// A mean over no events is 0/0; where the histogram has no series yet
	// the vector(NaN) says the same, and both read as text.
	mean := func(metric, window, by string) string {
		return `(sum` + by + ` (increase(` + metric + `_sum{` + fleetSel + `}[` + window + `])) / sum` + by + ` (increase(` + metric + `_count{` + fleetSel + `}[` + window + `])))`
	}

	b.row("The four keys, over the dashboard's time range")
	b.WithPanel(stat.NewPanelBuilder().Id(b.id()).
		Title("Deployments").
		Description("Package version changes pulse made (a rollout, or one request), counted once per zone and role they reached; rollbacks and remediation are not deployments.").
		WithTarget(instant("A", total("pulse_deployments_total", "$__range"), "deployments")).
		Unit(units.Short).Height(5).Span(6).
		ReduceOptions(lastValue()))
	b.WithPanel(stat.NewPanelBuilder().Id(b.id()).
		Title("Change failure rate").
		Description(describe("Share of deployments that failed: the change itself, or within the collector's failure window",
			"(pulse_change_failure_window_seconds) a failed rollout step or rollback, a check going CRITICAL or an alert remediated on their nodes.")).
		WithTarget(instant("A", total("pulse_change_failures_total", "$__range")+" / "+total("pulse_deployments_total", "$__range"), "failure rate")).
		Unit(units.PercentUnit).Decimals(1).Height(5).Span(6).
		Mappings(notYet("no deployments")).
		Thresholds(thresholds("green", 0.15, "orange", 0.3, "red")).
		ReduceOptions(lastValue()))
	b.WithPanel(stat.NewPanelBuilder().Id(b.id()).
		Title("Mean time to restore").
		Description("From an alert starting to its remediation verified, and from a failed rollout step to its nodes verified back, averaged.").
		WithTarget(instant("A", mean("pulse_restore_duration_seconds", "$__range", "")+` or vector(NaN)`, "time to restore")).
		Unit(units.Seconds).Height(5).Span(6).
		Mappings(notYet("nothing to restore")).
		ReduceOptions(lastValue()))
	b.WithPanel(stat.NewPanelBuilder().Id(b.id()).
		Title("Mean lead time").
		Description("From the commit to the change running, for changes whose caller said when they were committed (pulse rollout --committed-at, committed_at in the API).").
		WithTarget(instant("A", mean("pulse_lead_time_seconds", "$__range", "")+` or vector(NaN)`, "lead time")).
		Unit(units.Seconds).Height(5).Span(6).
		Mappings(notYet("no commit times given")).
		ReduceOptions(lastValue()))

	b.row("By zone and role")
	b.WithPanel(timeseries.NewPanelBuilder().Id(b.id()).
		Title("Deployment frequency").
		Description("Deployments per day, by zone and role.").
		WithTarget(query("A", perGroup("pulse_deployments_total", "1d"), "{{az}} {{role}}")).
		Unit(units.Short).Min(0).Height(8).Span(12).
		Legend(legendTable()))
	b.WithPanel(bargauge.NewPanelBuilder().Id(b.id()).
		Title("Change failure rate by zone and role").
		Description("Failed deployments over deployments in the time range, per zone and role.").
		WithTarget(instant("A", perGroup("pulse_change_failures_total", "$__range")+" / "+perGroup("pulse_deployments_total", "$__range"), "{{az}} {{role}}")).
		Unit(units.PercentUnit).Min(0).Max(1).Height(8).Span(12).
		DisplayMode(common.BarGaugeDisplayModeGradient).
		Mappings(notYet("no deployments")).
		Thresholds(thresholds("green", 0.15, "orange", 0.3, "red")).
		ReduceOptions(lastValue()))
	b.WithPanel(bargauge.NewPanelBuilder().Id(b.id()).
		Title("Time to restore by zone and role").
		Description("Mean time to restore in the time range, per zone and role and by how it was restored (remediation, rollback).").
		WithTarget(instant("A", mean("pulse_restore_duration_seconds", "$__range", " by (source, az, role)")+` or on() label_replace(vector(NaN), "source", "none", "", "")`, "{{source}} {{az}} {{role}}")).
		Unit(units.Seconds).Min(0).Height(8).Span(12).
		DisplayMode(common.BarGaugeDisplayModeBasic).
		Mappings(notYet("nothing to restore")).
		ReduceOptions(lastValue()))
	b.WithPanel(bargauge.NewPanelBuilder().Id(b.id()).
		Title("Lead time by zone and role").
		Description("Mean lead time for changes in the time range, per zone and role.").
		WithTarget(instant("A", mean("pulse_lead_time_seconds", "$__range", " by (az, role)")+` or on() label_replace(vector(NaN), "az", "none", "", "")`, "{{az}} {{role}}")).
		Unit(units.Seconds).Min(0).Height(8).Span(12).
		DisplayMode(common.BarGaugeDisplayModeBasic).
		Mappings(notYet("no commit times given")).
		ReduceOptions(lastValue()))

	b.row("Changes")
	b.WithPanel(timeseries.NewPanelBuilder().Id(b.id()).
		Title("Changes by kind and result").
		Description("Every package and service change pulse made, as the nodes reported them: ok, failed, or unchanged (nothing to do).").
		WithTarget(query("A", `sum by (kind, result) (increase(pulse_changes_total{`+fleetSel+`}[$__rate_interval])) or on() vector(0)`, "{{kind}} {{result}}")).
		Unit(units.Short).Min(0).Height(8).Span(24).
		DrawStyle(common.GraphDrawStyleBars).
		Stacking(common.NewStackingConfigBuilder().Mode(common.StackingModeNormal)).
		Legend(legendTable()))
	return b.DashboardBuilder, nil
}

// changeAnnotation marks every package and service change pulse made on
// the selected nodes: the nodes' change counters carry their labels, so
// it follows the variables.
func changeAnnotation(sel string) *dashboard.AnnotationQueryBuilder {
	return dashboard.NewAnnotationQueryBuilder().
		Name("Changes").
		Datasource(ds()).
		Enable(true).
		IconColor("blue").
		Target(annotationQuery(`sum by (identity, kind, result) (changes(pulse_changes_total{` + sel + `}[2m])) > 0`)).
		TitleFormat("{{kind}} change on {{identity}}: {{result}}").
		TagKeys("identity,kind,result")
}
