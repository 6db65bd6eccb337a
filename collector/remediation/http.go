package remediation

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/pulseops/pulse/collector/api"
)

// AlertsHandler is Alertmanager's webhook receiver: POST a version 4
// payload, get the decisions back as JSON. Remediations continue after the
// response.
func (e *Engine) AlertsHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			api.WriteError(w, http.StatusMethodNotAllowed, "use POST with an Alertmanager webhook payload")
			return
		}
		if !e.running() {
			// Alertmanager sends the webhook again after a 5xx.
			api.WriteError(w, http.StatusServiceUnavailable, "the remediation engine is not running (the collector is starting or stopping): send the alerts again")
			return
		}
		hook, err := ParseWebhook(r.Body, e.maxBody)
		if errors.Is(err, ErrTooLarge) {
			api.WriteError(w, http.StatusRequestEntityTooLarge, err.Error())
			return
		}
		if err != nil {
			api.WriteError(w, http.StatusBadRequest, err.Error())
			return
		}
		api.WriteJSON(w, http.StatusOK, map[string]any{"decisions": e.Handle(r.Context(), hook)})
	})
}

// RemediationsHandler serves the remediation records and their approval:
//
//	GET  /api/v1/remediations
//	GET  /api/v1/remediations/{id}
//	POST /api/v1/remediations/{id}/approve   body (optional): {"by": "alice"}
//	POST /api/v1/remediations/{id}/reject    body (optional): {"by": "alice"}
//	POST /api/v1/remediations/circuits/{rule}/reset
//
// Authentication is the caller's job: the collector wraps this handler.
func (e *Engine) RemediationsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/remediations", func(w http.ResponseWriter, r *http.Request) {
		api.WriteJSON(w, http.StatusOK, map[string]any{"remediations": e.List()})
	})
	mux.HandleFunc("GET /api/v1/remediations/{id}", func(w http.ResponseWriter, r *http.Request) {
		rec, ok := e.Get(r.PathValue("id"))
		if !ok {
			api.WriteError(w, http.StatusNotFound, "remediation "+r.PathValue("id")+" not found; list them at /api/v1/remediations")
			return
		}
		api.WriteJSON(w, http.StatusOK, rec)
	})
	decide := func(do func(id, by string) error) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			var body struct {
				By string `json:"by"`
			}
			if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&body); err != nil && !errors.Is(err, io.EOF) {
				api.WriteError(w, http.StatusBadRequest, `body must be empty or JSON such as {"by": "alice"}: `+err.Error())
				return
			}
			if body.By == "" {
				body.By = "api"
			}
			id := r.PathValue("id")
			err := do(id, body.By)
			switch {
			case errors.Is(err, ErrNotFound):
				api.WriteError(w, http.StatusNotFound, err.Error())
			case err != nil: // ErrNotPending, or an open circuit breaker
				api.WriteError(w, http.StatusConflict, err.Error())
			default:
				rec, _ := e.Get(id)
				api.WriteJSON(w, http.StatusOK, rec)
			}
		}
	}
	mux.HandleFunc("POST /api/v1/remediations/{id}/approve", decide(e.Approve))
	mux.HandleFunc("POST /api/v1/remediations/{id}/reject", decide(e.Reject))
	mux.HandleFunc("POST /api/v1/remediations/circuits/{rule}/reset", func(w http.ResponseWriter, r *http.Request) {
		rule := r.PathValue("rule")
		if e.rules.Rule(rule) == nil {
			api.WriteError(w, http.StatusNotFound, "no remediation rule "+rule)
			return
		}
		e.ResetCircuit(rule)
		api.WriteJSON(w, http.StatusOK, map[string]any{"rule": rule, "circuit_open": false})
	})
	return mux
}
