package dashboards

//lint:file-ignore SA1019 the v1 dashboard builder is deprecated for dashboardv2, which Grafana 12 still calls experimental and file provisioning cannot read (README, "Dashboards").

import (
	"fmt"
	"strings"

	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/statushistory"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
	"github.com/grafana/grafana-foundation-sdk/go/units"

	"github.com/pulseops/pulse/internal/protocol"
)

// serviceDashboard is the developers' view of "how my baby runs": the
// business probe's latency step by step and phase by phase, the checks'
// perfdata and durations, with remediations and alerts marked on every
// graph.
func serviceDashboard() (*dashboard.DashboardBuilder, error) {
	b := newBoard("pulse-service", "pulse / Service",
		"How a service runs: probe latency by step and phase, check perfdata and durations, with remediations marked.", "dev")
	fleetVars(b)
	b.WithVariable(labelVar("node", "Node", `pulse_node_info{`+fleetSel+`}`, "identity"))
	b.WithVariable(labelVar("probe", "Probe", `pulse_probe_success{`+nodeSel+`}`, "probe"))
	b.WithVariable(labelVar("check", "Check", `pulse_check_status{`+nodeSel+`}`, "check"))
	b.WithVariable(collectorURLVar())
	b.Annotation(remediationAnnotation())
	b.Annotation(alertAnnotation(nodeSel))
	b.Annotation(changeAnnotation(nodeSel))
	// Versions: a package the nodes watch, one at a time, so each node has
	// one version to join its probes with.
	b.WithVariable(singleVar("package", "Package", `pulse_package_info{`+nodeSel+`}`, "package"))

	probeSel := nodeSel + `,probe=~"$probe"`
	checkSel := nodeSel + `,check=~"$check"`

	b.row("Probes")
	b.WithPanel(timeseries.NewPanelBuilder().Id(b.id()).
		Title("Probe step latency by phase").
		Description("Time each step of the probe spent in DNS, connect, TLS, time to first byte and transfer, averaged over the selected nodes; stacked, a step's phases add up to the step.").
		WithTarget(query("A", `avg by (probe, step, phase) (pulse_probe_step_duration_seconds{`+probeSel+`,phase!="total"})`, "{{probe}} {{step}} {{phase}}")).
		Unit(units.Seconds).Min(0).Height(9).Span(12).
		FillOpacity(40).
		Stacking(common.NewStackingConfigBuilder().Mode(common.StackingModeNormal)).
		Legend(legendTable()))
	b.WithPanel(timeseries.NewPanelBuilder().Id(b.id()).
		Title("Probe duration per node").
		WithTarget(query("A", `pulse_probe_duration_seconds{`+probeSel+`}`, "{{identity}} {{probe}}")).
		Unit(units.Seconds).Min(0).Height(9).Span(6).
		Legend(legendTable()))
	b.WithPanel(timeseries.NewPanelBuilder().Id(b.id()).
		Title("Probe success ratio").
		Description("Share of probe runs that succeeded per rate interval, over the selected nodes.").
		WithTarget(query("A", compact(`
			1 - sum by (probe) (rate(pulse_probe_failures_total{`+probeSel+`}[$__rate_interval]))
			/ sum by (probe) (rate(pulse_probe_runs_total{`+probeSel+`}[$__rate_interval]))`), "{{probe}}")).
		Unit(units.PercentUnit).Min(0).Max(1).Height(9).Span(6))

	b.row("By installed version")
	// The node's version of $package, joined onto its probe series: how
	// each release runs, side by side, since the last deploy.
	byVersion := `* on (identity) group_left (version) pulse_package_info{` + nodeSel + `,package="$package"}`
	b.WithPanel(timeseries.NewPanelBuilder().Id(b.id()).
		Title("Probe success ratio by $package version").
		Description("Share of probe runs that succeeded on the nodes running each installed version of the package, from the versions the nodes report (watch_packages in the agent config).").
		WithTarget(query("A", compact(`
			1 - sum by (probe, version) (rate(pulse_probe_failures_total{`+probeSel+`}[$__rate_interval]) `+byVersion+`)
			/ sum by (probe, version) (rate(pulse_probe_runs_total{`+probeSel+`}[$__rate_interval]) `+byVersion+`)`), "{{probe}} {{version}}")).
		Unit(units.PercentUnit).Min(0).Max(1).Height(8).Span(12).
		Legend(legendTable()))
	b.WithPanel(timeseries.NewPanelBuilder().Id(b.id()).
		Title("Probe duration by $package version").
		Description("Mean duration of the probe's last run on the nodes running each installed version of the package.").
		WithTarget(query("A", `avg by (probe, version) (pulse_probe_duration_seconds{`+probeSel+`} `+byVersion+`)`, "{{probe}} {{version}}")).
		Unit(units.Seconds).Min(0).Height(8).Span(12).
		Legend(legendTable()))

	b.row("Checks")
	b.WithPanel(timeseries.NewPanelBuilder().Id(b.id()).
		Title("Perfdata: $check").
		Description("Perfdata of the check's runs per node, in base units; the legend names the unit family (seconds, bytes, ratio, plain). One panel per selected check.").
		WithTarget(query("A", perfdataQuery(checkSel), "{{identity}} {{label}} ({{unit}})")).
		Repeat("check").
		RepeatDirection(dashboard.PanelRepeatDirectionH).
		MaxPerRow(2).
		Height(9).Span(12).
		Legend(legendTable()))
	b.WithPanel(timeseries.NewPanelBuilder().Id(b.id()).
		Title("Check duration").
		WithTarget(query("A", `pulse_check_duration_seconds{`+checkSel+`}`, "{{identity}} {{check}}")).
		Unit(units.Seconds).Min(0).Height(8).Span(12).
		Legend(legendTable()))
	b.WithPanel(timeseries.NewPanelBuilder().Id(b.id()).
		Title("Check runs by state").
		WithTarget(query("A", `sum by (check, status) (rate(pulse_check_runs_total{`+checkSel+`}[$__rate_interval]))`, "{{check}} {{status}}")).
		Unit(units.RequestsPerSecond).Min(0).Height(8).Span(12).
		Stacking(common.NewStackingConfigBuilder().Mode(common.StackingModeNormal)).
		FillOpacity(30).
		Legend(legendTable()))
	b.WithPanel(statushistory.NewPanelBuilder().Id(b.id()).
		Title("Check states").
		WithTarget(query("A", `max by (identity, check) (pulse_check_status{`+checkSel+`})`, "{{identity}} {{check}}")).
		Mappings(checkStates()).
		Thresholds(checkStateSteps()).
		ShowValue(common.VisibilityModeNever).
		Height(8).Span(24))
	return b.DashboardBuilder, nil
}

// perfdataQuery joins the perfdata families (one per unit) into one query,
// with the family as a unit label for the legend.
func perfdataQuery(sel string) string {
	var parts []string
	for _, f := range protocol.PerfFamilies {
		parts = append(parts, fmt.Sprintf(`label_replace(pulse_check_perfdata%s{%s}, "unit", "%s", "", "")`, f.Suffix(), sel, f))
	}
	return strings.Join(parts, " or ")
}
