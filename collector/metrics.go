package collector

import (
	"cmp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/pulseops/pulse/internal/protocol"
)

// famSpec is one fleet family: what its HELP and TYPE lines say.
type famSpec struct {
	name, help string
	counter    bool
	desc       *prometheus.Desc
}

// fleetCollector owns the fleet's series. /metrics writes them straight from
// the state as text (see exposition.go); in-process readers get them through
// Registry.Gather, which collects fleetSeries. Registered on c.reg itself,
// it only describes the families, so the registry still refuses another
// collector that would expose the same names, while gathering c.reg for a
// scrape costs nothing per fleet series.
type fleetCollector struct {
	c *Collector

	specs [numSlotKinds]famSpec // by slotKind

	// series is a private registry holding fleetSeries, for Registry.Gather.
	series *prometheus.Registry

	// idx is the fleet's series grouped by family, families sorted by name,
	// valid while idxShape matches the state's shape. A rebuild replaces the
	// slices and never changes them, so a scrape may keep reading the ones it
	// took after letting go of the locks.
	idxMu    sync.Mutex
	idx      []famIndex
	idxShape uint64
	idxValid bool
}

func newFleetCollector(c *Collector) *fleetCollector {
	node := []string{"identity"}
	for _, r := range c.rules {
		node = append(node, r.label)
	}
	with := func(extra ...string) []string { return append(append([]string{}, node...), extra...) }
	f := &fleetCollector{c: c}
	set := func(k slotKind, name, help string, counter bool, labels []string) {
		f.specs[k] = famSpec{name: name, help: help, counter: counter, desc: prometheus.NewDesc(name, help, labels, nil)}
	}
	set(sNodeUp, "pulse_node_up", "1 if the node heartbeated within the allowed number of missed heartbeats, else 0.", false, node)
	set(sNodeLastSeen, "pulse_node_last_seen_timestamp_seconds", "Unix time of the node's last heartbeat.", false, node)
	set(sNodeInfo, "pulse_node_info", "Always 1; carries the node's allow-listed fact labels for group_left joins.", false, node)
	set(sCheckStatus, "pulse_check_status", "Nagios state of the check's last run: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.", false, with("check"))
	set(sCheckDuration, "pulse_check_duration_seconds", "How long the check's last run took.", false, with("check"))
	set(sCheckLastRun, "pulse_check_last_run_timestamp_seconds", "Unix time of the check's last run.", false, with("check"))
	set(sCheckStale, "pulse_check_stale", "1 if the check's last result is older than the allowed number of its intervals, else 0.", false, with("check"))
	// Perfdata: one family per unit family, and the Nagios warning and
	// critical thresholds as their own series, by bound.
	for _, fam := range protocol.PerfFamilies {
		what := map[protocol.PerfFamily]string{protocol.PerfPlain: "without a unit, or a count", protocol.PerfSeconds: "in seconds",
			protocol.PerfBytes: "in bytes", protocol.PerfRatio: "as a 0-1 ratio (a percentage / 100)"}[fam]
		set(perfKind(0, fam), "pulse_check_perfdata"+fam.Suffix(), "Perfdata value of the check's last run, "+what+".", false, with("check", "label"))
		set(perfKind(1, fam), "pulse_check_perfdata_warning"+fam.Suffix(), "The check's warning threshold for a perfdata value "+what+": bound upper alerts above it, lower below it.", false, with("check", "label", "bound"))
		set(perfKind(2, fam), "pulse_check_perfdata_critical"+fam.Suffix(), "The check's critical threshold for a perfdata value "+what+": bound upper alerts above it, lower below it.", false, with("check", "label", "bound"))
	}
	set(sCheckRuns, "pulse_check_runs_total", "Runs of the check by resulting state since the agent started.", true, with("check", "status"))
	set(sProbeSuccess, "pulse_probe_success", "1 if the probe's last run succeeded, else 0.", false, with("probe"))
	set(sProbeDuration, "pulse_probe_duration_seconds", "How long the probe's last run took.", false, with("probe"))
	set(sProbeLastRun, "pulse_probe_last_run_timestamp_seconds", "Unix time of the probe's last run.", false, with("probe"))
	set(sProbeStale, "pulse_probe_stale", "1 if the probe's last result is older than the allowed number of its intervals, else 0.", false, with("probe"))
	set(sProbeStep, "pulse_probe_step_duration_seconds", "Time a step of the probe's last run spent in each phase; phase total is the whole step.", false, with("probe", "step", "phase"))
	set(sProbeHTTPStatus, "pulse_probe_http_status_code", "HTTP status code of the step's final response in the probe's last run, as blackbox_exporter's probe_http_status_code.", false, with("probe", "step"))
	set(sProbeCertExpiry, "pulse_probe_tls_cert_expiry_timestamp_seconds", "Unix time at which the first of the certificates the step's server presented expires (probe_ssl_earliest_cert_expiry in blackbox_exporter).", false, with("probe", "step"))
	set(sProbeRuns, "pulse_probe_runs_total", "Runs of the probe since the agent started.", true, with("probe"))
	set(sProbeFailures, "pulse_probe_failures_total", "Failed runs of the probe since the agent started.", true, with("probe"))
	set(sCollectorNodes, "pulse_collector_nodes", "Nodes the collector knows, up or down.", false, nil)
	f.series = prometheus.NewRegistry()
	f.series.MustRegister(fleetSeries{f})
	return f
}

func (f *fleetCollector) Describe(ch chan<- *prometheus.Desc) {
	for i := range f.specs {
		ch <- f.specs[i].desc
	}
}

// Collect emits nothing: see fleetCollector.
func (f *fleetCollector) Collect(chan<- prometheus.Metric) {}

// fleetSeries emits the fleet's series as prometheus.Metrics, for
// Registry.Gather.
type fleetSeries struct{ f *fleetCollector }

func (s fleetSeries) Describe(ch chan<- *prometheus.Desc) { s.f.Describe(ch) }

// sample is one series of one scrape. Samples live in one slice per scrape so
// a scrape allocates once for all of them.
type sample struct {
	desc    *prometheus.Desc
	labels  []*dto.LabelPair
	value   float64
	counter bool
	g       dto.Gauge
	c       dto.Counter
}

func (s *sample) Desc() *prometheus.Desc { return s.desc }

func (s *sample) Write(m *dto.Metric) error {
	m.Label = s.labels
	if s.counter {
		s.c.Value = &s.value
		m.Counter = &s.c
	} else {
		s.g.Value = &s.value
		m.Gauge = &s.g
	}
	return nil
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func unix(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

// slotKind says which value a slot reads from its node or entry.
type slotKind uint8

const (
	sNodeUp slotKind = iota
	sNodeLastSeen
	sNodeInfo
	sCheckStatus
	sCheckDuration
	sCheckLastRun
	sCheckStale
	sCheckRuns
	// sPerf is the first of 12 perfdata kinds, perfKind(level, family):
	// the kinds after it skip the other 11.
	sPerf
	sProbeSuccess slotKind = iota + 11
	sProbeDuration
	sProbeLastRun
	sProbeStale
	sProbeRuns
	sProbeFailures
	sProbeStep
	sProbeHTTPStatus
	sProbeCertExpiry
	sCollectorNodes
	numSlotKinds // the number of kinds, not a kind
)

// slot is one series that may exist: where its labels are and where its
// value comes from.
type slot struct {
	kind   slotKind
	labels []*dto.LabelPair
	text   string // labels as exposition text, "{a="x",b="y"}"
	n      *node  // node families
	e      *entry // check and probe families
	state  int    // sCheckRuns: the Nagios state
	key    string // perfdata: its label; sProbeStep: step name
	phase  string // sProbeStep; perfdata thresholds: the bound, "lower" or "upper"
}

// perfKind is the slot kind of a perfdata value (level 0) or its warning
// (1) or critical (2) threshold, in a unit family.
func perfKind(level int, f protocol.PerfFamily) slotKind {
	return sPerf + slotKind(level*len(protocol.PerfFamilies)) + slotKind(f)
}

// perfLevel splits a perfdata slot kind back into its level and family.
func perfLevel(k slotKind) (level int, f protocol.PerfFamily) {
	i := int(k - sPerf)
	return i / len(protocol.PerfFamilies), protocol.PerfFamily(i % len(protocol.PerfFamilies))
}

func isPerf(k slotKind) bool { return k >= sPerf && k < sPerf+12 }

// cmpLabels orders two label sets of one family as client_golang's registry
// does: by label values, in label name order.
func cmpLabels(a, b []*dto.LabelPair) int {
	for i := range a {
		if i >= len(b) {
			return 1
		}
		if c := strings.Compare(a[i].GetValue(), b[i].GetValue()); c != 0 {
			return c
		}
	}
	return cmp.Compare(len(a), len(b))
}

// labelOrder returns the positions 0..n-1 in cmpLabels order of the label
// sets labels(i). It compares one string per set, the values joined by NUL
// bytes, rather than chasing three pointers per label on every comparison:
// at hundreds of thousands of sets spread over a large heap those pointers
// are cache misses. As NUL sorts below every other byte, the joined strings
// sort as cmpLabels does; a value that holds a NUL itself sends the whole
// sort to cmpLabels.
func labelOrder(n int, labels func(int) []*dto.LabelPair) []int32 {
	keys := make([]string, n)
	joined := true
	var buf []byte
	for i := range keys {
		buf = buf[:0]
		for j, l := range labels(i) {
			if j > 0 {
				buf = append(buf, 0)
			}
			v := l.GetValue()
			joined = joined && strings.IndexByte(v, 0) < 0
			buf = append(buf, v...)
		}
		keys[i] = string(buf)
	}
	order := make([]int32, n)
	for i := range order {
		order[i] = int32(i)
	}
	if joined {
		slices.SortFunc(order, func(i, j int32) int { return strings.Compare(keys[i], keys[j]) })
	} else {
		slices.SortFunc(order, func(i, j int32) int { return cmpLabels(labels(int(i)), labels(int(j))) })
	}
	return order
}

// sortByLabels returns a copy of s in cmpLabels order of labels(x).
func sortByLabels[T any](s []T, labels func(T) []*dto.LabelPair) []T {
	order := labelOrder(len(s), func(i int) []*dto.LabelPair { return labels(s[i]) })
	out := make([]T, len(s))
	for i, o := range order {
		out[i] = s[o]
	}
	return out
}

// famIndex is one family's series in exposition order.
type famIndex struct {
	spec  *famSpec
	slots []slot
}

// buildIndex lists every admitted series, grouped by family, families sorted
// by name and series within a family in the order client_golang's registry
// sorts them, with each label set rendered as exposition text once. It is
// rebuilt only when series come, go or change labels, so a scrape only reads
// values. c.mu must be held for reading.
func (f *fleetCollector) buildIndex() []famIndex {
	st := f.c.state
	var nodes []*node
	var checks, probes []*entry
	for _, n := range st.nodes {
		if n.admitted {
			nodes = append(nodes, n)
		}
		for _, e := range n.entries {
			if !e.admitted {
				continue
			}
			if e.kind == "probe" {
				probes = append(probes, e)
			} else {
				checks = append(checks, e)
			}
		}
	}
	nodes = sortByLabels(nodes, func(n *node) []*dto.LabelPair { return n.labels })
	byBase := func(e *entry) []*dto.LabelPair { return e.base }
	checks, probes = sortByLabels(checks, byBase), sortByLabels(probes, byBase)

	// Each family's size is known before anything is added, so the slices
	// (hundreds of thousands of slots at 10,000 nodes) are allocated once.
	nRuns, nSteps := 0, 0
	for _, e := range checks {
		nRuns += len(e.runs)
	}
	for _, e := range probes {
		nSteps += len(e.steps)
	}
	var fams [numSlotKinds][]slot
	for _, k := range []slotKind{sNodeUp, sNodeLastSeen, sNodeInfo} {
		fams[k] = make([]slot, 0, len(nodes))
	}
	for _, k := range []slotKind{sCheckStatus, sCheckDuration, sCheckLastRun, sCheckStale} {
		fams[k] = make([]slot, 0, len(checks))
	}
	for _, k := range []slotKind{sProbeSuccess, sProbeDuration, sProbeLastRun, sProbeStale, sProbeRuns, sProbeFailures} {
		fams[k] = make([]slot, 0, len(probes))
	}
	fams[sCheckRuns], fams[sProbeStep] = make([]slot, 0, nRuns), make([]slot, 0, nSteps)
	runs, steps := make([]slot, 0, nRuns), make([]slot, 0, nSteps)
	// Families whose series are sorted before they are added: run states,
	// perfdata, steps. Perfdata series go to the family of their unit and
	// thresholds in the last result; a change there rebuilds the index
	// (notePerfShape).
	grouped := map[slotKind][]slot{}

	r := newLabelRenderer()
	// add renders labels once for every family the label set appears in; a
	// set the text format cannot carry is left out, as the registry would.
	add := func(s *slot, kinds ...slotKind) {
		text, ok := r.render(s.labels)
		if !ok {
			f.c.bad.Warn("metrics_utf8", "leaving a series out of /metrics: a label value is not valid UTF-8", "labels", text)
			return
		}
		s.text = text
		for _, k := range kinds {
			s.kind = k
			fams[k] = append(fams[k], *s)
		}
	}
	for _, n := range nodes {
		add(&slot{labels: n.labels, n: n}, sNodeUp, sNodeLastSeen, sNodeInfo)
	}
	for _, e := range checks {
		add(&slot{labels: e.base, e: e}, sCheckStatus, sCheckDuration, sCheckLastRun, sCheckStale)
		for s := range e.runs {
			runs = append(runs, slot{labels: e.runs[s], e: e, state: s})
		}
		for k, l := range e.perf {
			shape := e.perfShape[k]
			if shape&perfPresent == 0 {
				continue
			}
			fam := protocol.PerfFamily(shape & 3)
			grouped[perfKind(0, fam)] = append(grouped[perfKind(0, fam)], slot{labels: l, e: e, key: k})
			for _, t := range []struct {
				bit   uint8
				level int
				bound string
			}{{perfWarnLower, 1, "lower"}, {perfWarnUpper, 1, "upper"}, {perfCritLower, 2, "lower"}, {perfCritUpper, 2, "upper"}} {
				if shape&t.bit != 0 {
					kind := perfKind(t.level, fam)
					grouped[kind] = append(grouped[kind], slot{labels: withLabels(l, labelPair("bound", t.bound)), e: e, key: k, phase: t.bound})
				}
			}
		}
	}
	for _, e := range probes {
		add(&slot{labels: e.base, e: e}, sProbeSuccess, sProbeDuration, sProbeLastRun, sProbeStale, sProbeRuns, sProbeFailures)
		for k, l := range e.steps {
			step, phase, _ := strings.Cut(k, "\x00")
			steps = append(steps, slot{labels: l, e: e, key: step, phase: phase})
			if phase == "total" {
				byStep := withLabels(e.base, labelPair("step", step))
				grouped[sProbeHTTPStatus] = append(grouped[sProbeHTTPStatus], slot{labels: byStep, e: e, key: step})
				grouped[sProbeCertExpiry] = append(grouped[sProbeCertExpiry], slot{labels: byStep, e: e, key: step})
			}
		}
	}
	grouped[sCheckRuns], grouped[sProbeStep] = runs, steps
	for k, more := range grouped {
		// Sorting positions rather than the slots themselves moves 4 bytes
		// per swap instead of a whole slot.
		for _, i := range labelOrder(len(more), func(i int) []*dto.LabelPair { return more[i].labels }) {
			add(&more[i], k)
		}
	}
	fams[sCollectorNodes] = []slot{{kind: sCollectorNodes}}

	out := make([]famIndex, 0, numSlotKinds)
	for k := range fams {
		if len(fams[k]) > 0 {
			out = append(out, famIndex{spec: &f.specs[k], slots: fams[k]})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].spec.name < out[j].spec.name })
	return out
}

// index returns the current index, rebuilding it if the state's shape
// changed. c.mu must be held for reading.
func (f *fleetCollector) index() []famIndex {
	f.idxMu.Lock()
	defer f.idxMu.Unlock()
	if !f.idxValid || f.idxShape != f.c.state.shape {
		f.idx, f.idxShape, f.idxValid = f.buildIndex(), f.c.state.shape, true
	}
	return f.idx
}

// value reads a slot's current value; false means the series is absent from
// the last result (a perfdata label or step the last run did not
// report). c.mu must be held for reading.
func (f *fleetCollector) value(s *slot, now time.Time) (float64, bool) {
	c := f.c
	switch s.kind {
	case sNodeUp:
		return b2f(c.state.alive(s.n, now)), true
	case sNodeLastSeen:
		return unix(s.n.lastSeen), true
	case sNodeInfo:
		return 1, true
	case sCollectorNodes:
		return float64(len(c.state.nodes)), true
	}
	r := &s.e.res
	if isPerf(s.kind) {
		return perfValue(s, r)
	}
	switch s.kind {
	case sCheckStatus:
		return float64(r.Status), true
	case sCheckDuration:
		return r.Duration, true
	case sCheckLastRun:
		return unix(r.Time), true
	case sCheckStale:
		return b2f(c.state.stale(s.e, now)), true
	case sCheckRuns:
		// Every state is exported, at 0 until the agent counts one, so
		// rate() and alerts on CRITICAL runs see a flat series, not none.
		return float64(r.Runs[protocol.StateName(s.state)]), true
	case sProbeSuccess:
		return b2f(r.Status == protocol.StateOK), true
	case sProbeDuration:
		return r.Duration, true
	case sProbeLastRun:
		return unix(r.Time), true
	case sProbeStale:
		return b2f(c.state.stale(s.e, now)), true
	case sProbeRuns:
		return float64(r.ProbeRuns), true
	case sProbeFailures:
		return float64(r.ProbeFailures), true
	case sProbeHTTPStatus, sProbeCertExpiry:
		for _, st := range r.Steps {
			if st.Name != s.key {
				continue
			}
			if s.kind == sProbeHTTPStatus {
				return float64(st.StatusCode), st.StatusCode > 0
			}
			return st.CertExpiry, st.CertExpiry > 0
		}
	case sProbeStep:
		for _, st := range r.Steps {
			if st.Name != s.key {
				continue
			}
			if s.phase == "total" {
				return st.Duration, true
			}
			v, ok := st.Phases[s.phase]
			return v, ok
		}
	}
	return 0, false
}

// perfValue reads a perfdata slot from the entry's last result, in base
// units: the value, or a bound of its warning or critical threshold.
func perfValue(s *slot, r *protocol.Result) (float64, bool) {
	level, fam := perfLevel(s.kind)
	for _, p := range r.Perfdata {
		if p.Label != s.key {
			continue
		}
		v, got := protocol.PerfBase(p.Value, p.UOM)
		if got != fam {
			return 0, false
		}
		if level == 0 {
			return v, true
		}
		th := p.Warn
		if level == 2 {
			th = p.Crit
		}
		rg, ok, err := protocol.ParsePerfRange(th)
		if !ok || err != nil || rg.Inside {
			return 0, false
		}
		bound, has := rg.Upper, rg.HasUpper
		if s.phase == "lower" {
			bound, has = rg.Lower, rg.HasLower
		}
		v, _ = protocol.PerfBase(bound, p.UOM)
		return v, has
	}
	return 0, false
}

// snapshot reads every fleet series' value under the state's read lock and
// lets go of it, so that encoding and sending a scrape never holds up
// ingest. present[i] is false for a series absent from its last result.
func (f *fleetCollector) snapshot() (idx []famIndex, values []float64, present []bool) {
	c := f.c
	now := c.opts.Now()
	c.mu.RLock()
	defer c.mu.RUnlock()
	idx = f.index()
	total := 0
	for _, fam := range idx {
		total += len(fam.slots)
	}
	values, present = make([]float64, total), make([]bool, total)
	i := 0
	for _, fam := range idx {
		for j := range fam.slots {
			values[i], present[i] = f.value(&fam.slots[j], now)
			i++
		}
	}
	return idx, values, present
}

func (s fleetSeries) Collect(ch chan<- prometheus.Metric) {
	idx, values, present := s.f.snapshot()
	out := make([]sample, 0, len(values))
	i := 0
	for _, fam := range idx {
		for j := range fam.slots {
			if present[i] {
				out = append(out, sample{desc: fam.spec.desc, labels: fam.slots[j].labels, value: values[i], counter: fam.spec.counter})
			}
			i++
		}
	}
	for i := range out {
		ch <- &out[i]
	}
}
