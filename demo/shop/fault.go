package shop

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// faultState is the JSON shape of /admin/fault, both ways.
type faultState struct {
	FailureRate float64 `json:"failure_rate"`
	Latency     string  `json:"latency"`
}

// faultUpdate is a parsed POST to /admin/fault; nil fields stay unchanged.
type faultUpdate struct {
	FailureRate *float64
	Latency     *time.Duration
}

func (s *Shop) getFault(w http.ResponseWriter, _ *http.Request) {
	rate, lat := s.Fault()
	writeJSON(w, http.StatusOK, faultState{FailureRate: rate, Latency: lat.String()})
}

func (s *Shop) postFault(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err != nil {
		http.Error(w, "read request body: "+err.Error(), http.StatusBadRequest)
		return
	}
	upd, err := parseFault(r.Header.Get("Content-Type"), body)
	if err == nil {
		rate, lat := s.Fault()
		if upd.FailureRate != nil {
			rate = *upd.FailureRate
		}
		if upd.Latency != nil {
			lat = *upd.Latency
		}
		err = s.SetFault(rate, lat)
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.getFault(w, r)
}

// parseFault reads a fault update sent as JSON ({"failure_rate":0.5,
// "latency":"200ms"}) or as a form (failure_rate=0.5&latency=200ms),
// chosen by the content type; a body that starts with "{" is JSON whatever
// the header says, since curl users often forget it. Missing fields stay
// unchanged. Range checks are SetFault's.
func parseFault(contentType string, body []byte) (faultUpdate, error) {
	var upd faultUpdate
	mt, _, _ := mime.ParseMediaType(contentType)
	trimmed := bytes.TrimSpace(body)
	if mt == "application/json" || (len(trimmed) > 0 && trimmed[0] == '{') {
		var in struct {
			FailureRate *float64 `json:"failure_rate"`
			Latency     *string  `json:"latency"`
		}
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&in); err != nil {
			return upd, fmt.Errorf("fault update is not valid JSON such as {\"failure_rate\":0.5,\"latency\":\"200ms\"}: %w", err)
		}
		upd.FailureRate = in.FailureRate
		if in.Latency != nil {
			d, err := parseLatency(*in.Latency)
			if err != nil {
				return upd, err
			}
			upd.Latency = &d
		}
		return upd, checkEmpty(upd)
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return upd, fmt.Errorf("fault update is not a valid form such as failure_rate=0.5&latency=200ms: %w", err)
	}
	for k := range form {
		if k != "failure_rate" && k != "latency" {
			return upd, fmt.Errorf("unknown field %q in fault update: use failure_rate and latency", k)
		}
	}
	if form.Has("failure_rate") {
		f, err := strconv.ParseFloat(form.Get("failure_rate"), 64)
		if err != nil {
			return upd, fmt.Errorf("failure_rate must be a number between 0 and 1, got %q", form.Get("failure_rate"))
		}
		upd.FailureRate = &f
	}
	if form.Has("latency") {
		d, err := parseLatency(form.Get("latency"))
		if err != nil {
			return upd, err
		}
		upd.Latency = &d
	}
	return upd, checkEmpty(upd)
}

func checkEmpty(upd faultUpdate) error {
	if upd.FailureRate == nil && upd.Latency == nil {
		return errors.New("empty fault update: send failure_rate and/or latency")
	}
	return nil
}

func parseLatency(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("latency must be a duration such as \"200ms\", got %q", s)
	}
	return d, nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
