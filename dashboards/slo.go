package dashboards

//lint:file-ignore SA1019 the v1 dashboard builder is deprecated for dashboardv2, which Grafana 12 still calls experimental and file provisioning cannot read (README, "Dashboards").

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/grafana/grafana-foundation-sdk/go/bargauge"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/gauge"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
	"github.com/grafana/grafana-foundation-sdk/go/units"
	"github.com/prometheus/common/model"

	"github.com/pulseops/pulse/rules"
)

// sloDashboard is the business view of the login SLO, built from the same
// spec (rules/slo/login.yaml) its recording rules are generated from, so
// the objective and period on the dashboard cannot drift from the rules.
func sloDashboard() (*dashboard.DashboardBuilder, error) {
	spec, err := rules.ParseSLO("slo/login.yaml", rules.LoginSLOYAML)
	if err != nil {
		return nil, fmt.Errorf("login SLO spec: %w", err)
	}
	return sloBoard(spec), nil
}

func sloBoard(spec *rules.SLOSpec) *dashboard.DashboardBuilder {
	period := model.Duration(spec.Period).String()
	objective := strconv.FormatFloat(spec.Objective, 'g', -1, 64)
	title := "pulse / SLO " + spec.Name
	b := newBoard("pulse-slo-"+spec.Name, title, fmt.Sprintf(
		"%s Objective: %s%% of probe runs succeed over %s.", spec.Description, strconv.FormatFloat(spec.Objective*100, 'g', -1, 64), period), "slo", "business")
	fleetVars(b)
	b.Annotation(changeAnnotation(fleetSel))

	// The recording rules keep only the az label, so the role and cluster
	// variables cannot narrow them; only the last panel, computed from the
	// raw probe counters, follows all three.
	note := "SLO recording rules keep only the zone label: this panel follows the zone variable, not role or cluster."
	slo := `slo="` + spec.Name + `"`
	sel := slo + `,az=~"$az"`
	ratio := func(w string) string { return `pulse_slo:error_ratio:rate` + w + `{` + sel + `}` }
	// A burn rate is the error ratio in multiples of what the objective
	// allows; 1 spends the budget exactly over the period.
	burn := func(w string) string {
		return ratio(w) + ` / on (slo) group_left () (1 - pulse_slo:objective:ratio{` + slo + `})`
	}
	budget := `pulse_slo:error_budget_remaining:ratio{` + sel + `}`
	objectiveSteps := thresholds("red", spec.Objective, "green")

	b.row("Now")
	b.WithPanel(stat.NewPanelBuilder().Id(b.id()).
		Title("Success ratio now (5m)").
		Description(describe("Share of login probe runs that succeeded over the last 5 minutes, per zone.", note)).
		WithTarget(instant("A", `1 - `+ratio("5m"), "{{az}}")).
		Unit(units.PercentUnit).Decimals(3).Height(5).Span(6).
		ReduceOptions(lastValue()).
		Thresholds(objectiveSteps))
	b.WithPanel(stat.NewPanelBuilder().Id(b.id()).
		Title("Success ratio over " + period).
		Description(describe("Share of login probe runs that succeeded over the SLO period, per zone, against the objective of "+objective+".", note)).
		WithTarget(instant("A", `1 - `+ratio(period), "{{az}}")).
		WithTarget(instant("B", `pulse_slo:objective:ratio{`+slo+`}`, "objective")).
		Unit(units.PercentUnit).Decimals(3).Height(5).Span(6).
		ReduceOptions(lastValue()).
		Thresholds(objectiveSteps))
	b.WithPanel(gauge.NewPanelBuilder().Id(b.id()).
		Title("Error budget remaining").
		Description(describe("Share of the period's error budget not yet spent, per zone; below 0 the objective is missed.", note)).
		WithTarget(instant("A", budget, "{{az}}")).
		Unit(units.PercentUnit).Min(0).Max(1).Height(5).Span(6).
		ReduceOptions(lastValue()).
		Thresholds(thresholds("red", 0.25, "orange", 0.5, "green")))
	b.WithPanel(stat.NewPanelBuilder().Id(b.id()).
		Title("Time to exhaustion (1h burn rate)").
		Description(describe(
			"How long the remaining budget lasts if the last hour's burn rate goes on, per zone.",
			"Capped at the period: a zone burning nothing shows "+period+".", note)).
		WithTarget(instant("A", compact(fmt.Sprintf(`
			clamp_min(clamp_max(
			  %s * %d / (%s),
			%d), 0)`, budget, int64(spec.Period.Seconds()), burn("1h"), int64(spec.Period.Seconds()))), "{{az}}")).
		Unit(units.Seconds).Height(5).Span(6).
		ReduceOptions(lastValue()).
		Thresholds(thresholds("red", 86400.0, "orange", 7*86400.0, "green")))

	b.row("Burn rate")
	burnGraph := timeseries.NewPanelBuilder().Id(b.id()).
		Title("Burn rate by window").
		Description(describe("Error ratio over each window divided by the error ratio the objective allows (1 - objective).",
			"Above 14.4 over 1h and 5m, or 6 over 6h and 30m, pages; 1 spends the budget exactly over the period.", note)).
		Unit(units.Short).Min(0).Height(9).Span(16).
		ThresholdsStyle(common.NewGraphThresholdsStyleConfigBuilder().Mode(common.GraphThresholdsStyleModeLine)).
		Thresholds(thresholds("green", 1.0, "orange", 6.0, "red", 14.4, "dark-red")).
		Legend(legendTable())
	burnNow := bargauge.NewPanelBuilder().Id(b.id()).
		Title("Burn rate now").
		Description(note).
		Unit(units.Short).Min(0).Height(9).Span(8).
		DisplayMode(common.BarGaugeDisplayModeGradient).
		ReduceOptions(lastValue()).
		Thresholds(thresholds("green", 1.0, "orange", 6.0, "red"))
	for i, w := range spec.RatioWindows() {
		ws := model.Duration(w).String()
		ref := string(rune('A' + i))
		burnGraph.WithTarget(query(ref, burn(ws), "{{az}} "+ws))
		burnNow.WithTarget(instant(ref, burn(ws), "{{az}} "+ws))
	}
	b.WithPanel(burnGraph)
	b.WithPanel(burnNow)

	b.row("History")
	b.WithPanel(timeseries.NewPanelBuilder().Id(b.id()).
		Title("Error ratio").
		Description(note).
		WithTarget(query("A", ratio("5m"), "{{az}} 5m")).
		WithTarget(query("B", ratio("1h"), "{{az}} 1h")).
		WithTarget(query("C", `1 - pulse_slo:objective:ratio{`+slo+`}`, "allowed")).
		Unit(units.PercentUnit).Min(0).Height(8).Span(8).
		Legend(legendTable()))
	b.WithPanel(timeseries.NewPanelBuilder().Id(b.id()).
		Title("Error budget remaining over time").
		Description(note).
		WithTarget(query("A", budget, "{{az}}")).
		Unit(units.PercentUnit).Height(8).Span(8))
	b.WithPanel(timeseries.NewPanelBuilder().Id(b.id()).
		Title("Login success by zone, role and cluster").
		Description("Computed from the raw probe counters rather than the recording rules, so it follows every variable; a rate interval of 5m matches the fastest SLO window.").
		WithTarget(query("A", compact(`
			1 - sum by (az, role, cluster) (rate(`+withMatchers(spec.Errors, fleetSel)+`[5m]))
			/ sum by (az, role, cluster) (rate(`+withMatchers(spec.Total, fleetSel)+`[5m]))`), "{{az}} {{role}} {{cluster}}")).
		Unit(units.PercentUnit).Max(1).Height(8).Span(8))
	return b.DashboardBuilder
}

// withMatchers adds matchers to a plain selector such as
// pulse_probe_runs_total{probe="login"}, the only form rules.ParseSLO
// accepts for an SLO's counters.
func withMatchers(selector, matchers string) string {
	if strings.HasSuffix(selector, "}") {
		return strings.TrimSuffix(selector, "}") + "," + matchers + "}"
	}
	return selector + "{" + matchers + "}"
}
