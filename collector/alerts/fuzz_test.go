package alerts

import "testing"

// FuzzParseAlerts feeds Alertmanager answers: every list accepted has a
// fingerprint and a name per alert; nothing panics.
func FuzzParseAlerts(f *testing.F) {
	for _, s := range []string{
		`[]`, `[{"fingerprint":"ab","labels":{"alertname":"X"},"status":{"state":"active"},"startsAt":"2026-03-01T12:00:00Z"}]`,
		`[{"labels":{}}]`, `{"alerts":[]}`, `<html>`, `[{"fingerprint":"a","labels":{"alertname":"X"},"startsAt":"yesterday"}]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := parseAlerts(b)
		if err != nil {
			return
		}
		for _, a := range got {
			if a.Fingerprint == "" || a.Name == "" {
				t.Fatalf("accepted %+v from %q", a, b)
			}
		}
	})
}
