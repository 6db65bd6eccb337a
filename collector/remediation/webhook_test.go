package remediation

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"
)

func TestParseWebhookRealPayloads(t *testing.T) {
	for _, tc := range []struct {
		file   string
		status string
	}{
		{"testdata/webhook-firing.json", StatusFiring},
		{"testdata/webhook-resolved.json", StatusResolved},
	} {
		t.Run(tc.file, func(t *testing.T) {
			b, err := os.ReadFile(tc.file)
			if err != nil {
				t.Fatal(err)
			}
			w, err := ParseWebhook(bytes.NewReader(b), 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			if w.Version != "4" || w.Receiver != "pulse" || w.Status != tc.status || w.ExternalURL != "http://alertmanager.example:9093" {
				t.Errorf("header: %+v", w)
			}
			if w.GroupKey == "" || w.GroupLabels["identity"] != "ip-10-0-1-12" || w.CommonLabels["service"] != "nginx" || w.CommonAnnotations["summary"] == "" {
				t.Errorf("group fields: %+v", w)
			}
			if len(w.Alerts) != 1 {
				t.Fatalf("want 1 alert, got %d", len(w.Alerts))
			}
			a := w.Alerts[0]
			if a.Status != tc.status || a.Name() != "PulseCheckCritical" || a.Labels["check"] != "check_nginx" || a.Fingerprint != "c6cbac437b1429b8" {
				t.Errorf("alert: %+v", a)
			}
			if a.StartsAt.IsZero() || !strings.HasPrefix(a.GeneratorURL, "http://prometheus.example") {
				t.Errorf("alert times/url: %+v", a)
			}
			// Alertmanager writes endsAt as the zero time while firing.
			if resolved := a.EndsAt.After(a.StartsAt); resolved != (tc.status == StatusResolved) {
				t.Errorf("endsAt %s vs startsAt %s for %s alert", a.EndsAt, a.StartsAt, tc.status)
			}
		})
	}
}

func TestParseWebhookErrors(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		max        int64
		want       string
	}{
		{"empty", "", 100, "webhook body is empty: expected an Alertmanager webhook JSON payload (version 4)"},
		{"oversized", `{"version":"4","alerts":[]}`, 10, "webhook body too large: more than 10 bytes; lower max_alerts in the Alertmanager webhook_config or raise the collector's limit"},
		{"malformed", `{"version":"4",`, 100, "webhook body is not valid JSON: unexpected end of JSON input"},
		{"wrong type", `{"version":4}`, 100, "webhook body is not valid JSON: json: cannot unmarshal number into Go struct field Webhook.version of type string"},
		{"trailing garbage", `{"version":"4"} x`, 100, "webhook body is not valid JSON: invalid character 'x' after top-level value"},
		{"missing version", `{"alerts":[]}`, 100, `webhook has no "version": expected an Alertmanager webhook payload version "4"`},
		{"unknown version", `{"version":"5"}`, 100, `webhook version "5" is not supported: only Alertmanager webhook version "4" is`},
		{"alert without labels", `{"version":"4","alerts":[{"status":"firing","labels":{"alertname":"A"}},{"status":"firing"}]}`, 1000, "webhook alert 1 has no labels: every Alertmanager alert carries at least alertname"},
		{"alert with bad status", `{"version":"4","alerts":[{"status":"burning","labels":{"alertname":"A"}}]}`, 1000, `webhook alert 0 (A) has status "burning": want "firing" or "resolved"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseWebhook(strings.NewReader(tc.body), tc.max)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("got error %v\nwant        %s", err, tc.want)
			}
			if tooLarge := errors.Is(err, ErrTooLarge); tooLarge != (tc.name == "oversized") {
				t.Errorf("errors.Is(err, ErrTooLarge) = %v", tooLarge)
			}
		})
	}
}

func TestParseWebhookExactLimitAccepted(t *testing.T) {
	body := `{"version":"4","alerts":[]}`
	if _, err := ParseWebhook(strings.NewReader(body), int64(len(body))); err != nil {
		t.Fatalf("a body of exactly the limit must parse: %v", err)
	}
}

func TestParseWebhookDerivesFingerprint(t *testing.T) {
	body := `{"version":"4","alerts":[{"status":"firing","labels":{"alertname":"A","identity":"n1"}},{"status":"firing","labels":{"identity":"n1","alertname":"A"}},{"status":"firing","labels":{"alertname":"A","identity":"n2"}}]}`
	w, err := ParseWebhook(strings.NewReader(body), 1000)
	if err != nil {
		t.Fatal(err)
	}
	a, b, c := w.Alerts[0].Fingerprint, w.Alerts[1].Fingerprint, w.Alerts[2].Fingerprint
	if a == "" || a != b || a == c {
		t.Errorf("fingerprints must be stable per label set and differ between sets: %q %q %q", a, b, c)
	}
}

func FuzzParseWebhook(f *testing.F) {
	for _, p := range []string{"testdata/webhook-firing.json", "testdata/webhook-resolved.json"} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"version":"4","alerts":[{"status":"firing","labels":{}}]}`))
	f.Add([]byte(`{"version":"4","alerts":[{"status":"firing","labels":{"a":"b"},"startsAt":"bad"}]}`))
	f.Add([]byte(``))
	f.Fuzz(func(t *testing.T, b []byte) {
		w, err := ParseWebhook(bytes.NewReader(b), 1<<16)
		if err != nil {
			if w != nil {
				t.Fatal("webhook returned with an error")
			}
			return
		}
		if w.Version != WebhookVersion {
			t.Fatalf("accepted version %q", w.Version)
		}
		for i, a := range w.Alerts {
			if len(a.Labels) == 0 || a.Fingerprint == "" || (a.Status != StatusFiring && a.Status != StatusResolved) {
				t.Fatalf("alert %d accepted without labels, fingerprint or status: %+v", i, a)
			}
		}
		// A parsed webhook must go through the engine without panicking.
		e := newFuzzEngine(t)
		e.Handle(t.Context(), w)
		e.Wait()
	})
}
