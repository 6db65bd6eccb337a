package rules

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v4"

	"github.com/pulseops/pulse/internal/config"
)

// SLOSpec is one service level objective: a success ratio over a period,
// measured as errors/total of two counters.
type SLOSpec struct {
	// Name labels every generated series (slo="<name>") and prefixes the
	// alert names (login -> LoginSLOBurnRatePage).
	Name string
	// Objective is the target success ratio, 0 < Objective < 1.
	Objective float64
	// Period is the compliance window the error budget is measured over.
	Period time.Duration
	// Errors and Total are PromQL counter selectors, normalised by the
	// parser. Total is the denominator: when it is absent or flat the
	// no-data alert fires, because no traffic is not success.
	Errors string
	Total  string
	// KeepLabels are kept by the sum in every ratio, e.g. [az] gives one
	// ratio and one alert per availability zone.
	KeepLabels  []string
	Description string
	// NoDataFor is how long Total may be absent or not increasing before
	// the no-data alert fires.
	NoDataFor time.Duration
}

// sloFile is the YAML form; durations stay strings so they can be parsed
// with Prometheus' syntax ("30d") and reported at their line.
type sloFile struct {
	Name        string   `yaml:"name"`
	Objective   *float64 `yaml:"objective"`
	Period      string   `yaml:"period"`
	Errors      string   `yaml:"errors"`
	Total       string   `yaml:"total"`
	KeepLabels  []string `yaml:"keep_labels"`
	Description string   `yaml:"description"`
	NoDataFor   string   `yaml:"no_data_for"`
}

const (
	defaultSLOPeriod    = 30 * 24 * time.Hour
	defaultSLONoDataFor = 10 * time.Minute
	// The burn-rate factors below are tuned for a 30-day period (14.4x
	// for 1h spends 2% of it); much shorter periods would make them
	// meaningless, so the period has a floor.
	minSLOPeriod = 24 * time.Hour
)

var (
	sloNameRE   = regexp.MustCompile(`^[a-z][a-z0-9]*([_-][a-z0-9]+)*$`)
	labelNameRE = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
)

// LoadSLO reads and validates the SLO spec at path.
func LoadSLO(path string) (*SLOSpec, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read SLO spec: %w", err)
	}
	return ParseSLO(path, b)
}

// ParseSLO decodes and validates an SLO spec strictly; name is the file name
// used in "name:line: reason" errors. All problems are reported at once.
func ParseSLO(name string, b []byte) (*SLOSpec, error) {
	var raw sloFile
	if err := config.Decode(name, b, &raw); err != nil {
		return nil, err
	}
	// A second pass into a node tree gives the line of each key for
	// validation errors; the strict decode above already proved it parses.
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	at := func(key string) *yaml.Node { return config.Find(&doc, key) }

	s := &SLOSpec{Name: raw.Name, Description: strings.TrimSpace(raw.Description), KeepLabels: raw.KeepLabels}
	var errs []error
	switch {
	case raw.Name == "":
		errs = append(errs, config.At(name, at("name"), "name: required, e.g. name: login"))
	case !sloNameRE.MatchString(raw.Name):
		errs = append(errs, config.At(name, at("name"), "name %q: use lower-case letters and digits separated by - or _, e.g. checkout-api", raw.Name))
	}
	switch {
	case raw.Objective == nil:
		errs = append(errs, config.At(name, at("objective"), "objective: required, the success ratio, e.g. objective: 0.995"))
	case !(*raw.Objective > 0 && *raw.Objective < 1):
		errs = append(errs, config.At(name, at("objective"), "objective %v: must be a ratio between 0 and 1 exclusive, e.g. 0.995 for 99.5%%", *raw.Objective))
	default:
		s.Objective = *raw.Objective
	}
	s.Period = defaultSLOPeriod
	if raw.Period != "" {
		d, err := model.ParseDuration(raw.Period)
		switch {
		case err != nil:
			errs = append(errs, config.At(name, at("period"), "period %q: not a duration, e.g. 30d or 4w", raw.Period))
		case time.Duration(d) < minSLOPeriod:
			errs = append(errs, config.At(name, at("period"), "period %q: must be at least 1d; the burn-rate alerts assume a period of weeks", raw.Period))
		default:
			s.Period = time.Duration(d)
		}
	}
	s.NoDataFor = defaultSLONoDataFor
	if raw.NoDataFor != "" {
		d, err := model.ParseDuration(raw.NoDataFor)
		switch {
		case err != nil:
			errs = append(errs, config.At(name, at("no_data_for"), "no_data_for %q: not a duration, e.g. 10m", raw.NoDataFor))
		case d <= 0:
			errs = append(errs, config.At(name, at("no_data_for"), "no_data_for %q: must be positive", raw.NoDataFor))
		default:
			s.NoDataFor = time.Duration(d)
		}
	}
	// Prometheus expands annotations as templates; a stray "{{" in a
	// description would make the whole rule file fail to load.
	if strings.Contains(raw.Description, "{{") || strings.Contains(raw.Description, "}}") {
		errs = append(errs, config.At(name, at("description"), "description: must not contain {{ or }}; it is copied into alert annotations, which Prometheus expands as templates"))
	}
	p := parser.NewParser(parser.Options{})
	var err error
	if s.Errors, err = counterSelector(p, "errors", raw.Errors); err != nil {
		errs = append(errs, config.At(name, at("errors"), "%v", err))
	}
	if s.Total, err = counterSelector(p, "total", raw.Total); err != nil {
		errs = append(errs, config.At(name, at("total"), "%v", err))
	}
	for i, l := range raw.KeepLabels {
		switch {
		case !labelNameRE.MatchString(l):
			errs = append(errs, config.At(name, at("keep_labels"), "keep_labels[%d] %q: not a Prometheus label name", i, l))
		case l == "slo":
			errs = append(errs, config.At(name, at("keep_labels"), "keep_labels[%d] \"slo\": reserved, the generator sets it to the SLO name", i))
		case slices.Contains(raw.KeepLabels[:i], l):
			errs = append(errs, config.At(name, at("keep_labels"), "keep_labels[%d] %q: listed twice", i, l))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return s, nil
}

// counterSelector accepts only a plain instant selector, because the
// generator wraps it as rate(<selector>[window]); anything else (a range,
// an offset, an expression) would produce nonsense or fail to parse.
func counterSelector(p parser.Parser, field, in string) (string, error) {
	in = strings.TrimSpace(in)
	if in == "" {
		return "", fmt.Errorf("%s: required, a counter selector such as pulse_probe_runs_total{probe=\"login\"}", field)
	}
	expr, err := p.ParseExpr(in)
	if err != nil {
		return "", fmt.Errorf("%s %q: not valid PromQL: %w", field, in, err)
	}
	vs, ok := expr.(*parser.VectorSelector)
	if !ok {
		return "", fmt.Errorf("%s %q: must be a plain counter selector such as pulse_probe_runs_total{probe=\"login\"}, not %s", field, in, exprKind(expr))
	}
	if vs.OriginalOffset != 0 || vs.Timestamp != nil || vs.StartOrEnd != 0 {
		return "", fmt.Errorf("%s %q: offset and @ modifiers are not allowed; the generator chooses the windows", field, in)
	}
	return vs.String(), nil
}

func exprKind(e parser.Expr) string {
	switch e.(type) {
	case *parser.MatrixSelector:
		return "a range selector"
	case *parser.BinaryExpr:
		return "a binary expression"
	case *parser.AggregateExpr:
		return "an aggregation"
	case *parser.Call:
		return "a function call"
	case *parser.NumberLiteral:
		return "a number"
	case *parser.StringLiteral:
		return "a string"
	default:
		return "a compound expression"
	}
}

// burnWindow is one multi-window burn-rate condition from the Google SRE
// workbook: the long window proves the burn is significant, the short one
// that it is still happening, so the alert resets soon after a fix.
type burnWindow struct {
	factor      float64
	long, short time.Duration
}

var (
	hour       = time.Hour
	pageBurns  = []burnWindow{{14.4, hour, 5 * time.Minute}, {6, 6 * hour, 30 * time.Minute}}
	ticketBurn = []burnWindow{{3, 24 * hour, 2 * hour}, {1, 72 * hour, 6 * hour}}
)

// sloWindows are the ratio windows the alerts read, before the period.
var sloWindows = []time.Duration{5 * time.Minute, 30 * time.Minute, hour, 2 * hour, 6 * hour, 24 * hour, 72 * hour}

// RatioWindows are the windows GenerateSLO records an error ratio over
// (pulse_slo:error_ratio:rate<window>): those the burn-rate alerts read,
// and the period.
func (s *SLOSpec) RatioWindows() []time.Duration {
	windows := slices.Clone(sloWindows)
	if !slices.Contains(windows, s.Period) {
		windows = append(windows, s.Period)
	}
	return windows
}

func errorRatioName(w time.Duration) string { return "pulse_slo:error_ratio:rate" + promDuration(w) }

func fmtFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// percent prints 0.995 as 99.5 without float noise such as 99.49999999999999.
func percent(f float64) string { return strconv.FormatFloat(f*100, 'g', 10, 64) }

// alertPrefix turns checkout-api into CheckoutApi.
func alertPrefix(name string) string {
	var b strings.Builder
	for part := range strings.FieldsFuncSeq(name, func(r rune) bool { return r == '-' || r == '_' }) {
		b.WriteString(strings.ToUpper(part[:1]) + part[1:])
	}
	return b.String()
}

// GenerateSLO renders the recording and alerting rules for s.
func GenerateSLO(s *SLOSpec) ([]byte, error) {
	if s == nil {
		return nil, errors.New("generate SLO rules: nil spec")
	}
	// Specs built in Go rather than parsed get the same checks and
	// defaults by round-tripping through the validator.
	b, err := s.yaml()
	if err != nil {
		return nil, err
	}
	if s, err = ParseSLO("SLO spec "+s.Name, b); err != nil {
		return nil, fmt.Errorf("generate SLO rules: %w", err)
	}
	by := "sum"
	if len(s.KeepLabels) > 0 {
		by = "sum by (" + strings.Join(s.KeepLabels, ", ") + ")"
	}
	sel := `{slo="` + s.Name + `"}`
	sloLabel := map[string]string{"slo": s.Name}
	// The budget is written as a decimal (0.005, not 1 - 0.995) so the
	// rules read like the spec and carry no float noise such as
	// 0.0050000000000000044.
	budget := strconv.FormatFloat(1-s.Objective, 'g', 12, 64)

	var rs []rule
	for _, w := range s.RatioWindows() {
		r := "[" + promDuration(w) + "]"
		total := by + " (rate(" + s.Total + r + "))"
		// A missing errors counter means no error has happened yet; without
		// the "or 0 * total" the ratio would vanish instead of reading 0.
		rs = append(rs, rule{
			Record: errorRatioName(w),
			Expr:   "(\n  " + by + " (rate(" + s.Errors + r + "))\n  or\n  0 * " + total + "\n)\n/\n" + total + "\n",
			Labels: sloLabel,
		})
	}
	rs = append(rs,
		rule{Record: "pulse_slo:objective:ratio", Expr: "vector(" + fmtFloat(s.Objective) + ")", Labels: sloLabel},
		rule{
			Record: "pulse_slo:error_budget_remaining:ratio",
			Expr:   "1 - " + errorRatioName(s.Period) + sel + " / " + budget,
			Labels: sloLabel,
		},
	)

	desc := s.Description
	if desc != "" {
		desc += " "
	}
	objective := fmt.Sprintf("%s%% over %s", percent(s.Objective), promDuration(s.Period))
	burnExpr := func(bws []burnWindow) string {
		var parts []string
		for _, bw := range bws {
			th := "(" + fmtFloat(bw.factor) + " * " + budget + ")"
			parts = append(parts, "(\n  "+errorRatioName(bw.long)+sel+" > "+th+"\n  and\n  "+errorRatioName(bw.short)+sel+" > "+th+"\n)")
		}
		return strings.Join(parts, "\nor\n") + "\n"
	}
	prefix := alertPrefix(s.Name)
	totalBy := by + " (increase(" + s.Total + "[" + promDuration(s.NoDataFor) + "]))"
	rs = append(rs,
		rule{
			Alert:  prefix + "SLOBurnRatePage",
			Expr:   burnExpr(pageBurns),
			Labels: map[string]string{"severity": "page", "slo": s.Name},
			Annotations: map[string]string{
				"summary":     "SLO " + s.Name + " is burning its error budget fast",
				"description": desc + "The error ratio is at least 6 times what the objective of " + objective + " allows; at this rate the error budget is gone within days.",
			},
		},
		rule{
			Alert:  prefix + "SLOBurnRateTicket",
			Expr:   burnExpr(ticketBurn),
			Labels: map[string]string{"severity": "ticket", "slo": s.Name},
			Annotations: map[string]string{
				"summary":     "SLO " + s.Name + " is using up its error budget",
				"description": desc + "The error ratio is above what the objective of " + objective + " allows over the last days; the budget will run out before the period ends.",
			},
		},
		rule{
			// Without traffic the ratio is 0/0 and no burn alert can fire,
			// so silence must be an alert of its own rather than look like
			// success.
			Alert:  prefix + "SLONoData",
			Expr:   "absent(" + s.Total + ")\nor\n" + totalBy + " == 0\n",
			For:    forDuration(s.NoDataFor),
			Labels: map[string]string{"severity": "ticket", "slo": s.Name},
			Annotations: map[string]string{
				"summary":     "SLO " + s.Name + " has no traffic to measure",
				"description": desc + "Its total counter " + s.Total + " is absent or has not increased for " + promDuration(s.NoDataFor) + ", so the SLO cannot be judged; check that the probe or service is running.",
			},
		},
	)
	f := ruleFile{Groups: []ruleGroup{{Name: "pulse-slo-" + s.Name, Rules: rs}}}
	return f.render("pulse rules slo (rules.GenerateSLO)")
}

// yaml renders s back into the spec format for validation.
func (s *SLOSpec) yaml() ([]byte, error) {
	obj := s.Objective
	raw := sloFile{
		Name: s.Name, Objective: &obj, Errors: s.Errors, Total: s.Total,
		KeepLabels: s.KeepLabels, Description: s.Description,
	}
	if s.Period != 0 {
		raw.Period = promDuration(s.Period)
	}
	if s.NoDataFor != 0 {
		raw.NoDataFor = promDuration(s.NoDataFor)
	}
	b, err := yaml.Marshal(raw)
	if err != nil {
		return nil, fmt.Errorf("generate SLO rules: encode spec %s: %w", s.Name, err)
	}
	return b, nil
}
