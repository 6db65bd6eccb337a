// Package shop is the tiny web shop that `pulse demo` serves and that the
// business-probe tests log in to: a login page with a CSRF token, a session
// cookie, an account page and a runtime fault switch (/admin/fault) that adds
// latency or fails logins so an operator can watch probes, alerts and
// remediation react.
//
// It is a demo and a test fixture, never a real shop: passwords are compared
// in memory, sessions live in a map, and it must never be exposed beyond
// loopback or import anything from the rest of pulse. It keeps no
// package-level state, so any number of shops can run side by side.
package shop

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"html/template"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"sync"
	"time"
)

// Cookie names. They are exported so tests and probes can look for them.
const (
	CSRFCookie    = "shop_csrf"
	SessionCookie = "shop_session"
)

// sessionTTL bounds how long a login stays valid. Probes log in every few
// seconds for days in the demo, so sessions must expire or the map grows
// without end.
const sessionTTL = time.Hour

// User is one account that can log in.
type User struct {
	Password string
	// Name is what the account page greets the user with.
	Name string
}

// Options configure a Shop. The zero value is a working shop with one user,
// alice/wonderland ("Alice"), and no faults.
type Options struct {
	// Users maps a login name to its account; nil means alice/wonderland.
	Users map[string]User
	// FailureRate is the probability (0..1) that a login answers 500.
	FailureRate float64
	// Latency is added to every login attempt.
	Latency time.Duration
	// Rand decides which logins fail; nil uses the runtime's random source.
	// Tests pass a seeded source to make the failures repeatable.
	Rand mrand.Source
	// Logger receives one line per login; nil discards.
	Logger *slog.Logger
}

// Shop is the demo web shop. It is safe for concurrent use.
type Shop struct {
	users map[string]User
	log   *slog.Logger
	page  *template.Template

	mu          sync.Mutex // guards the fields below
	broken      map[string]string
	failureRate float64
	latency     time.Duration
	rnd         *mrand.Rand // nil: use the runtime's random source
	sessions    map[string]session
}

type session struct {
	user    string
	expires time.Time
}

// New builds a shop. Invalid fault settings in opts are clamped: a negative
// rate or latency is 0, a rate above 1 is 1, so a demo always starts.
func New(opts Options) *Shop {
	users := opts.Users
	if users == nil {
		users = map[string]User{"alice": {Password: "wonderland", Name: "Alice"}}
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Shop{
		users:       users,
		log:         log.With("component", "shop"),
		page:        template.Must(template.New("page").Parse(pageHTML)),
		failureRate: min(max(opts.FailureRate, 0), 1),
		latency:     max(opts.Latency, 0),
		sessions:    map[string]session{},
		broken:      map[string]string{},
	}
	if opts.Rand != nil {
		s.rnd = mrand.New(opts.Rand)
	}
	return s
}

// Fault reports the current fault settings.
func (s *Shop) Fault() (failureRate float64, latency time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failureRate, s.latency
}

// SetBroken makes node's instance of the shop fail every login, saying
// why, until called again with an empty why. The demo calls it when a node
// installs a bad release of the shop's package.
func (s *Shop) SetBroken(node, why string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if why == "" {
		delete(s.broken, node)
		return
	}
	s.broken[node] = why
}

// Broken says why node's instance fails its logins ("" when it does not).
func (s *Shop) Broken(node string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.broken[node]
}

// SetFault changes the fault settings at run time. It rejects a rate outside
// 0..1 or a negative latency and then changes nothing.
func (s *Shop) SetFault(failureRate float64, latency time.Duration) error {
	if err := validateFault(failureRate, latency); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failureRate, s.latency = failureRate, latency
	s.log.Info("fault settings changed", "failure_rate", failureRate, "latency", latency.String())
	return nil
}

func validateFault(rate float64, latency time.Duration) error {
	// The negated comparison also rejects NaN.
	if !(rate >= 0 && rate <= 1) {
		return fmt.Errorf("failure_rate must be between 0 and 1, got %v", rate)
	}
	if latency < 0 {
		return fmt.Errorf("latency must not be negative, got %q", latency.String())
	}
	return nil
}

// Handler serves the shop's pages.
func (s *Shop) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.home)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /login", s.loginPage)
	mux.HandleFunc("POST /login", s.login)
	mux.HandleFunc("GET /account", s.account)
	// Each web node's own instance of the shop, as a load balancer's
	// backends: its login breaks when that node runs a bad release.
	mux.HandleFunc("GET /node/{node}/login", s.loginPage)
	mux.HandleFunc("POST /node/{node}/login", s.login)
	mux.HandleFunc("GET /node/{node}/account", s.account)
	mux.HandleFunc("GET /admin/fault", s.getFault)
	mux.HandleFunc("POST /admin/fault", s.postFault)
	return mux
}

// roll decides whether this login fails under the current failure rate.
func (s *Shop) roll() (fail bool, latency time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failureRate <= 0 {
		return false, s.latency
	}
	var f float64
	if s.rnd != nil {
		f = s.rnd.Float64()
	} else {
		f = mrand.Float64()
	}
	return f < s.failureRate, s.latency
}

func (s *Shop) home(w http.ResponseWriter, r *http.Request) {
	s.render(w, http.StatusOK, page{Title: "Pulse demo shop", Home: true, User: s.userName(r)})
}

func (s *Shop) loginPage(w http.ResponseWriter, r *http.Request) {
	token := newToken()
	http.SetCookie(w, &http.Cookie{Name: CSRFCookie, Value: token, Path: r.URL.Path, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	s.render(w, http.StatusOK, page{Title: "Log in", Form: true, CSRF: token})
}

func (s *Shop) login(w http.ResponseWriter, r *http.Request) {
	// The form is read first: only once the body is consumed does the
	// server notice a client hanging up, which ends the latency wait below.
	if err := r.ParseForm(); err != nil {
		http.Error(w, "cannot read the login form: "+err.Error(), http.StatusBadRequest)
		return
	}
	fail, latency := s.roll()
	if latency > 0 {
		// The delay is the injected fault itself; it ends early when the
		// client gives up so a slow shop does not pile up goroutines.
		t := time.NewTimer(latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	if fail {
		s.log.Warn("login failed by fault injection")
		http.Error(w, "login backend unavailable", http.StatusInternalServerError)
		return
	}
	if node := r.PathValue("node"); node != "" {
		if why := s.Broken(node); why != "" {
			s.log.Warn("login failed on a broken node", "node", node, "why", why)
			http.Error(w, "login backend unavailable on "+node+": "+why, http.StatusInternalServerError)
			return
		}
	}
	c, err := r.Cookie(CSRFCookie)
	sent := r.PostForm.Get("csrf")
	if err != nil || sent == "" || subtle.ConstantTimeCompare([]byte(c.Value), []byte(sent)) != 1 {
		s.log.Warn("login rejected: bad CSRF token")
		http.Error(w, "invalid or missing CSRF token: load /login again and resubmit the form", http.StatusForbidden)
		return
	}
	name := r.PostForm.Get("user")
	u, ok := s.users[name]
	if !ok || subtle.ConstantTimeCompare([]byte(u.Password), []byte(r.PostForm.Get("password"))) != 1 {
		s.log.Info("login rejected: invalid credentials", "user", name)
		s.render(w, http.StatusUnauthorized, page{Title: "Log in", Form: true, CSRF: c.Value, Error: "Invalid credentials"})
		return
	}
	id := newToken()
	now := time.Now()
	s.mu.Lock()
	for k, v := range s.sessions {
		if now.After(v.expires) {
			delete(s.sessions, k)
		}
	}
	s.sessions[id] = session{user: name, expires: now.Add(sessionTTL)}
	s.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: id, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode, MaxAge: int(sessionTTL / time.Second)})
	s.log.Info("login", "user", name)
	// Relative, so a node's instance stays on its own pages.
	http.Redirect(w, r, "account", http.StatusSeeOther)
}

// userName returns the display name of the logged-in user, or "".
func (s *Shop) userName(r *http.Request) string {
	c, err := r.Cookie(SessionCookie)
	if err != nil {
		return ""
	}
	s.mu.Lock()
	sess, ok := s.sessions[c.Value]
	s.mu.Unlock()
	if !ok || time.Now().After(sess.expires) {
		return ""
	}
	return s.users[sess.user].Name
}

func (s *Shop) account(w http.ResponseWriter, r *http.Request) {
	name := s.userName(r)
	if name == "" {
		http.Redirect(w, r, "login", http.StatusSeeOther)
		return
	}
	s.render(w, http.StatusOK, page{Title: "Your account", User: name})
}

func (s *Shop) render(w http.ResponseWriter, status int, p page) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if err := s.page.Execute(w, p); err != nil {
		s.log.Error("render page", "title", p.Title, "err", err)
	}
}

// newToken returns 128 random bits in hex, for CSRF tokens and session ids.
func newToken() string {
	b := make([]byte, 16)
	// crypto/rand.Read never returns an error on supported platforms.
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

type page struct {
	Title string
	Home  bool
	Form  bool
	CSRF  string
	Error string
	User  string
}

const pageHTML = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>{{.Title}}</title></head>
<body>
<h1>{{.Title}}</h1>
{{- if .Home}}
<p>Tea, scones and rabbit-hole maps, delivered.</p>
{{- if .User}}
<p>Logged in as {{.User}}. <a href="/account">Your account</a></p>
{{- else}}
<p><a href="/login">Log in</a> to order.</p>
{{- end}}
{{- else if .Form}}
{{- if .Error}}
<p class="error">{{.Error}}</p>
{{- end}}
<form method="post" action="login">
<input type="hidden" name="csrf" value="{{.CSRF}}">
<label>User <input name="user" autocomplete="username"></label>
<label>Password <input name="password" type="password" autocomplete="current-password"></label>
<button type="submit">Log in</button>
</form>
{{- else}}
<p>Welcome, {{.User}}</p>
<p><a href="/">Back to the shop</a></p>
{{- end}}
</body>
</html>
`
