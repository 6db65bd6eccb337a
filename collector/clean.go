package collector

import (
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/pulseops/pulse/internal/protocol"
)

var runStates = map[string]bool{"OK": true, "WARNING": true, "CRITICAL": true, "UNKNOWN": true}

// clean bounds what a result may make the collector hold: outputs,
// duplicate perfdata labels and steps, unknown run states. What it removes is
// counted in the outcome it returns, which also says whether an output was
// truncated. It reads only the configuration, so it runs without the lock.
func (m *fleetModel) clean(r *protocol.Result) outcome {
	var o outcome
	if len(r.Output) > m.cfg.maxOutputBytes {
		r.Output = truncateUTF8(r.Output, m.cfg.maxOutputBytes)
		o.truncated = true
	}
	if len(r.LongOutput) > m.cfg.maxOutputBytes {
		r.LongOutput = truncateUTF8(r.LongOutput, m.cfg.maxOutputBytes)
		o.truncated = true
	}
	r.Output = strings.ToValidUTF8(r.Output, "\uFFFD")
	r.LongOutput = strings.ToValidUTF8(r.LongOutput, "\uFFFD")
	if r.Status < protocol.StateOK || r.Status > protocol.StateUnknown {
		r.Status = protocol.StateUnknown
	}
	if len(r.Perfdata) > 0 {
		kept := r.Perfdata[:0]
		for _, p := range r.Perfdata {
			p.Label = strings.ToValidUTF8(p.Label, "\uFFFD")
			// A linear scan: results carry a handful of perfdata items, and
			// maxPerfPerCheck bounds what is kept.
			if len(kept) >= maxPerfPerCheck {
				o.drop("perfdata_per_check", 1)
				continue
			}
			if p.Label == "" || slices.ContainsFunc(kept, func(q protocol.Perf) bool { return q.Label == p.Label }) {
				o.drop("duplicate", 1)
				continue
			}
			kept = append(kept, p)
		}
		r.Perfdata = kept
	}
	if len(r.Steps) > 0 {
		seen := make(map[string]bool, len(r.Steps))
		kept := r.Steps[:0]
		for _, s := range r.Steps {
			s.Name = strings.ToValidUTF8(s.Name, "\uFFFD")
			if seen[s.Name] {
				o.drop("duplicate", 1+len(s.Phases))
				continue
			}
			seen[s.Name] = true
			for ph := range s.Phases {
				if !utf8.ValidString(ph) || ph == "" || ph == "total" {
					delete(s.Phases, ph)
					o.drop("duplicate", 1)
				}
			}
			kept = append(kept, s)
		}
		r.Steps = kept
	}
	for k := range r.Runs {
		if !runStates[k] {
			delete(r.Runs, k)
			o.drop("unknown_run_state", 1)
		}
	}
	return o
}

// resultSeries is how many series r would expose, for counting what was
// refused.
func resultSeries(r *protocol.Result) int {
	if r.Kind == "probe" {
		n := probeSeries
		for _, s := range r.Steps {
			n += 1 + len(s.Phases)
		}
		return n
	}
	return 4 + len(r.Runs) + len(r.Perfdata)
}
