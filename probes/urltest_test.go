package probes

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// neverAnswers accepts connections and reads, but never writes a byte.
func neverAnswers(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 4096)
				for {
					if _, err := c.Read(buf); err != nil {
						return
					}
				}
			}()
		}
	}()
	return "http://" + ln.Addr().String() + "/"
}

func TestURLTest(t *testing.T) {
	body := strings.Repeat("x", 12345)
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("User-Agent") != userAgent {
			http.Error(w, "wrong user agent", 400)
			return
		}
		w.Write([]byte(body))
	})
	mux.HandleFunc("/gone", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "gone", http.StatusGone) })
	mux.HandleFunc("/loop", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/loop", http.StatusFound) })
	mux.HandleFunc("/to-ok", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/ok", http.StatusFound) })
	srv := httptest.NewServer(mux)
	defer srv.Close()
	tlsSrv := httptest.NewTLSServer(mux)
	defer tlsSrv.Close()
	// The same server under another name, for the allow-list.
	other := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)
	mux.HandleFunc("/elsewhere", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, other+"/ok", http.StatusFound) })
	only127 := func(u *url.URL) error {
		if u.Hostname() != "127.0.0.1" {
			return errors.New("host " + u.Hostname() + " is not allowed")
		}
		return nil
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, tc := range []struct {
		name, url string
		allow     func(*url.URL) error
		status    int
		bytes     int64
		err       string
	}{
		{name: "ok", url: srv.URL + "/ok", status: 200, bytes: 12345},
		{name: "redirect followed", url: srv.URL + "/to-ok", status: 200, bytes: 12345},
		{name: "any status is an answer", url: srv.URL + "/gone", status: 410, bytes: 5},
		{name: "redirect loop", url: srv.URL + "/loop", err: "redirect loop: stopped after 10 redirects, the last to " + srv.URL + "/loop"},
		{name: "certificate checked", url: tlsSrv.URL + "/ok", err: "tls: failed to verify certificate: x509: certificate signed by unknown authority"},
		{name: "refused host", url: other + "/ok", allow: only127, err: "host localhost is not allowed"},
		{name: "refused redirect", url: srv.URL + "/elsewhere", allow: only127, err: "refused: redirected to " + other + "/ok: host localhost is not allowed"},
		{name: "no answer", url: neverAnswers(t), err: "GET " + "URL" + ": no response within the urltest timeout of 300ms"},
	} {
		timeout := 5 * time.Second
		if tc.name == "no answer" {
			timeout = 300 * time.Millisecond
			tc.err = strings.Replace(tc.err, "URL", tc.url, 1)
		}
		r := URLTest(ctx, URLTestOptions{URL: tc.url, Timeout: timeout, AllowHost: tc.allow})
		if r.Error != tc.err || r.Status != tc.status || tc.bytes != 0 && r.Bytes != tc.bytes {
			t.Errorf("%s: got status %d, %d bytes, error %q; want %d, %d, %q", tc.name, r.Status, r.Bytes, r.Error, tc.status, tc.bytes, tc.err)
		}
		if tc.err == "" {
			// Each phase ends no earlier than the one before, as curl's
			// time_* do.
			if !(r.Lookup <= r.Connect && r.Connect <= r.PreTransfer && r.PreTransfer <= r.StartTransfer && r.StartTransfer <= r.Total && r.Total > 0 && r.TLS == 0) {
				t.Errorf("%s: phases out of order: %+v", tc.name, r)
			}
		}
	}
}

// Over https the TLS handshake has its own time.
func TestURLTestTLSPhase(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("hi")) }))
	defer srv.Close()
	// The probe runner checks certificates against the system's roots;
	// the test server's own CA is added the way an operator would.
	step := step{name: "urltest", method: "GET", url: srv.URL, followRedirects: true, timeout: 5 * time.Second, adhoc: true}
	tr := newTransport(srv.Client().Transport.(*http.Transport).TLSClientConfig)
	defer tr.CloseIdleConnections()
	var got fetched
	sr, err := runStep(context.Background(), step, nil, tr, nil, &got)
	if err != nil || got.status != 200 || got.bytes != 2 || sr.Phases["tls"] <= 0 {
		t.Fatalf("got %v, %+v, phases %v", err, got, sr.Phases)
	}
}
