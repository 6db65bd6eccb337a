package remediation

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
)

// AlertsHandler is Alertmanager's webhook receiver: POST a version 4
// payload, get the decisions back as JSON. Remediations continue after the
// response.
func (e *Engine) AlertsHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			writeError(w, http.StatusMethodNotAllowed, "use POST with an Alertmanager webhook payload")
			return
		}
		if !e.running() {
			// Alertmanager sends the webhook again after a 5xx.
			writeError(w, http.StatusServiceUnavailable, "the remediation engine is not running (the collector is starting or stopping): send the alerts again")
			return
		}
		hook, err := ParseWebhook(r.Body, e.maxBody)
		if errors.Is(err, ErrTooLarge) {
			writeError(w, http.StatusRequestEntityTooLarge, err.Error())
			return
		}
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"decisions": e.Handle(r.Context(), hook)})
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
		writeJSON(w, http.StatusOK, map[string]any{"remediations": e.List()})
	})
	mux.HandleFunc("GET /api/v1/remediations/{id}", func(w http.ResponseWriter, r *http.Request) {
		rec, ok := e.Get(r.PathValue("id"))
		if !ok {
			writeError(w, http.StatusNotFound, "remediation "+r.PathValue("id")+" not found; list them at /api/v1/remediations")
			return
		}
		writeJSON(w, http.StatusOK, rec)
	})
	decide := func(do func(id, by string) error) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			var body struct {
				By string `json:"by"`
			}
			if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&body); err != nil && !errors.Is(err, io.EOF) {
				writeError(w, http.StatusBadRequest, `body must be empty or JSON such as {"by": "alice"}: `+err.Error())
				return
			}
			if body.By == "" {
				body.By = "api"
			}
			id := r.PathValue("id")
			err := do(id, body.By)
			switch {
			case errors.Is(err, ErrNotFound):
				writeError(w, http.StatusNotFound, err.Error())
			case err != nil: // ErrNotPending, or an open circuit breaker
				writeError(w, http.StatusConflict, err.Error())
			default:
				rec, _ := e.Get(id)
				writeJSON(w, http.StatusOK, rec)
			}
		}
	}
	mux.HandleFunc("POST /api/v1/remediations/{id}/approve", decide(e.Approve))
	mux.HandleFunc("POST /api/v1/remediations/{id}/reject", decide(e.Reject))
	mux.HandleFunc("POST /api/v1/remediations/circuits/{rule}/reset", func(w http.ResponseWriter, r *http.Request) {
		rule := r.PathValue("rule")
		if e.rules.Rule(rule) == nil {
			writeError(w, http.StatusNotFound, "no remediation rule "+rule)
			return
		}
		e.ResetCircuit(rule)
		writeJSON(w, http.StatusOK, map[string]any{"rule": rule, "circuit_open": false})
	})
	return mux
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}
