package remediation

import (
	"maps"
	"slices"
	"time"
)

// alertBook remembers the alerts Alertmanager's webhook says are firing,
// until it says they resolved: what `pulse alerts` lists when the collector
// is not told where Alertmanager is. It is bounded; beyond max, the alert
// sent least recently goes. The engine's lock guards it.
type alertBook struct {
	max    int
	alerts map[string]ReceivedAlert // fingerprint → alert
}

// ReceivedAlert is a firing alert as the webhook last sent it.
type ReceivedAlert struct {
	Alert
	Received time.Time
}

func newAlertBook(max int) *alertBook {
	return &alertBook{max: max, alerts: map[string]ReceivedAlert{}}
}

func (b *alertBook) note(a Alert, now time.Time) {
	if a.Status != StatusFiring {
		delete(b.alerts, a.Fingerprint)
		return
	}
	a.Labels, a.Annotations = maps.Clone(a.Labels), maps.Clone(a.Annotations)
	b.alerts[a.Fingerprint] = ReceivedAlert{Alert: a, Received: now}
	if len(b.alerts) > b.max {
		var oldest string
		for fp, r := range b.alerts {
			if oldest == "" || r.Received.Before(b.alerts[oldest].Received) {
				oldest = fp
			}
		}
		delete(b.alerts, oldest)
	}
}

// Firing returns the alerts the webhook said are firing and has not said
// resolved, oldest first.
func (e *Engine) Firing() []ReceivedAlert {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := slices.Collect(maps.Values(e.book.alerts))
	slices.SortFunc(out, func(a, b ReceivedAlert) int {
		if c := a.StartsAt.Compare(b.StartsAt); c != 0 {
			return c
		}
		return cmpString(a.Fingerprint, b.Fingerprint)
	})
	return out
}

// ForAlert returns the newest record the engine keeps for the alert with
// fingerprint fp: the decision it is waiting on, the remediation it ran,
// or why it was skipped.
func (e *Engine) ForAlert(fp string) (Record, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	var best *Record
	for _, r := range []*Record{e.parkedFor(fp), e.store.latest(fp), e.store.lastSkip(fp)} {
		if r != nil && (best == nil || r.Decided.After(best.Decided) || r.Decided.Equal(best.Decided) && r.ID > best.ID) {
			best = r
		}
	}
	if best == nil {
		return Record{}, false
	}
	return cloneRecord(best), true
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
