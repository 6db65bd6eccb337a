package remediation

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"time"
)

// WebhookVersion is the only Alertmanager webhook payload version this
// package understands. Alertmanager has sent "4" since 0.10; a different
// value means a payload shape we have never seen, so it is refused rather
// than half-understood.
const WebhookVersion = "4"

// Alert states as Alertmanager writes them.
const (
	StatusFiring   = "firing"
	StatusResolved = "resolved"
)

// ErrTooLarge is wrapped by ParseWebhook when the body exceeds its limit, so
// the HTTP handler can answer 413 instead of 400.
var ErrTooLarge = errors.New("webhook body too large")

// Webhook is Alertmanager's webhook payload, version 4.
type Webhook struct {
	Version           string            `json:"version"`
	GroupKey          string            `json:"groupKey"`
	TruncatedAlerts   int               `json:"truncatedAlerts"`
	Status            string            `json:"status"`
	Receiver          string            `json:"receiver"`
	GroupLabels       map[string]string `json:"groupLabels"`
	CommonLabels      map[string]string `json:"commonLabels"`
	CommonAnnotations map[string]string `json:"commonAnnotations"`
	ExternalURL       string            `json:"externalURL"`
	Alerts            []Alert           `json:"alerts"`
}

// Alert is one alert inside a webhook.
type Alert struct {
	Status       string            `json:"status"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
	Fingerprint  string            `json:"fingerprint"`
}

// Name is the alert's alertname label.
func (a Alert) Name() string { return a.Labels["alertname"] }

// ParseWebhook reads one Alertmanager webhook payload of at most maxBytes
// from r and checks the parts the engine relies on: the version, and that
// every alert has labels and a known status. Alerts without a fingerprint
// (hand-made payloads) get one derived from their labels so that
// de-duplication still works.
func ParseWebhook(r io.Reader, maxBytes int64) (*Webhook, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read webhook body: %w", err)
	}
	if int64(len(b)) > maxBytes {
		return nil, fmt.Errorf("%w: more than %d bytes; lower max_alerts in the Alertmanager webhook_config or raise the collector's limit", ErrTooLarge, maxBytes)
	}
	if len(b) == 0 {
		return nil, errors.New("webhook body is empty: expected an Alertmanager webhook JSON payload (version 4)")
	}
	var w Webhook
	if err := json.Unmarshal(b, &w); err != nil {
		return nil, fmt.Errorf("webhook body is not valid JSON: %w", err)
	}
	switch w.Version {
	case WebhookVersion:
	case "":
		return nil, errors.New(`webhook has no "version": expected an Alertmanager webhook payload version "4"`)
	default:
		return nil, fmt.Errorf("webhook version %q is not supported: only Alertmanager webhook version %q is", w.Version, WebhookVersion)
	}
	for i := range w.Alerts {
		a := &w.Alerts[i]
		if len(a.Labels) == 0 {
			return nil, fmt.Errorf("webhook alert %d has no labels: every Alertmanager alert carries at least alertname", i)
		}
		if a.Status != StatusFiring && a.Status != StatusResolved {
			return nil, fmt.Errorf("webhook alert %d (%s) has status %q: want %q or %q", i, a.Name(), a.Status, StatusFiring, StatusResolved)
		}
		if a.Fingerprint == "" {
			a.Fingerprint = labelsFingerprint(a.Labels)
		}
	}
	return &w, nil
}

// labelsFingerprint hashes sorted label pairs. It is not Alertmanager's
// fingerprint algorithm; it only needs to be stable for one label set.
func labelsFingerprint(labels map[string]string) string {
	h := sha256.New()
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		h.Write([]byte(k))
		h.Write([]byte{0})
		h.Write([]byte(labels[k]))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}
