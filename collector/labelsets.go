package collector

import (
	"sort"
	"strings"

	dto "github.com/prometheus/client_model/go"

	"github.com/pulseops/pulse/internal/protocol"
)

// relabel recomputes n's fact labels through the cardinality guard and
// rebuilds the label sets of n and its entries when they change; a value the
// guard refuses is reported in o.
func (m *fleetModel) relabel(n *node, o *outcome) {
	changed := false
	for i, r := range m.cfg.rules {
		raw := ""
		if v, ok := lookupFact(n.reg.Facts, r.fact); ok {
			raw = factLabelValue(v)
		}
		old := n.values[i]
		if raw == n.raw[i] && old != overflowValue {
			continue
		}
		m.guard.release(i, old)
		v := m.guard.acquire(i, raw)
		if v == overflowValue && (old != overflowValue || raw != n.raw[i]) {
			o.overflowed = append(o.overflowed, overflow{label: r.label, fact: r.fact, value: raw, identity: n.id})
		}
		n.raw[i], n.values[i] = raw, v
		if v != old {
			changed = true
		}
	}
	if changed {
		m.buildNodeLabels(n)
		for _, e := range n.entries {
			m.buildEntryLabels(n, e)
		}
	}
}

func labelPair(name, value string) *dto.LabelPair {
	return &dto.LabelPair{Name: &name, Value: &value}
}

// maxInterned bounds the table of shared label pairs; past it pairs are
// simply not shared.
const maxInterned = 200000

// pair returns a shared label pair for name=value. Every series of a fleet
// repeats the same zone, role, check and status pairs; sharing them keeps a
// scrape's walk over labels in cache, which is most of its cost.
func (m *fleetModel) pair(name, value string) *dto.LabelPair {
	k := name + "\x00" + value
	if p, ok := m.interned[k]; ok {
		return p
	}
	p := labelPair(name, value)
	if len(m.interned) < maxInterned {
		m.interned[k] = p
	}
	return p
}

// withLabels returns base plus extra, sorted by name as the exposition needs.
// It never changes base, which scrapes may be reading.
func withLabels(base []*dto.LabelPair, extra ...*dto.LabelPair) []*dto.LabelPair {
	out := make([]*dto.LabelPair, 0, len(base)+len(extra))
	out = append(out, base...)
	out = append(out, extra...)
	sort.Slice(out, func(i, j int) bool { return out[i].GetName() < out[j].GetName() })
	return out
}

func (m *fleetModel) buildNodeLabels(n *node) {
	extra := make([]*dto.LabelPair, 0, len(m.cfg.rules)+1)
	extra = append(extra, labelPair("identity", n.id))
	for i, r := range m.cfg.rules {
		extra = append(extra, m.pair(r.label, n.values[i]))
	}
	n.labels = withLabels(nil, extra...)
	m.shape++
}

// buildEntryLabels (re)builds every label set of e from its node's.
func (m *fleetModel) buildEntryLabels(n *node, e *entry) {
	m.shape++
	if e.kind == "probe" {
		e.base = withLabels(n.labels, m.pair("probe", e.name))
		for k := range e.steps {
			step, phase, _ := strings.Cut(k, "\x00")
			e.steps[k] = withLabels(e.base, m.pair("step", step), m.pair("phase", phase))
		}
		return
	}
	e.base = withLabels(n.labels, m.pair("check", e.name))
	for s := range e.runs {
		e.runs[s] = withLabels(e.base, m.pair("status", protocol.StateName(s)))
	}
	for k := range e.perf {
		e.perf[k] = withLabels(e.base, m.pair("label", k))
	}
}
