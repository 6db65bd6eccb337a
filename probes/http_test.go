package probes

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pulseops/pulse/demo/shop"
)

// mustParse parses a spec written in a test and points its base_url at url.
func mustParse(t *testing.T, url, spec string) *Probe {
	t.Helper()
	p, err := Parse(t.Name()+".yaml", []byte(spec))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return p.WithVars(map[string]string{"base_url": url})
}

func startShop(t *testing.T, opts shop.Options) string {
	t.Helper()
	srv := httptest.NewServer(shop.New(opts).Handler())
	t.Cleanup(srv.Close)
	return srv.URL
}

// errorOf runs p and returns its error with base replaced by "BASE", so
// tests can compare whole messages despite random ports.
func errorOf(t *testing.T, p *Probe, base string) (Result, string) {
	t.Helper()
	res := Run(context.Background(), p)
	if res.Success != (res.Error == "") {
		t.Fatalf("Success %v disagrees with Error %q", res.Success, res.Error)
	}
	return res, strings.ReplaceAll(res.Error, base, "BASE")
}

func TestLoginFlowAgainstShop(t *testing.T) {
	base := startShop(t, shop.Options{})
	p, err := Load("login.yaml")
	if err != nil {
		t.Fatal(err)
	}
	res := Run(context.Background(), p.WithVars(map[string]string{"base_url": base}))
	if !res.Success || res.FailedStep != "" || res.Error != "" {
		t.Fatalf("login probe failed: %+v", res)
	}
	if len(res.Steps) != 2 || res.Steps[0].Name != "login_page" || res.Steps[1].Name != "submit" {
		t.Fatalf("steps: %+v", res.Steps)
	}
	for _, s := range res.Steps {
		for _, phase := range []string{"dns", "connect", "tls", "ttfb", "transfer"} {
			if _, ok := s.Phases[phase]; !ok {
				t.Errorf("step %s has no %s phase: %v", s.Name, phase, s.Phases)
			}
		}
		if s.Error != "" {
			t.Errorf("step %s has error %q", s.Name, s.Error)
		}
	}
	if res.Duration <= 0 {
		t.Errorf("Duration %v not recorded", res.Duration)
	}
}

const noCSRFSpec = `
name: login
type: http
vars: {base_url: "", user: alice, password: wonderland}
steps:
  - name: login_page
    url: "${base_url}/login"
  - name: submit
    method: POST
    url: "${base_url}/login"
    form: {user: "${user}", password: "${password}"}
    expect: {status: 200, body_regex: "Welcome, Alice"}
`

func TestLoginFailures(t *testing.T) {
	login, err := Load("login.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		opts  shop.Options
		probe func(base string) *Probe
		want  string
	}{
		{
			name: "wrong password",
			probe: func(base string) *Probe {
				return login.WithVars(map[string]string{"base_url": base, "password": "looking-glass"})
			},
			want: `submit: expected status 200, got 401 from BASE/login (body: "Log in Log in Invalid credentials User Password Log in")`,
		},
		{
			name:  "missing csrf token",
			probe: func(base string) *Probe { return mustParse(t, base, noCSRFSpec) },
			want:  `submit: expected status 200, got 403 from BASE/login (body: "invalid or missing CSRF token: load /login again and resubmit the form")`,
		},
		{
			name:  "login backend down",
			opts:  shop.Options{FailureRate: 1},
			probe: func(base string) *Probe { return login.WithVars(map[string]string{"base_url": base}) },
			want:  `submit: expected status 200, got 500 from BASE/login (body: "login backend unavailable")`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := startShop(t, tt.opts)
			res, got := errorOf(t, tt.probe(base), base)
			if res.Success || res.FailedStep != "submit" || got != tt.want {
				t.Fatalf("result %+v\n got error: %s\nwant error: %s", res, got, tt.want)
			}
			if n := len(res.Steps); n != 2 || res.Steps[1].Error == "" || res.Steps[0].Error != "" {
				t.Fatalf("the failed step must be last and carry the error: %+v", res.Steps)
			}
			// Each step reports the status its response had, failed or not.
			want := 0
			fmt.Sscanf(tt.want[strings.Index(tt.want, ", got ")+len(", got "):], "%d", &want)
			if res.Steps[0].StatusCode != 200 || res.Steps[1].StatusCode != want || res.Steps[1].CertExpiry != 0 {
				t.Fatalf("status codes %d, %d (cert expiry %v over plain HTTP), want 200, %d", res.Steps[0].StatusCode, res.Steps[1].StatusCode, res.Steps[1].CertExpiry, want)
			}
		})
	}
}

// blockingServer answers /slow only when the client gives up.
func blockingServer(t *testing.T) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	mux.HandleFunc("/loop", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/loop", http.StatusFound) })
	mux.HandleFunc("/fast", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("fast")) })
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestTimeoutsAndRedirects(t *testing.T) {
	base := blockingServer(t)
	tests := []struct {
		name, spec, failed, want string
	}{
		{
			name: "step timeout",
			spec: `{name: slow, type: http, timeout: 10s, vars: {base_url: ""}, steps: [
			  {name: fast, url: "${base_url}/fast"},
			  {name: slow, url: "${base_url}/slow", timeout: 50ms}]}`,
			failed: "slow",
			want:   `slow: GET BASE/slow: no response within the step timeout of 50ms`,
		},
		{
			name:   "probe timeout",
			spec:   `{name: slow, type: http, timeout: 100ms, vars: {base_url: ""}, steps: [{name: slow, url: "${base_url}/slow", timeout: 5s}]}`,
			failed: "slow",
			want:   `slow: GET BASE/slow: the probe's timeout ran out before the response arrived`,
		},
		{
			name:   "redirect loop",
			spec:   `{name: loop, type: http, vars: {base_url: ""}, steps: [{name: loop, url: "${base_url}/loop"}]}`,
			failed: "loop",
			want:   `loop: redirect loop: stopped after 10 redirects, the last to BASE/loop`,
		},
		{
			name:   "redirect not followed",
			spec:   `{name: loop, type: http, vars: {base_url: ""}, steps: [{name: loop, url: "${base_url}/loop", follow_redirects: false}]}`,
			failed: "loop",
			want:   `loop: expected a 2xx status, got 302 from BASE/loop (body: "Found .")`,
		},
		{
			name:   "url from a bad variable",
			spec:   `{name: v, type: http, vars: {base_url: ""}, steps: [{name: v, url: "${base_url}/x"}]}`,
			failed: "v",
			want:   `v: url "/x" is not an absolute http or https URL: check the variables it is built from`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustParse(t, base, tt.spec)
			if tt.name == "url from a bad variable" {
				p = p.WithVars(map[string]string{"base_url": ""})
			}
			res, got := errorOf(t, p, base)
			if res.Success || res.FailedStep != tt.failed || got != tt.want {
				t.Fatalf("result %+v\n got error: %s\nwant error: %s", res, got, tt.want)
			}
		})
	}
}

func TestRedirectNotFollowedExtractsHeader(t *testing.T) {
	base := startShop(t, shop.Options{})
	p := mustParse(t, base, `
name: account
type: http
vars: {base_url: ""}
steps:
  - name: account
    url: "${base_url}/account"
    follow_redirects: false
    expect: {status: 303}
    extract: {next: {header: Location}}
  - name: next
    url: "${base_url}${next}"
    expect: {status: 200, body_regex: 'name="csrf"', body_not_regex: "Welcome"}
    extract: {csrf_cookie: {cookie: shop_csrf}}
`)
	if res := Run(context.Background(), p); !res.Success {
		t.Fatalf("probe failed: %+v", res)
	}
}

// apiServer is a small JSON API: /api/token hands out a token that
// /api/me requires; /api/echo returns the JSON it was sent.
func apiServer(t *testing.T) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/token", func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "sid", Value: "s-1", Path: "/"})
		json.NewEncoder(w).Encode(map[string]any{"token": "abc", "ttl": 60})
	})
	mux.HandleFunc("GET /api/me", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer abc" {
			http.Error(w, `{"error":"unauthorized"}`, http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"user":{"name":"Alice","id":7,"admin":true,"roles":["buyer","admin"]},"user.name":"alice@shop"}`))
	})
	mux.HandleFunc("POST /api/echo", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "want JSON", http.StatusUnsupportedMediaType)
			return
		}
		var v any
		if err := json.NewDecoder(r.Body).Decode(&v); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		json.NewEncoder(w).Encode(v)
	})
	mux.HandleFunc("GET /api/html", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("<p>hi</p>")) })
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

const apiSpec = `
name: api
type: http
vars: {base_url: "", who: Alice}
steps:
  - name: token
    url: "${base_url}/api/token"
    extract:
      token: {json: "$.token"}
      ttl: {json: "$.ttl"}
      sid: {cookie: sid}
  - name: me
    url: "${base_url}/api/me"
    headers: {Authorization: "Bearer ${token}"}
    expect:
      json:
        "$.user.name": "${who}"
        "$.user.id": 7
        "$.user.admin": true
        "$.user.roles": [buyer, admin]
        "$.user.roles[1]": admin
        "$.user.roles[-1]": admin
        "$['user.name']": alice@shop
  - name: echo
    method: POST
    url: "${base_url}/api/echo"
    json: {token: "${token}", ttl: "${ttl}", sid: "${sid}", n: [1, 2]}
    expect:
      json: {"$.token": abc, "$.ttl": "60", "$.sid": s-1, "$.n[1]": 2}
`

func TestJSONAssertions(t *testing.T) {
	base := apiServer(t)
	p := mustParse(t, base, apiSpec)
	if res := Run(context.Background(), p); !res.Success {
		t.Fatalf("api probe failed: %+v", res)
	}
	tests := []struct {
		name, spec, want string
	}{
		{
			name: "wrong value",
			spec: `{name: a, type: http, vars: {base_url: ""}, steps: [{name: token, url: "${base_url}/api/token", expect: {json: {"$.ttl": 30}}}]}`,
			want: "token: json $.ttl: expected 30, got 60",
		},
		{
			name: "missing key",
			spec: `{name: a, type: http, vars: {base_url: ""}, steps: [{name: token, url: "${base_url}/api/token", expect: {json: {"$.user.name": Alice}}}]}`,
			want: `token: json $.user.name: $ has no key "user"`,
		},
		{
			name: "not json",
			spec: `{name: a, type: http, vars: {base_url: ""}, steps: [{name: html, url: "${base_url}/api/html", expect: {json: {"$.a": 1}}}]}`,
			want: `html: json assertions: response body is not JSON: invalid character '<' looking for beginning of value (body: "hi")`,
		},
		{
			name: "extract missing",
			spec: `{name: a, type: http, vars: {base_url: ""}, steps: [{name: token, url: "${base_url}/api/token", extract: {x: {json: "$.nope"}}}]}`,
			want: `token: extract x: json $.nope: $ has no key "nope"`,
		},
		{
			name: "header missing",
			spec: `{name: a, type: http, vars: {base_url: ""}, steps: [{name: token, url: "${base_url}/api/token", extract: {x: {header: X-Nope}}}]}`,
			want: `token: extract x: response has no X-Nope header`,
		},
		{
			name: "cookie missing",
			spec: `{name: a, type: http, vars: {base_url: ""}, steps: [{name: token, url: "${base_url}/api/token", extract: {x: {cookie: nope}}}]}`,
			want: `token: extract x: no cookie "nope" was set for BASE/api/token`,
		},
		{
			name: "regex no match",
			spec: `{name: a, type: http, vars: {base_url: ""}, steps: [{name: html, url: "${base_url}/api/html", extract: {x: {regex: "<b>(.*)</b>"}}}]}`,
			want: `html: extract x: regex "<b>(.*)</b>" did not match the body (body: "hi")`,
		},
		{
			name: "body_not_regex",
			spec: `{name: a, type: http, vars: {base_url: ""}, steps: [{name: html, url: "${base_url}/api/html", expect: {body_not_regex: "h."}}]}`,
			want: `html: body matches body_not_regex "h." at "hi"`,
		},
		{
			name: "regex with a variable is literal",
			spec: `{name: a, type: http, vars: {base_url: "", v: "h."}, steps: [{name: html, url: "${base_url}/api/html", expect: {body_regex: "${v}"}}]}`,
			want: `html: body does not match "h\\." (body: "hi")`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, got := errorOf(t, mustParse(t, base, tt.spec), base)
			if res.Success || got != tt.want {
				t.Fatalf("result %+v\n got error: %s\nwant error: %s", res, got, tt.want)
			}
		})
	}
}

func TestTLS(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("secure")) }))
	// The rejected handshakes below are expected; keep them out of the log.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	spec := func(tls string) string {
		return `{name: tls, type: http, vars: {base_url: ""}, steps: [{name: home, url: "${base_url}/", expect: {body_regex: secure}` + tls + `}]}`
	}
	ok := []string{
		`, tls: {ca_file: "` + ca + `"}`,
		`, tls: {ca_file: "` + ca + `", server_name: example.com}`,
		`, tls: {insecure_skip_verify: true}`,
	}
	for _, tls := range ok {
		res := Run(context.Background(), mustParse(t, srv.URL, spec(tls)))
		if !res.Success {
			t.Errorf("with %s: %+v", tls, res)
			continue
		}
		if _, found := res.Steps[0].Phases["tls"]; !found {
			t.Errorf("with %s: no tls phase in %v", tls, res.Steps[0].Phases)
		}
		// As blackbox_exporter: the status code, and when the server's
		// certificate expires.
		if st := res.Steps[0]; st.StatusCode != 200 || st.CertExpiry != float64(srv.Certificate().NotAfter.Unix()) {
			t.Errorf("with %s: status %d, cert expiry %v, want 200 and %v", tls, st.StatusCode, st.CertExpiry, srv.Certificate().NotAfter.Unix())
		}
	}
	res := Run(context.Background(), mustParse(t, srv.URL, spec("")))
	if res.Success || !strings.Contains(res.Error, "certificate signed by unknown authority") {
		t.Fatalf("untrusted certificate accepted or wrong error: %+v", res)
	}
	res = Run(context.Background(), mustParse(t, srv.URL, spec(`, tls: {ca_file: "`+ca+`", server_name: shop.invalid}`)))
	if res.Success || !strings.Contains(res.Error, "certificate is valid for") {
		t.Fatalf("wrong server_name accepted or wrong error: %+v", res)
	}
}

func TestRunZeroProbe(t *testing.T) {
	res := Run(context.Background(), &Probe{Type: "gopher"})
	if res.Success || res.Error != `unknown probe type "gopher"` {
		t.Fatalf("Run of an unknown type: %+v", res)
	}
}
