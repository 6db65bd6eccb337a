package probes

import (
	"context"
	"errors"
	"net/http/cookiejar"
	"net/url"
	"time"
)

// URLTestOptions describe one ad-hoc fetch of a URL, mco's urltest.
type URLTestOptions struct {
	URL string
	// Timeout bounds the whole fetch, redirects and body included
	// (DefaultTimeout when zero).
	Timeout time.Duration
	// AllowHost, when set, vets the URL and every redirect before it is
	// fetched; its error is the test's.
	AllowHost func(*url.URL) error
}

// URLTestResult are the timings of one fetch, in seconds from its start as
// curl's -w time_* report them: each phase ends at the sum of the phases
// before it, over every redirect. TLS is zero for plain http.
type URLTestResult struct {
	Status        int     `json:"http_status,omitempty"`
	Bytes         int64   `json:"bytes"`
	Lookup        float64 `json:"lookup"`
	Connect       float64 `json:"connect"`
	TLS           float64 `json:"tls"`
	PreTransfer   float64 `json:"pretransfer"`
	StartTransfer float64 `json:"starttransfer"`
	Total         float64 `json:"total"`
	// Error says why the fetch failed; the timings then cover what ran.
	Error string `json:"error,omitempty"`
}

// URLTest GETs o.URL once with the probe runner's transport, redirect and
// TLS rules (no proxy, system roots, at most MaxRedirects redirects), reads
// the body to its end without keeping it, and reports the phase timings and
// the final status, whatever it is.
func URLTest(ctx context.Context, o URLTestOptions) URLTestResult {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	st := step{
		name: "urltest", method: "GET", url: o.URL, followRedirects: true, timeout: o.Timeout,
		adhoc: true, allowHost: o.AllowHost, timeoutName: "the urltest timeout",
	}
	tr := newTransport(nil)
	defer tr.CloseIdleConnections()
	jar, _ := cookiejar.New(nil)
	var got fetched
	sr, err := runStep(ctx, st, jar, tr, nil, &got)
	p := sr.Phases
	res := URLTestResult{Status: got.status, Bytes: got.bytes, Total: sr.Duration}
	res.Lookup = p["dns"]
	res.Connect = res.Lookup + p["connect"]
	if p["tls"] > 0 {
		res.TLS = res.Connect + p["tls"]
	}
	res.PreTransfer = res.Connect + p["tls"]
	res.StartTransfer = res.PreTransfer + p["ttfb"]
	if err != nil {
		// The caller names the URL; Go's `Get "url": ` would repeat it.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		res.Error = err.Error()
	}
	return res
}
