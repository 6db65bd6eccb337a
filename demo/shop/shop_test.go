package shop

import (
	"context"
	"errors"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// client is a browser-like client for one test: it keeps cookies and does
// not follow redirects, so tests see the shop's 303s.
type client struct {
	t    *testing.T
	base string
	http *http.Client
}

func newClient(t *testing.T, s *Shop) *client {
	t.Helper()
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &client{t: t, base: srv.URL, http: &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

func (c *client) do(req *http.Request) (*http.Response, string) {
	c.t.Helper()
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("read %s: %v", req.URL, err)
	}
	return resp, string(b)
}

func (c *client) get(path string) (*http.Response, string) {
	c.t.Helper()
	req, err := http.NewRequest(http.MethodGet, c.base+path, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	return c.do(req)
}

func (c *client) post(path, contentType, body string) (*http.Response, string) {
	c.t.Helper()
	req, err := http.NewRequest(http.MethodPost, c.base+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	return c.do(req)
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf loads the login page and returns its token.
func (c *client) csrf() string {
	c.t.Helper()
	resp, body := c.get("/login")
	if resp.StatusCode != http.StatusOK {
		c.t.Fatalf("GET /login: status %d", resp.StatusCode)
	}
	m := csrfRE.FindStringSubmatch(body)
	if m == nil {
		c.t.Fatalf("GET /login: no csrf input in %q", body)
	}
	return m[1]
}

func (c *client) login(user, password, csrf string) (*http.Response, string) {
	c.t.Helper()
	form := url.Values{"user": {user}, "password": {password}, "csrf": {csrf}}
	return c.post("/login", "application/x-www-form-urlencoded", form.Encode())
}

func TestLoginSuccess(t *testing.T) {
	c := newClient(t, New(Options{}))

	resp, _ := c.get("/account")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
		t.Fatalf("GET /account before login: %d to %q, want 303 to /login", resp.StatusCode, resp.Header.Get("Location"))
	}

	resp, _ = c.login("alice", "wonderland", c.csrf())
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/account" {
		t.Fatalf("POST /login: %d to %q, want 303 to /account", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, body := c.get("/account")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Welcome, Alice") {
		t.Fatalf("GET /account after login: %d %q, want 200 with Welcome, Alice", resp.StatusCode, body)
	}
	_, body = c.get("/")
	if !strings.Contains(body, "Logged in as Alice") {
		t.Errorf("home page after login does not name the user: %q", body)
	}
}

func TestLoginCustomUsers(t *testing.T) {
	c := newClient(t, New(Options{Users: map[string]User{"bob": {Password: "builder", Name: "Bob"}}}))
	if resp, _ := c.login("alice", "wonderland", c.csrf()); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("default user still logs in with custom users: status %d", resp.StatusCode)
	}
	c.login("bob", "builder", c.csrf())
	if _, body := c.get("/account"); !strings.Contains(body, "Welcome, Bob") {
		t.Fatalf("GET /account: %q, want Welcome, Bob", body)
	}
}

func TestLoginRejected(t *testing.T) {
	tests := []struct {
		name       string
		user, pass string
		csrf       func(real string) string
		status     int
		body       string
	}{
		{"wrong password", "alice", "looking-glass", same, http.StatusUnauthorized, "Invalid credentials"},
		{"unknown user", "mallory", "wonderland", same, http.StatusUnauthorized, "Invalid credentials"},
		{"bad csrf", "alice", "wonderland", func(string) string { return "forged" }, http.StatusForbidden, "invalid or missing CSRF token: load /login again and resubmit the form\n"},
		{"missing csrf", "alice", "wonderland", func(string) string { return "" }, http.StatusForbidden, "invalid or missing CSRF token: load /login again and resubmit the form\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClient(t, New(Options{}))
			resp, body := c.login(tt.user, tt.pass, tt.csrf(c.csrf()))
			if resp.StatusCode != tt.status || !strings.Contains(body, tt.body) {
				t.Fatalf("POST /login: %d %q, want %d with %q", resp.StatusCode, body, tt.status, tt.body)
			}
			if resp, _ := c.get("/account"); resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("GET /account after rejected login: %d, want 303", resp.StatusCode)
			}
		})
	}
}

func same(s string) string { return s }

func TestLoginWithoutCSRFCookie(t *testing.T) {
	c := newClient(t, New(Options{}))
	token := c.csrf()
	c.http.Jar, _ = cookiejar.New(nil) // a second browser replaying the token
	if resp, _ := c.login("alice", "wonderland", token); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("token without its cookie: status %d, want 403", resp.StatusCode)
	}
}

func TestFailureRateOneFailsEveryLogin(t *testing.T) {
	c := newClient(t, New(Options{FailureRate: 1}))
	for i := range 20 {
		resp, body := c.login("alice", "wonderland", c.csrf())
		if resp.StatusCode != http.StatusInternalServerError || body != "login backend unavailable\n" {
			t.Fatalf("login %d: %d %q, want 500 login backend unavailable", i, resp.StatusCode, body)
		}
	}
}

func TestFailureRateSeeded(t *testing.T) {
	c := newClient(t, New(Options{FailureRate: 0.5, Rand: mrand.NewPCG(1, 2)}))
	counts := map[int]int{}
	for range 40 {
		resp, _ := c.login("alice", "wonderland", c.csrf())
		counts[resp.StatusCode]++
	}
	if counts[http.StatusInternalServerError] == 0 || counts[http.StatusSeeOther] == 0 || len(counts) != 2 {
		t.Fatalf("status counts at failure rate 0.5: %v, want both 500 and 303 and nothing else", counts)
	}
}

func TestLatencyEndsWithClient(t *testing.T) {
	s := New(Options{Latency: time.Hour})
	c := newClient(t, s)
	token := c.csrf()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	form := url.Values{"user": {"alice"}, "password": {"wonderland"}, "csrf": {token}}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	_, err := c.http.Do(req)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("login with an hour of latency: err %v, want deadline exceeded", err)
	}
	// The login page itself is not slowed down: only logins are.
	if resp, _ := c.get("/login"); resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /login under latency: %d", resp.StatusCode)
	}
}

func TestFaultSwitch(t *testing.T) {
	s := New(Options{})
	c := newClient(t, s)
	if _, body := c.get("/admin/fault"); body != `{"failure_rate":0,"latency":"0s"}`+"\n" {
		t.Fatalf("GET /admin/fault: %q", body)
	}
	resp, body := c.post("/admin/fault", "application/json", `{"failure_rate":1,"latency":"200ms"}`)
	if resp.StatusCode != http.StatusOK || body != `{"failure_rate":1,"latency":"200ms"}`+"\n" {
		t.Fatalf("POST JSON: %d %q", resp.StatusCode, body)
	}
	if resp, _ := c.login("alice", "wonderland", c.csrf()); resp.StatusCode != http.StatusInternalServerError {
		t.Fatalf("login after failure_rate=1: %d, want 500", resp.StatusCode)
	}
	// A form sets only what it names; latency stays 200ms.
	resp, body = c.post("/admin/fault", "application/x-www-form-urlencoded", "failure_rate=0")
	if resp.StatusCode != http.StatusOK || body != `{"failure_rate":0,"latency":"200ms"}`+"\n" {
		t.Fatalf("POST form: %d %q", resp.StatusCode, body)
	}
	if rate, lat := s.Fault(); rate != 0 || lat != 200*time.Millisecond {
		t.Fatalf("Fault() = %v, %v", rate, lat)
	}
	if resp, _ := c.login("alice", "wonderland", c.csrf()); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login after failure_rate=0: %d, want 303", resp.StatusCode)
	}
}

func TestFaultValidation(t *testing.T) {
	tests := []struct {
		ctype, body, want string
	}{
		{"application/json", `{"failure_rate":1.5}`, "failure_rate must be between 0 and 1, got 1.5"},
		{"application/json", `{"failure_rate":-0.1}`, "failure_rate must be between 0 and 1, got -0.1"},
		{"application/json", `{"latency":"-1s"}`, `latency must not be negative, got "-1s"`},
		{"application/json", `{"latency":"soon"}`, `latency must be a duration such as "200ms", got "soon"`},
		{"application/json", `{"rate":1}`, `fault update is not valid JSON such as {"failure_rate":0.5,"latency":"200ms"}: json: unknown field "rate"`},
		{"application/json", `{}`, "empty fault update: send failure_rate and/or latency"},
		{"application/x-www-form-urlencoded", "failure_rate=lots", `failure_rate must be a number between 0 and 1, got "lots"`},
		{"application/x-www-form-urlencoded", "failure_rate=2", "failure_rate must be between 0 and 1, got 2"},
		{"application/x-www-form-urlencoded", "failure_rate=NaN", "failure_rate must be between 0 and 1, got NaN"},
		{"application/x-www-form-urlencoded", "latency=-5ms", `latency must not be negative, got "-5ms"`},
		{"application/x-www-form-urlencoded", "speed=1", `unknown field "speed" in fault update: use failure_rate and latency`},
		{"application/x-www-form-urlencoded", "", "empty fault update: send failure_rate and/or latency"},
		{"text/plain", `{"failure_rate":7}`, "failure_rate must be between 0 and 1, got 7"},
	}
	for _, tt := range tests {
		t.Run(tt.body, func(t *testing.T) {
			s := New(Options{FailureRate: 0.25, Latency: time.Second})
			c := newClient(t, s)
			resp, body := c.post("/admin/fault", tt.ctype, tt.body)
			if resp.StatusCode != http.StatusBadRequest || body != tt.want+"\n" {
				t.Fatalf("POST %q: %d %q, want 400 %q", tt.body, resp.StatusCode, body, tt.want)
			}
			if rate, lat := s.Fault(); rate != 0.25 || lat != time.Second {
				t.Fatalf("a rejected update changed the fault to %v, %v", rate, lat)
			}
		})
	}
}

func TestNewClampsOptions(t *testing.T) {
	rate, lat := New(Options{FailureRate: 3, Latency: -time.Second}).Fault()
	if rate != 1 || lat != 0 {
		t.Fatalf("Fault() = %v, %v; want 1, 0", rate, lat)
	}
}

func TestPages(t *testing.T) {
	c := newClient(t, New(Options{}))
	tests := []struct {
		path   string
		status int
		body   string
	}{
		{"/", http.StatusOK, `<a href="/login">Log in</a>`},
		{"/healthz", http.StatusOK, "ok\n"},
		{"/nope", http.StatusNotFound, "404 page not found"},
	}
	for _, tt := range tests {
		resp, body := c.get(tt.path)
		if resp.StatusCode != tt.status || !strings.Contains(body, tt.body) {
			t.Errorf("GET %s: %d %q, want %d with %q", tt.path, resp.StatusCode, body, tt.status, tt.body)
		}
	}
	if resp, _ := c.post("/account", "text/plain", ""); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /account: %d, want 405", resp.StatusCode)
	}
}

func FuzzParseFault(f *testing.F) {
	f.Add("application/json", `{"failure_rate":0.5,"latency":"200ms"}`)
	f.Add("application/x-www-form-urlencoded", "failure_rate=0.5&latency=1s")
	f.Add("", "latency=%zz")
	f.Add("application/json", `{"latency":null}`)
	f.Fuzz(func(t *testing.T, ctype, body string) {
		upd, err := parseFault(ctype, []byte(body))
		if err != nil {
			return
		}
		if upd.FailureRate == nil && upd.Latency == nil {
			t.Fatalf("parseFault(%q, %q) accepted an empty update", ctype, body)
		}
	})
}

// Each web node has its own instance of the shop under /node/<identity>/:
// its login form posts back to it, its redirect stays on it, and a broken
// node's logins fail while every other's work.
func TestNodeInstances(t *testing.T) {
	s := New(Options{})
	loginAt := func(c *client, prefix string) (*http.Response, string) {
		t.Helper()
		_, page := c.get(prefix + "/login")
		m := csrfRE.FindStringSubmatch(page)
		if m == nil || !strings.Contains(page, `action="login"`) {
			t.Fatalf("%s/login page: %q", prefix, page)
		}
		form := url.Values{"user": {"alice"}, "password": {"wonderland"}, "csrf": {m[1]}}
		return c.post(prefix+"/login", "application/x-www-form-urlencoded", form.Encode())
	}
	c := newClient(t, s)
	resp, _ := loginAt(c, "/node/web-1")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/node/web-1/account" {
		t.Fatalf("login on web-1: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, body := c.get("/node/web-1/account"); resp.StatusCode != http.StatusOK || !strings.Contains(body, "Welcome, Alice") {
		t.Fatalf("account on web-1: %d %q", resp.StatusCode, body)
	}
	s.SetBroken("web-1", "shop 1.1.0")
	if resp, body := loginAt(newClient(t, s), "/node/web-1"); resp.StatusCode != http.StatusInternalServerError || !strings.Contains(body, "login backend unavailable on web-1: shop 1.1.0") {
		t.Fatalf("broken web-1: %d %q", resp.StatusCode, body)
	}
	if resp, _ := loginAt(newClient(t, s), "/node/web-2"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("web-2 while web-1 is broken: %d", resp.StatusCode)
	}
	front := newClient(t, s)
	if resp, _ := front.login("alice", "wonderland", front.csrf()); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("the shop's front door while web-1 is broken: %d", resp.StatusCode)
	}
	s.SetBroken("web-1", "")
	if resp, _ := loginAt(newClient(t, s), "/node/web-1"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("web-1 mended: %d", resp.StatusCode)
	}
}
