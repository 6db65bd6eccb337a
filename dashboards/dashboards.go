package dashboards

//lint:file-ignore SA1019 the v1 dashboard builder is deprecated for dashboardv2, which Grafana 12 still calls experimental and file provisioning cannot read (README, "Dashboards").

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
)

// Selectors every per-node query carries, so the az, role and cluster
// variables narrow every panel. The variables' "All" value is ".*", which
// keeps a plain `=~` matcher valid whatever is selected.
const (
	fleetSel = `az=~"$az",role=~"$role",cluster=~"$cluster"`
	nodeSel  = fleetSel + `,identity=~"$node"`
)

// datasourceUID is the datasource variable; the provisioned Prometheus
// datasource (provisioning/datasources/prometheus.yml) is its default.
const datasourceUID = "${datasource}"

// DefaultCollectorURL is where the dashboards' links look for the
// collector's API unless the collector_url variable says otherwise.
const DefaultCollectorURL = "http://localhost:9780"

// Generate renders every dashboard to indented JSON, keyed by file name
// (pulse-fleet.json, ...). The output is deterministic, so the committed
// files can be compared byte for byte.
func Generate() (map[string][]byte, error) {
	builders := map[string]func() (*dashboard.DashboardBuilder, error){
		"pulse-fleet.json":     fleetDashboard,
		"pulse-service.json":   serviceDashboard,
		"pulse-slo-login.json": sloDashboard,
		"pulse-delivery.json":  deliveryDashboard,
	}
	out := make(map[string][]byte, len(builders))
	for name, build := range builders {
		b, err := build()
		if err != nil {
			return nil, fmt.Errorf("dashboard %s: %w", name, err)
		}
		d, err := b.Build()
		if err != nil {
			return nil, fmt.Errorf("dashboard %s does not build (fix its Go builder): %w", name, err)
		}
		js, err := json.MarshalIndent(d, "", "  ")
		if err != nil {
			return nil, fmt.Errorf("dashboard %s: encode JSON: %w", name, err)
		}
		if err := Validate(js); err != nil {
			return nil, fmt.Errorf("dashboard %s (fix its Go builder): %w", name, err)
		}
		out[name] = append(js, '\n')
	}
	return out, nil
}

// WriteDir generates every dashboard into dir (created when missing) and
// returns the paths written, sorted.
func WriteDir(dir string) ([]string, error) {
	files, err := Generate()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("dashboards output directory %s: %w", dir, err)
	}
	var written []string
	for name, b := range files {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return nil, fmt.Errorf("write dashboard %s: %w", p, err)
		}
		written = append(written, p)
	}
	slices.Sort(written)
	return written, nil
}

// board wraps a dashboard builder to hand out stable panel ids, which
// Grafana needs for links to a single panel and which keep the JSON
// deterministic.
type board struct {
	*dashboard.DashboardBuilder
	next uint32
}

func newBoard(uid, title, description string, tags ...string) *board {
	b := dashboard.NewDashboardBuilder(title).
		Uid(uid).
		Description(description).
		Tags(append([]string{"pulse"}, tags...)).
		Editable().
		Tooltip(dashboard.DashboardCursorSyncCrosshair).
		Refresh("30s").
		Time("now-1h", "now").
		Timezone("browser").
		// Links to the other pulse dashboards keep the time range and the
		// selected zone, role and cluster.
		Link(dashboard.NewDashboardLinkBuilder("pulse dashboards").
			Type(dashboard.DashboardLinkTypeDashboards).
			Tags([]string{"pulse"}).
			AsDropdown(true).
			IncludeVars(true).
			KeepTime(true))
	return &board{DashboardBuilder: b}
}

func (b *board) id() uint32 {
	b.next++
	return b.next
}

func (b *board) row(title string) {
	b.WithRow(dashboard.NewRowBuilder(title).Id(b.id()))
}

func ds() common.DataSourceRef {
	return common.DataSourceRef{Type: cog.ToPtr("prometheus"), Uid: cog.ToPtr(datasourceUID)}
}

// query is a range query, the default for graphs.
func query(ref, expr, legend string) *prometheus.DataqueryBuilder {
	return prometheus.NewDataqueryBuilder().RefId(ref).Datasource(ds()).Expr(expr).LegendFormat(legend).Range()
}

// instant is a query evaluated at the end of the range, for stats,
// gauges and tables that show "now".
func instant(ref, expr, legend string) *prometheus.DataqueryBuilder {
	return prometheus.NewDataqueryBuilder().RefId(ref).Datasource(ds()).Expr(expr).LegendFormat(legend).Instant()
}

// tableQuery is an instant query whose labels become table columns.
func tableQuery(ref, expr string) *prometheus.DataqueryBuilder {
	return instant(ref, expr, "__auto").Format(prometheus.PromQueryFormatTable)
}

// Template variables.

func datasourceVar() *dashboard.DatasourceVariableBuilder {
	return dashboard.NewDatasourceVariableBuilder("datasource").
		Label("Prometheus").
		Type("prometheus")
}

// labelVar is a multi-value variable fed from a label of a selector, with
// an "All" whose value ".*" keeps every query's matcher valid.
func labelVar(name, label, selector, labelName string) *dashboard.QueryVariableBuilder {
	q := fmt.Sprintf("label_values(%s, %s)", selector, labelName)
	all := ".*"
	return dashboard.NewQueryVariableBuilder(name).
		Label(label).
		Datasource(ds()).
		Query(dashboard.StringOrMap{String: &q}).
		Definition(q).
		Multi(true).
		IncludeAll(true).
		AllValue(all).
		Current(dashboard.VariableOption{
			Selected: cog.ToPtr(true),
			Text:     dashboard.StringOrArrayOfString{ArrayOfString: []string{"All"}},
			Value:    dashboard.StringOrArrayOfString{ArrayOfString: []string{"$__all"}},
		}).
		Refresh(dashboard.VariableRefreshOnTimeRangeChanged).
		Sort(dashboard.VariableSortAlphabeticalAsc)
}

// singleVar is a variable of one value fed from a label, for joins that
// need one series per node.
func singleVar(name, label, selector, labelName string) *dashboard.QueryVariableBuilder {
	q := fmt.Sprintf("label_values(%s, %s)", selector, labelName)
	return dashboard.NewQueryVariableBuilder(name).
		Label(label).
		Datasource(ds()).
		Query(dashboard.StringOrMap{String: &q}).
		Definition(q).
		Refresh(dashboard.VariableRefreshOnTimeRangeChanged).
		Sort(dashboard.VariableSortAlphabeticalAsc)
}

// fleetVars are az, role and cluster, each narrowed by the ones before it,
// all fed from pulse_node_info.
func fleetVars(b *board) {
	b.WithVariable(datasourceVar())
	b.WithVariable(labelVar("az", "Zone", "pulse_node_info", "az"))
	b.WithVariable(labelVar("role", "Role", `pulse_node_info{az=~"$az"}`, "role"))
	b.WithVariable(labelVar("cluster", "Cluster", `pulse_node_info{az=~"$az",role=~"$role"}`, "cluster"))
}

func collectorURLVar() *dashboard.TextBoxVariableBuilder {
	v := DefaultCollectorURL
	return dashboard.NewTextBoxVariableBuilder("collector_url").
		Label("Collector URL").
		Description("Base URL of the pulse collector, for links to its node API (check output lives there, not in Prometheus).").
		DefaultValue(dashboard.StringOrMap{String: &v}).
		Current(dashboard.VariableOption{
			Text:  dashboard.StringOrArrayOfString{String: &v},
			Value: dashboard.StringOrArrayOfString{String: &v},
		})
}

// Annotations shared by the fleet and service dashboards.

// remediationAnnotation marks every remediation on every graph. The
// remediation counters carry only rule and result (no node labels), so
// this annotation cannot follow the az, role and cluster variables. The
// collector exports every rule's results from 0, so changes() sees the
// first remediation too.
func remediationAnnotation() *dashboard.AnnotationQueryBuilder {
	expr := `sum by (rule, result) (changes(pulse_remediations_total[2m])) > 0`
	return dashboard.NewAnnotationQueryBuilder().
		Name("Remediations").
		Datasource(ds()).
		Enable(true).
		IconColor("orange").
		Target(annotationQuery(expr)).
		TitleFormat("remediation {{rule}}: {{result}}").
		TagKeys("rule,result")
}

// alertAnnotation marks firing alerts about the selected nodes; alerts
// carry the node's labels, so this one follows the variables.
func alertAnnotation(sel string) *dashboard.AnnotationQueryBuilder {
	return dashboard.NewAnnotationQueryBuilder().
		Name("Alerts").
		Datasource(ds()).
		Enable(true).
		IconColor("red").
		Target(annotationQuery(`ALERTS{alertstate="firing",` + sel + `}`)).
		TitleFormat("{{alertname}} {{identity}}").
		TextFormat("{{check}}{{probe}}").
		TagKeys("alertname,identity,check,probe")
}

// annotationQuery is an annotation's query in the form Grafana's
// Prometheus datasource keeps it today: a query under "target" (the
// top-level "expr" and "step" are the legacy form it converts on load).
func annotationQuery(expr string) *prometheus.DataqueryBuilder {
	return prometheus.NewDataqueryBuilder().RefId("Anno").Datasource(ds()).Expr(expr).Interval("30s").Range()
}

// Field configuration helpers.

func thresholds(base string, steps ...any) *dashboard.ThresholdsConfigBuilder {
	ts := []dashboard.Threshold{{Color: base}}
	for i := 0; i+1 < len(steps); i += 2 {
		v := steps[i].(float64)
		ts = append(ts, dashboard.Threshold{Value: &v, Color: steps[i+1].(string)})
	}
	return dashboard.NewThresholdsConfigBuilder().Mode(dashboard.ThresholdsModeAbsolute).Steps(ts)
}

// valueMap maps exact values to text and colour, in order.
func valueMap(pairs ...[3]string) []dashboard.ValueMapping {
	m := dashboard.NewValueMap()
	for i, p := range pairs {
		m.Options[p[0]] = dashboard.ValueMappingResult{Text: cog.ToPtr(p[1]), Color: cog.ToPtr(p[2]), Index: cog.ToPtr(int32(i))}
	}
	return []dashboard.ValueMapping{{ValueMap: m}}
}

// notYet shows text for NaN, the 0/0 of a mean over no events: a value
// that says nothing happened yet rather than "NaN" or "No data".
func notYet(text string) []dashboard.ValueMapping {
	return []dashboard.ValueMapping{{SpecialValueMap: &dashboard.SpecialValueMap{
		Type: dashboard.MappingTypeSpecialValue,
		Options: dashboard.DashboardSpecialValueMapOptions{
			Match:  dashboard.SpecialValueMatchNaN,
			Result: dashboard.ValueMappingResult{Text: cog.ToPtr(text), Index: cog.ToPtr(int32(0))},
		},
	}}}
}

// checkStates are Nagios states as pulse_check_status reports them.
func checkStates() []dashboard.ValueMapping {
	return valueMap(
		[3]string{"0", "OK", "green"},
		[3]string{"1", "WARNING", "yellow"},
		[3]string{"2", "CRITICAL", "red"},
		[3]string{"3", "UNKNOWN", "purple"},
	)
}

// checkStateSteps colours pulse_check_status values as checkStates does.
func checkStateSteps() *dashboard.ThresholdsConfigBuilder {
	return thresholds("green", 1.0, "yellow", 2.0, "red", 3.0, "purple")
}

func legendTable() *common.VizLegendOptionsBuilder {
	return common.NewVizLegendOptionsBuilder().
		DisplayMode(common.LegendDisplayModeTable).
		Placement(common.LegendPlacementRight).
		ShowLegend(true)
}

func lastValue() *common.ReduceDataOptionsBuilder {
	return common.NewReduceDataOptionsBuilder().Calcs([]string{"lastNotNull"}).Values(false)
}

// organize hides columns a table reader does not need and renames the
// value column.
func organize(hide []string, renameValue string) dashboard.DataTransformerConfig {
	ex := map[string]bool{}
	for _, h := range hide {
		ex[h] = true
	}
	return dashboard.DataTransformerConfig{
		Id: "organize",
		Options: map[string]any{
			"excludeByName": ex,
			"renameByName":  map[string]string{"Value": renameValue},
		},
	}
}

// collectorLink opens a node in the collector's API, where the check
// output lives.
func collectorLink(title, path string) *dashboard.DashboardLinkBuilder {
	return dashboard.NewDashboardLinkBuilder(title).
		Type(dashboard.DashboardLinkTypeLink).
		Url("${collector_url}" + path).
		TargetBlank(true)
}

// describe joins sentences into a panel description.
func describe(s ...string) string { return strings.Join(s, " ") }

// compact removes the indentation a multi-line query literal carries, so
// the JSON shows queries the way a person would type them.
func compact(expr string) string {
	var buf bytes.Buffer
	for i, line := range strings.Split(strings.TrimSpace(expr), "\n") {
		if i > 0 {
			buf.WriteByte(' ')
		}
		buf.WriteString(strings.TrimSpace(line))
	}
	return buf.String()
}
