package remediation

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
)

// store keeps the engine's records in memory, oldest first, bounded: once
// there are more than max, skipped records go first, oldest first, then the
// oldest finished ones, so a storm of refused alerts never pushes out the
// record of a remediation that ran. Live records are never dropped (the
// engine bounds the deferred ones). The engine's lock guards it.
type store struct {
	max     int
	records map[string]*Record
	order   []string // record IDs, oldest first
	// byAlert is an alert fingerprint's latest admitted record (running,
	// pending, done): what de-duplicates the alert. skips is its latest
	// skipped record, updated rather than repeated when the alert is
	// refused again for the same reason.
	byAlert map[string]string
	skips   map[string]string
	// prefix and seq make record IDs; the random prefix keeps them unique
	// across collector restarts, which the audit log outlives.
	prefix string
	seq    uint64
}

func newStore(max int) *store {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return &store{max: max, records: map[string]*Record{}, byAlert: map[string]string{}, skips: map[string]string{}, prefix: hex.EncodeToString(b[:])}
}

// nextID is the ID of the next record.
func (s *store) nextID() string {
	s.seq++
	return fmt.Sprintf("%s-%06d", s.prefix, s.seq)
}

// add keeps rec, then prunes.
func (s *store) add(rec *Record) {
	s.records[rec.ID] = rec
	s.order = append(s.order, rec.ID)
	if rec.State == StateSkipped {
		s.skips[rec.Alert.Fingerprint] = rec.ID
	}
	s.prune()
}

// admitted makes rec its alert's latest admitted record.
func (s *store) admitted(rec *Record) { s.byAlert[rec.Alert.Fingerprint] = rec.ID }

// get returns the record id, nil when there is none (or no longer one).
func (s *store) get(id string) *Record { return s.records[id] }

// latest returns the newest admitted record of the alert with fingerprint
// fp.
func (s *store) latest(fp string) *Record {
	if id, ok := s.byAlert[fp]; ok {
		return s.records[id]
	}
	return nil
}

// lastSkip returns the alert's latest record if it is a skipped one.
func (s *store) lastSkip(fp string) *Record {
	if r := s.records[s.skips[fp]]; r != nil && r.State == StateSkipped {
		return r
	}
	return nil
}

// list returns copies of all records, oldest first.
func (s *store) list() []Record {
	out := make([]Record, 0, len(s.order))
	for _, id := range s.order {
		out = append(out, cloneRecord(s.records[id]))
	}
	return out
}

// prune drops skipped records, then finished ones, oldest first, beyond
// max.
func (s *store) prune() {
	for len(s.order) > s.max {
		i := slices.IndexFunc(s.order, func(id string) bool { return s.records[id].State == StateSkipped })
		if i < 0 {
			i = slices.IndexFunc(s.order, func(id string) bool { return !s.records[id].State.Live() })
		}
		if i < 0 {
			return
		}
		id := s.order[i]
		fp := s.records[id].Alert.Fingerprint
		if s.byAlert[fp] == id {
			delete(s.byAlert, fp)
		}
		if s.skips[fp] == id {
			delete(s.skips, fp)
		}
		delete(s.records, id)
		if i == 0 {
			// The usual case: the oldest record goes. Reslicing avoids
			// shifting every other ID on each new record; append
			// reallocates the backing array once it runs out.
			s.order = s.order[1:]
		} else {
			s.order = slices.Delete(s.order, i, i+1)
		}
	}
}
