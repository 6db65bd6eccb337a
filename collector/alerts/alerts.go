// Package alerts answers GET /api/v1/alerts: what is firing, from
// Alertmanager's API v2 when the collector knows where Alertmanager is,
// else from what its webhook received, each alert with the nodes it is
// about and the remediation it triggered. `pulse alerts` and the web
// view's alerts panel read it.
//
// It only reads: it never silences, acknowledges or changes an alert.
package alerts

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/pulseops/pulse/collector/api"
	"github.com/pulseops/pulse/collector/remediation"
)

// Engine is what the alerts view needs of the remediation engine: the
// alerts its webhook received, and the record each one left.
type Engine interface {
	Firing() []remediation.ReceivedAlert
	ForAlert(fingerprint string) (remediation.Record, bool)
}

// Options configure the view.
type Options struct {
	// Alertmanager is the base URL of Alertmanager's API
	// (http://127.0.0.1:9093); empty lists what the webhook received.
	Alertmanager string
	// Engine is the remediation engine; nil when the collector has no
	// remediation rules (and so no webhook).
	Engine Engine
	// HTTP asks Alertmanager (a client with a 5s timeout by default).
	HTTP *http.Client
}

// maxAnswer bounds what is read of Alertmanager's answer.
const maxAnswer = 32 << 20

// View builds the list of firing alerts.
func View(ctx context.Context, o Options) api.AlertsView {
	v := api.AlertsView{Source: "webhook", Alerts: []api.AlertView{}}
	var alerts []api.AlertView
	if o.Alertmanager != "" {
		got, err := fromAlertmanager(ctx, o)
		if err == nil {
			v.Source, alerts = "alertmanager "+o.Alertmanager, got
		} else {
			v.Error = err.Error()
			if o.Engine != nil {
				v.Error += "; showing what its webhook sent the collector"
			}
		}
	}
	if v.Source == "webhook" && o.Engine != nil {
		for _, a := range o.Engine.Firing() {
			alerts = append(alerts, api.AlertView{
				Fingerprint: a.Fingerprint, Name: a.Name(), State: "active",
				Labels: a.Labels, Annotations: a.Annotations, StartsAt: a.StartsAt,
			})
		}
	}
	for i := range alerts {
		a := &alerts[i]
		a.Severity, a.Summary = a.Labels["severity"], a.Annotations["summary"]
		if id := a.Labels["identity"]; id != "" {
			a.Nodes = []string{id}
		}
		if o.Engine == nil {
			continue
		}
		if r, ok := o.Engine.ForAlert(a.Fingerprint); ok {
			a.Remediation = &api.AlertRemediation{ID: r.ID, Rule: r.Rule, State: r.State, Reason: r.Reason, Detail: r.Detail, Targets: r.Targets}
			if len(a.Nodes) == 0 {
				a.Nodes = slices.Clone(r.Targets)
			}
		}
	}
	// The worst first, then the oldest.
	slices.SortStableFunc(alerts, func(a, b api.AlertView) int {
		return cmp.Or(cmp.Compare(rank(a.Severity), rank(b.Severity)), a.StartsAt.Compare(b.StartsAt), cmp.Compare(a.Name, b.Name), cmp.Compare(a.Fingerprint, b.Fingerprint))
	})
	if alerts != nil {
		v.Alerts = alerts
	}
	return v
}

// rank orders severities, the most urgent first; others sort last.
func rank(severity string) int {
	if i := slices.Index([]string{"page", "critical", "ticket", "warning", "info"}, severity); i >= 0 {
		return i
	}
	return 99
}

// amAlert is an alert as Alertmanager's API v2 (GET /api/v2/alerts)
// answers it: the fields pulse shows.
type amAlert struct {
	Fingerprint string            `json:"fingerprint"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	StartsAt    time.Time         `json:"startsAt"`
	Status      struct {
		State string `json:"state"`
	} `json:"status"`
}

// fromAlertmanager asks Alertmanager for its active alerts, silenced and
// inhibited ones included (they show as suppressed).
func fromAlertmanager(ctx context.Context, o Options) ([]api.AlertView, error) {
	u, err := url.Parse(strings.TrimRight(o.Alertmanager, "/") + "/api/v2/alerts")
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("alertmanager URL %q is not an http:// or https:// URL", o.Alertmanager)
	}
	u.RawQuery = url.Values{"active": {"true"}, "silenced": {"true"}, "inhibited": {"true"}, "unprocessed": {"false"}}.Encode()
	hc := o.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 5 * time.Second}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot ask Alertmanager at %s: %w", o.Alertmanager, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if err != nil {
		return nil, fmt.Errorf("read Alertmanager's answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("alertmanager at %s answered %s: %s", o.Alertmanager, resp.Status, strings.TrimSpace(string(b[:min(len(b), 200)])))
	}
	if len(b) > maxAnswer {
		return nil, fmt.Errorf("alertmanager at %s answered more than %d MiB of alerts", o.Alertmanager, maxAnswer>>20)
	}
	out, err := parseAlerts(b)
	if err != nil {
		return nil, fmt.Errorf("alertmanager at %s answered %w", o.Alertmanager, err)
	}
	return out, nil
}

// parseAlerts reads Alertmanager's API v2 alert list.
func parseAlerts(b []byte) ([]api.AlertView, error) {
	var got []amAlert
	if err := json.Unmarshal(b, &got); err != nil {
		return nil, fmt.Errorf("what is not its API v2 alert list: %w", err)
	}
	out := make([]api.AlertView, 0, len(got))
	for _, a := range got {
		if a.Fingerprint == "" || a.Labels["alertname"] == "" {
			return nil, errors.New("an alert without a fingerprint or alertname: is this Alertmanager's API v2?")
		}
		out = append(out, api.AlertView{
			Fingerprint: a.Fingerprint, Name: a.Labels["alertname"], State: a.Status.State,
			Labels: maps.Clone(a.Labels), Annotations: maps.Clone(a.Annotations), StartsAt: a.StartsAt,
		})
	}
	return out, nil
}

// Handler serves GET /api/v1/alerts.
func Handler(o Options) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		api.WriteJSON(w, http.StatusOK, View(r.Context(), o))
	})
}
