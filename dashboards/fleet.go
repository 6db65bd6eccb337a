package dashboards

//lint:file-ignore SA1019 the v1 dashboard builder is deprecated for dashboardv2, which Grafana 12 still calls experimental and file provisioning cannot read (README, "Dashboards").

import (
	"github.com/grafana/grafana-foundation-sdk/go/bargauge"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/statetimeline"
	"github.com/grafana/grafana-foundation-sdk/go/statushistory"
	"github.com/grafana/grafana-foundation-sdk/go/table"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
	"github.com/grafana/grafana-foundation-sdk/go/units"
)

// fleetDashboard is the operators' view: which nodes are up, which checks
// fail where, what remediation did about it, and whether the collector
// itself is healthy.
func fleetDashboard() (*dashboard.DashboardBuilder, error) {
	b := newBoard("pulse-fleet", "pulse / Fleet",
		"Nodes, checks and remediations of the fleet pulse watches, by zone, role and cluster.", "ops")
	fleetVars(b)
	b.WithVariable(collectorURLVar())
	b.Annotation(remediationAnnotation())
	b.Annotation(alertAnnotation(fleetSel))
	b.Annotation(changeAnnotation(fleetSel))
	b.Link(collectorLink("Collector node API", "/api/v1/nodes"))

	b.row("Nodes")
	b.WithPanel(stat.NewPanelBuilder().Id(b.id()).
		Title("Nodes up").
		Description("Nodes that heartbeated within the allowed number of missed heartbeats.").
		WithTarget(instant("A", `sum(pulse_node_up{`+fleetSel+`}) or vector(0)`, "up")).
		Unit(units.Short).Height(4).Span(4).
		ReduceOptions(lastValue()).
		Thresholds(thresholds("green")))
	b.WithPanel(stat.NewPanelBuilder().Id(b.id()).
		Title("Nodes down").
		Description("Nodes the collector knows that missed their heartbeats.").
		WithTarget(instant("A", `count(pulse_node_up{`+fleetSel+`} == 0) or vector(0)`, "down")).
		Unit(units.Short).Height(4).Span(4).
		ReduceOptions(lastValue()).
		Thresholds(thresholds("green", 1.0, "red")))
	b.WithPanel(stat.NewPanelBuilder().Id(b.id()).
		Title("Checks not OK").
		Description("Checks whose last run was WARNING, CRITICAL or UNKNOWN.").
		WithTarget(instant("A", `count(pulse_check_status{`+fleetSel+`} > 0) or vector(0)`, "not OK")).
		Unit(units.Short).Height(4).Span(4).
		ReduceOptions(lastValue()).
		Thresholds(thresholds("green", 1.0, "orange")))
	b.WithPanel(stat.NewPanelBuilder().Id(b.id()).
		Title("Stale results").
		Description("Checks and probes whose last result is older than the allowed number of their intervals: the node may be up, but is not reporting them.").
		WithTarget(instant("A", `(sum(pulse_check_stale{`+fleetSel+`}) or vector(0)) + (sum(pulse_probe_stale{`+fleetSel+`}) or vector(0))`, "stale")).
		Unit(units.Short).Height(4).Span(4).
		ReduceOptions(lastValue()).
		Thresholds(thresholds("green", 1.0, "orange")))
	b.WithPanel(bargauge.NewPanelBuilder().Id(b.id()).
		Title("Nodes up by zone").
		Description("Up nodes per availability zone, against the nodes known there.").
		WithTarget(instant("A", `sum by (az) (pulse_node_up{`+fleetSel+`})`, "{{az}}")).
		Unit(units.Short).Min(0).Height(4).Span(8).
		DisplayMode(common.BarGaugeDisplayModeGradient).
		ReduceOptions(lastValue()).
		Thresholds(thresholds("red", 1.0, "green")))
	b.WithPanel(timeseries.NewPanelBuilder().Id(b.id()).
		Title("Nodes up by zone over time").
		WithTarget(query("A", `sum by (az) (pulse_node_up{`+fleetSel+`})`, "{{az}} up")).
		WithTarget(query("B", `count by (az) (pulse_node_info{`+fleetSel+`})`, "{{az}} known")).
		Unit(units.Short).Min(0).Height(8).Span(24).
		Legend(legendTable()))

	b.row("Checks")
	b.WithPanel(statetimeline.NewPanelBuilder().Id(b.id()).
		Title("Check states by zone and role").
		Description("The worst state of each check among the nodes of a zone and role.").
		WithTarget(query("A", `max by (az, role, check) (pulse_check_status{`+fleetSel+`})`, "{{az}} {{role}} {{check}}")).
		Mappings(checkStates()).
		Thresholds(checkStateSteps()).
		ShowValue(common.VisibilityModeNever).
		MergeValues(true).
		Height(8).Span(12))
	b.WithPanel(statushistory.NewPanelBuilder().Id(b.id()).
		Title("Check states by node").
		WithTarget(query("A", `max by (identity, check) (pulse_check_status{`+fleetSel+`})`, "{{identity}} {{check}}")).
		Mappings(checkStates()).
		Thresholds(checkStateSteps()).
		ShowValue(common.VisibilityModeNever).
		Height(8).Span(12))
	b.WithPanel(table.NewPanelBuilder().Id(b.id()).
		Title("Checks failing now").
		Description(describe(
			"Checks whose last run was not OK. The plugin output is not a metric:",
			"follow the identity link to the node in the collector's API (/api/v1/nodes/<identity>),",
			"or run `pulse nrpe <check> -I <identity>`.")).
		// When every check is OK the query still answers: one row, check
		// "none" in state OK, so a healthy fleet reads "none", not "No data".
		WithTarget(tableQuery("A", `(pulse_check_status{`+fleetSel+`} > 0) or on() label_replace(vector(0), "check", "none", "", "")`)).
		WithTransformation(organize([]string{"Time", "__name__", "job", "instance"}, "state")).
		Mappings(checkStates()).
		NoValue("every check is OK").
		OverrideByName("identity", []dashboard.DynamicConfigValue{{
			Id: "links",
			Value: []map[string]any{{
				"title":       "Node ${__value.text} in the collector API",
				"url":         "${collector_url}/api/v1/nodes/${__value.raw}",
				"targetBlank": true,
			}},
		}}).
		OverrideByName("state", []dashboard.DynamicConfigValue{{
			Id:    "custom.cellOptions",
			Value: map[string]any{"type": "color-background"},
		}}).
		Thresholds(checkStateSteps()).
		// The schema requires a footer's reducer list, even for no footer.
		Footer(common.NewTableFooterOptionsBuilder().Show(false).Reducer([]string{})).
		Height(8).Span(14))
	b.WithPanel(statetimeline.NewPanelBuilder().Id(b.id()).
		Title("Probe success by zone").
		Description("1 when every node of the zone saw the probe succeed on its last run.").
		WithTarget(query("A", `min by (az, probe) (pulse_probe_success{`+fleetSel+`})`, "{{az}} {{probe}}")).
		Mappings(valueMap([3]string{"1", "OK", "green"}, [3]string{"0", "FAILING", "red"})).
		Thresholds(thresholds("red", 1.0, "green")).
		ShowValue(common.VisibilityModeNever).
		MergeValues(true).
		Height(8).Span(10))

	b.row("Remediation")
	remediationNote := "Remediation metrics are per rule, not per node: this panel does not follow the zone, role and cluster variables."
	b.WithPanel(bargauge.NewPanelBuilder().Id(b.id()).
		Title("Remediations by rule and result").
		Description(describe("Remediations since the collector started, by rule and final result.", remediationNote)).
		WithTarget(instant("A", `sum by (rule, result) (pulse_remediations_total)`, "{{rule}} {{result}}")).
		Unit(units.Short).Min(0).Height(8).Span(8).
		DisplayMode(common.BarGaugeDisplayModeBasic).
		ReduceOptions(lastValue()))
	b.WithPanel(timeseries.NewPanelBuilder().Id(b.id()).
		Title("Remediations over time").
		Description(describe("Remediations per rate interval, by rule and result; the orange annotations mark each one.", remediationNote)).
		WithTarget(query("A", `sum by (rule, result) (increase(pulse_remediations_total[$__rate_interval]))`, "{{rule}} {{result}}")).
		WithTarget(query("B", `sum by (rule, reason) (increase(pulse_remediation_skipped_total[$__rate_interval]))`, "skipped {{rule}} {{reason}}")).
		Unit(units.Short).Min(0).Height(8).Span(8).
		DrawStyle(common.GraphDrawStyleBars).
		Legend(legendTable()))
	b.WithPanel(bargauge.NewPanelBuilder().Id(b.id()).
		Title("Mean time to fix").
		Description(describe("From an alert starting to its remediation being verified, averaged over every remediation since the collector started.", remediationNote)).
		WithTarget(instant("A", `sum by (rule) (pulse_remediation_time_to_fix_seconds_sum) / sum by (rule) (pulse_remediation_time_to_fix_seconds_count)`, "{{rule}} time to fix")).
		WithTarget(instant("B", `sum by (rule) (pulse_remediation_duration_seconds_sum) / sum by (rule) (pulse_remediation_duration_seconds_count)`, "{{rule}} remediation")).
		Unit(units.Seconds).Min(0).Height(8).Span(8).
		// A rule that has fixed nothing yet has a mean of 0/0.
		Mappings(notYet("none yet")).
		ReduceOptions(lastValue()))
	b.WithPanel(statetimeline.NewPanelBuilder().Id(b.id()).
		Title("Circuit breakers").
		Description(describe("A rule whose remediations kept failing is stopped until `pulse remediations reset`.", remediationNote)).
		WithTarget(query("A", `max by (rule) (pulse_remediation_circuit_open)`, "{{rule}}")).
		Mappings(valueMap([3]string{"0", "closed", "green"}, [3]string{"1", "OPEN", "red"})).
		Thresholds(thresholds("green", 1.0, "red")).
		ShowValue(common.VisibilityModeNever).
		MergeValues(true).
		Height(6).Span(24))

	b.row("Collector")
	collectorNote := "Collector metrics describe the collector, not nodes: they do not follow the zone, role and cluster variables."
	b.WithPanel(stat.NewPanelBuilder().Id(b.id()).
		Title("Collector scraped").
		Description(describe("Whether Prometheus can scrape the collector (job pulse).", collectorNote)).
		WithTarget(instant("A", `min(up{job="pulse"})`, "up")).
		Mappings(valueMap([3]string{"0", "DOWN", "red"}, [3]string{"1", "UP", "green"})).
		Height(4).Span(4).
		ReduceOptions(lastValue()))
	b.WithPanel(stat.NewPanelBuilder().Id(b.id()).
		Title("Nodes known").
		Description(describe("Nodes the collectors know, up or down.", collectorNote)).
		WithTarget(instant("A", `sum(pulse_collector_nodes)`, "nodes")).
		Unit(units.Short).Height(4).Span(4).
		ReduceOptions(lastValue()))
	b.WithPanel(timeseries.NewPanelBuilder().Id(b.id()).
		Title("Messages from the bus").
		Description(collectorNote).
		WithTarget(query("A", `sum by (kind) (rate(pulse_collector_messages_total[$__rate_interval]))`, "{{kind}}")).
		WithTarget(query("B", `sum by (kind, reason) (rate(pulse_collector_malformed_messages_total[$__rate_interval]))`, "malformed {{kind}} {{reason}}")).
		Unit(units.RequestsPerSecond).Min(0).Height(8).Span(8).
		Legend(legendTable()))
	b.WithPanel(timeseries.NewPanelBuilder().Id(b.id()).
		Title("Ingest lag").
		Description(describe("Time from a result being produced on its node to the collector ingesting it.", collectorNote)).
		WithTarget(query("A", `histogram_quantile(0.5, sum by (le) (rate(pulse_collector_ingest_lag_seconds_bucket[$__rate_interval])))`, "p50")).
		WithTarget(query("B", `histogram_quantile(0.99, sum by (le) (rate(pulse_collector_ingest_lag_seconds_bucket[$__rate_interval])))`, "p99")).
		Unit(units.Seconds).Min(0).Height(8).Span(4))
	b.WithPanel(timeseries.NewPanelBuilder().Id(b.id()).
		Title("Dropped series and truncated outputs").
		Description(describe("Series refused by the cardinality guard and outputs cut to the size limit; raise max_series or max_output_bytes in the collector config.", collectorNote)).
		WithTarget(query("A", `sum by (reason) (rate(pulse_collector_dropped_series_total[$__rate_interval]))`, "dropped {{reason}}")).
		WithTarget(query("B", `sum(rate(pulse_collector_truncated_outputs_total[$__rate_interval]))`, "truncated outputs")).
		Unit(units.RequestsPerSecond).Min(0).Height(8).Span(4))
	return b.DashboardBuilder, nil
}
