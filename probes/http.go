package probes

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptrace"
	"net/url"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pulseops/pulse/internal/protocol"
)

// step is one validated HTTP request of a probe.
type step struct {
	name            string
	method          string
	url             string
	headers         map[string]string
	form            map[string]string
	json            any
	body            *string
	followRedirects bool
	timeout         time.Duration
	tls             *tls.Config
	expect          expect
	extract         []extraction

	// adhoc marks URLTest's step: its URL is taken literally, any status
	// is an answer, and the body is counted instead of kept. allowHost
	// vets the URL and every redirect; timeoutName names the timeout in
	// errors.
	adhoc       bool
	allowHost   func(*url.URL) error
	timeoutName string
}

// fetched is what a step saw of its final response.
type fetched struct {
	status int
	bytes  int64
}

type expect struct {
	status       int
	bodyRegex    string
	bodyNotRegex string
	json         []jsonAssert
}

type jsonAssert struct {
	path jsonPath
	want any
}

type extraction struct {
	name    string
	re      *regexp.Regexp
	json    jsonPath
	jsonRaw string
	header  string
	cookie  string
}

// userAgent names the prober in server logs.
const userAgent = "pulse-probe/1"

var tagRE = regexp.MustCompile(`<[^>]*>`)

var errRedirectLoop = errors.New("redirect loop")

// errRefused marks a redirect to a host the step may not fetch.
var errRefused = errors.New("refused")

// runHTTP performs the steps in order with one cookie jar, as a browser
// session would, and stops at the first failure.
func runHTTP(ctx context.Context, p *Probe) Result {
	var res Result
	// The jar cannot fail to build without a public suffix list.
	jar, _ := cookiejar.New(nil)
	vars := maps.Clone(p.vars)
	// One transport per run, shared by steps without their own TLS
	// settings, so a run measures fresh connections yet steps reuse them
	// the way a browser does.
	shared := newTransport(nil)
	defer shared.CloseIdleConnections()
	for _, st := range p.steps {
		tr := shared
		if st.tls != nil {
			tr = newTransport(st.tls)
			defer tr.CloseIdleConnections()
		}
		sr, err := runStep(ctx, st, jar, tr, vars, nil)
		res.Steps = append(res.Steps, sr)
		if err != nil {
			return fail(res, st.name, err)
		}
	}
	return res
}

func newTransport(cfg *tls.Config) *http.Transport {
	return &http.Transport{
		// Probes go straight to their target: a proxy from the
		// environment would hide the connect and TLS phases they measure.
		Proxy:             nil,
		DialContext:       (&net.Dialer{}).DialContext,
		TLSClientConfig:   cfg,
		ForceAttemptHTTP2: true,
		MaxIdleConns:      4,
		IdleConnTimeout:   30 * time.Second,
	}
}

// runStep performs one step; got, when not nil, receives the final
// response's status and body size.
func runStep(ctx context.Context, st step, jar http.CookieJar, tr http.RoundTripper, vars map[string]string, got *fetched) (protocol.StepResult, error) {
	start := time.Now()
	sr := protocol.StepResult{Name: st.name}
	parent := ctx
	if st.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, st.timeout)
		defer cancel()
	}
	ph := &phases{}
	ctx = httptrace.WithClientTrace(ctx, ph.trace())
	req, err := buildRequest(ctx, st, vars)
	if err != nil {
		sr.Duration = time.Since(start).Seconds()
		return sr, err
	}
	client := &http.Client{
		Jar:       jar,
		Transport: tr,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if !st.followRedirects {
				return http.ErrUseLastResponse
			}
			if len(via) >= MaxRedirects {
				return fmt.Errorf("%w: stopped after %d redirects, the last to %s", errRedirectLoop, MaxRedirects, req.URL.Redacted())
			}
			if st.allowHost != nil {
				if err := st.allowHost(req.URL); err != nil {
					return fmt.Errorf("%w: redirected to %s: %w", errRefused, req.URL.Redacted(), err)
				}
			}
			return nil
		},
	}
	resp, err := client.Do(req)
	var body []byte
	if err == nil {
		if st.adhoc {
			var n int64
			n, err = io.Copy(io.Discard, resp.Body)
			if got != nil {
				got.bytes = n
			}
		} else {
			body, err = io.ReadAll(io.LimitReader(resp.Body, maxBody))
		}
		resp.Body.Close()
		if got != nil {
			got.status = resp.StatusCode
		}
		sr.StatusCode = resp.StatusCode
		if resp.TLS != nil {
			sr.CertExpiry = earliestExpiry(resp.TLS.PeerCertificates)
		}
		if err != nil {
			err = fmt.Errorf("read response body from %s: %w", resp.Request.URL.Redacted(), err)
		}
	}
	end := time.Now()
	sr.Duration = end.Sub(start).Seconds()
	sr.Phases = ph.result(end)
	if err != nil {
		return sr, explain(parent, ctx, st, err)
	}
	if st.adhoc {
		return sr, nil
	}
	if err := check(st.expect, resp, body, vars); err != nil {
		return sr, err
	}
	for _, ex := range st.extract {
		val, err := ex.from(resp, body, jar)
		if err != nil {
			return sr, fmt.Errorf("extract %s: %w", ex.name, err)
		}
		vars[ex.name] = val
	}
	return sr, nil
}

// earliestExpiry is the Unix time at which the first of certs expires, 0
// without certificates.
func earliestExpiry(certs []*x509.Certificate) float64 {
	var first time.Time
	for _, c := range certs {
		if first.IsZero() || c.NotAfter.Before(first) {
			first = c.NotAfter
		}
	}
	if first.IsZero() {
		return 0
	}
	return float64(first.Unix())
}

func buildRequest(ctx context.Context, st step, vars map[string]string) (*http.Request, error) {
	raw := st.url
	if !st.adhoc {
		raw = expand(st.url, vars)
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("url %q is not an absolute http or https URL: check the variables it is built from", raw)
	}
	if st.allowHost != nil {
		if err := st.allowHost(u); err != nil {
			return nil, err
		}
	}
	var body io.Reader
	ctype := ""
	switch {
	case st.form != nil:
		form := url.Values{}
		for k, v := range st.form {
			form.Set(k, expand(v, vars))
		}
		body, ctype = strings.NewReader(form.Encode()), "application/x-www-form-urlencoded"
	case st.json != nil:
		// Validated at load: the value encodes.
		b, _ := json.Marshal(expandDeep(st.json, vars))
		body, ctype = bytes.NewReader(b), "application/json"
	case st.body != nil:
		body = strings.NewReader(expand(*st.body, vars))
	}
	req, err := http.NewRequestWithContext(ctx, st.method, u.String(), body)
	if err != nil {
		return nil, fmt.Errorf("build %s request to %s: %w", st.method, u.Redacted(), err)
	}
	req.Header.Set("User-Agent", userAgent)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for k, v := range st.headers {
		if strings.EqualFold(k, "Host") {
			req.Host = expand(v, vars)
			continue
		}
		req.Header.Set(k, expand(v, vars))
	}
	return req, nil
}

// explain turns a transport error into a message that says which limit ran
// out or what went wrong, instead of Go's `Get "url": context deadline
// exceeded`. parent is the probe's context, ctx the step's.
func explain(parent, ctx context.Context, st step, err error) error {
	if errors.Is(err, errRedirectLoop) || errors.Is(err, errRefused) {
		var ue *url.Error
		if errors.As(err, &ue) {
			return ue.Err
		}
		return err
	}
	switch {
	case parent.Err() != nil:
		return fmt.Errorf("%s %s: the probe's timeout ran out before the response arrived", st.method, redactURL(err))
	case ctx.Err() != nil:
		return fmt.Errorf("%s %s: no response within %s of %s", st.method, redactURL(err), cmp.Or(st.timeoutName, "the step timeout"), st.timeout)
	}
	return err
}

func redactURL(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		if u, perr := url.Parse(ue.URL); perr == nil {
			return u.Redacted()
		}
		return ue.URL
	}
	return "request"
}

// check applies a step's expectations to its final response.
func check(ex expect, resp *http.Response, body []byte, vars map[string]string) error {
	switch {
	case ex.status == 0 && (resp.StatusCode < 200 || resp.StatusCode > 299):
		return fmt.Errorf("expected a 2xx status, got %d from %s%s", resp.StatusCode, resp.Request.URL.Redacted(), snippet(body))
	case ex.status != 0 && resp.StatusCode != ex.status:
		return fmt.Errorf("expected status %d, got %d from %s%s", ex.status, resp.StatusCode, resp.Request.URL.Redacted(), snippet(body))
	}
	if ex.bodyRegex != "" {
		re, err := regexp.Compile(expandRegex(ex.bodyRegex, vars))
		if err != nil {
			return fmt.Errorf("body_regex %q: %w", ex.bodyRegex, err)
		}
		if !re.Match(body) {
			return fmt.Errorf("body does not match %q%s", re.String(), snippet(body))
		}
	}
	if ex.bodyNotRegex != "" {
		re, err := regexp.Compile(expandRegex(ex.bodyNotRegex, vars))
		if err != nil {
			return fmt.Errorf("body_not_regex %q: %w", ex.bodyNotRegex, err)
		}
		if loc := re.FindIndex(body); loc != nil {
			return fmt.Errorf("body matches body_not_regex %q at %q", re.String(), body[loc[0]:loc[1]])
		}
	}
	if len(ex.json) == 0 {
		return nil
	}
	var doc any
	if err := json.Unmarshal(body, &doc); err != nil {
		return fmt.Errorf("json assertions: response body is not JSON: %w%s", err, snippet(body))
	}
	for _, a := range ex.json {
		got, err := a.path.eval(doc)
		if err != nil {
			return fmt.Errorf("json %s: %w", a.path.raw, err)
		}
		want := normalizeJSON(expandDeep(a.want, vars))
		if !reflect.DeepEqual(normalizeJSON(got), want) {
			return fmt.Errorf("json %s: expected %s, got %s", a.path.raw, compactJSON(want), compactJSON(got))
		}
	}
	return nil
}

// normalizeJSON round-trips v through encoding/json so a YAML int and a
// JSON float64 of the same number compare equal.
func normalizeJSON(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		return v
	}
	var out any
	_ = json.Unmarshal(b, &out)
	return out
}

func compactJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// snippet quotes the start of a body for an error message, so a failure
// shows what the server said without flooding the result.
func snippet(body []byte) string {
	const n = 120
	// Tags are dropped so an HTML error page shows its words.
	s := strings.Join(strings.Fields(tagRE.ReplaceAllString(string(body), " ")), " ")
	if s == "" {
		return ""
	}
	if len(s) > n {
		s = s[:n] + "..."
	}
	return " (body: " + strconv.Quote(s) + ")"
}

func (ex extraction) from(resp *http.Response, body []byte, jar http.CookieJar) (string, error) {
	switch {
	case ex.re != nil:
		m := ex.re.FindSubmatch(body)
		if m == nil {
			return "", fmt.Errorf("regex %q did not match the body%s", ex.re.String(), snippet(body))
		}
		return string(m[1]), nil
	case ex.jsonRaw != "":
		var doc any
		if err := json.Unmarshal(body, &doc); err != nil {
			return "", fmt.Errorf("response body is not JSON: %w", err)
		}
		v, err := ex.json.eval(doc)
		if err != nil {
			return "", fmt.Errorf("json %s: %w", ex.jsonRaw, err)
		}
		if s, ok := v.(string); ok {
			return s, nil
		}
		return compactJSON(v), nil
	case ex.header != "":
		v := resp.Header.Get(ex.header)
		if v == "" {
			return "", fmt.Errorf("response has no %s header", ex.header)
		}
		return v, nil
	default:
		for _, c := range jar.Cookies(resp.Request.URL) {
			if c.Name == ex.cookie {
				return c.Value, nil
			}
		}
		for _, c := range resp.Cookies() {
			if c.Name == ex.cookie {
				return c.Value, nil
			}
		}
		return "", fmt.Errorf("no cookie %q was set for %s", ex.cookie, resp.Request.URL.Redacted())
	}
}

// phases accumulates httptrace timings over every hop of a step. Callbacks
// may come from the transport's dialing goroutines, hence the lock.
type phases struct {
	mu                            sync.Mutex
	dnsStart, connStart, tlsStart time.Time
	wrote, firstByte              time.Time
	dns, connect, tls, ttfb       time.Duration
}

func (p *phases) trace() *httptrace.ClientTrace {
	lock := func(f func()) { p.mu.Lock(); f(); p.mu.Unlock() }
	return &httptrace.ClientTrace{
		DNSStart: func(httptrace.DNSStartInfo) { lock(func() { p.dnsStart = time.Now() }) },
		DNSDone: func(httptrace.DNSDoneInfo) {
			lock(func() { p.dns += since(p.dnsStart) })
		},
		ConnectStart: func(string, string) { lock(func() { p.connStart = time.Now() }) },
		ConnectDone: func(_, _ string, err error) {
			lock(func() { p.connect += since(p.connStart) })
		},
		TLSHandshakeStart: func() { lock(func() { p.tlsStart = time.Now() }) },
		TLSHandshakeDone: func(tls.ConnectionState, error) {
			lock(func() { p.tls += since(p.tlsStart) })
		},
		WroteRequest: func(httptrace.WroteRequestInfo) { lock(func() { p.wrote = time.Now() }) },
		GotFirstResponseByte: func() {
			lock(func() {
				p.ttfb += since(p.wrote)
				p.firstByte = time.Now()
			})
		},
	}
}

// result reports seconds per phase. ttfb runs from the request written to
// the first response byte (the server's think time); transfer from the last
// first byte to the end of the body, so a redirect's tiny drained body is
// left out. All five keys are always present so
// dashboards can stack them.
func (p *phases) result(end time.Time) map[string]float64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	var transfer time.Duration
	if !p.firstByte.IsZero() {
		transfer = end.Sub(p.firstByte)
	}
	return map[string]float64{
		"dns":      p.dns.Seconds(),
		"connect":  p.connect.Seconds(),
		"tls":      p.tls.Seconds(),
		"ttfb":     p.ttfb.Seconds(),
		"transfer": transfer.Seconds(),
	}
}

// since is time.Since that treats a missing start as no time at all.
func since(t time.Time) time.Duration {
	if t.IsZero() {
		return 0
	}
	return time.Since(t)
}
