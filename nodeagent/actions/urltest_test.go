package actions

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/pulseops/pulse/internal/protocol"
)

func TestURLTestAgentRefusesBadInput(t *testing.T) {
	a, err := NewURLTestAgent(URLTestOptions{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		action, data string
		status       protocol.Status
		msg          string
	}{
		{"perftest", `{"url":"file:///etc/passwd"}`, protocol.InvalidData, `urltest fetches only http and https URLs, not "file:"`},
		{"perftest", `{"url":"gopher://example.com/"}`, protocol.InvalidData, `urltest fetches only http and https URLs, not "gopher:"`},
		{"perftest", `{"url":"ftp://example.com/x"}`, protocol.InvalidData, `urltest fetches only http and https URLs, not "ftp:"`},
		{"perftest", `{"url":"example.com/x"}`, protocol.InvalidData, `urltest: "example.com/x" is not an absolute URL; give one such as https://example.com/`},
		{"perftest", `{"url":"http:///x"}`, protocol.InvalidData, `urltest: http:///x has no host`},
		{"perftest", `{"url":"http://user:secret@example.com/"}`, protocol.InvalidData, `urltest: a URL with a user or password is refused; the timings need no login`},
		{"perftest", `{"url":"http://example.com/` + strings.Repeat("a", 2048) + `"}`, protocol.InvalidData, `urltest: the URL is 2067 bytes long, more than 2048`},
		{"perftest", `{"url":"http://example.com/","timeout":"forever"}`, protocol.InvalidData, `urltest: timeout "forever" is not a positive duration such as 4s`},
		{"perftest", `{"url":"http://example.com/","timeout":"-1s"}`, protocol.InvalidData, `urltest: timeout "-1s" is not a positive duration such as 4s`},
		{"perftest", `{"url":"http://example.com/","method":"POST"}`, protocol.InvalidData, `urltest.perftest: unknown data key "method"; known keys: url, timeout`},
		{"perftest", `{}`, protocol.MissingData, `urltest.perftest: missing data key "url"`},
		{"fetch", `{"url":"http://example.com/"}`, protocol.UnknownAction, `unknown action "fetch" for agent urltest; known actions: perftest`},
	} {
		res := a.Call(context.Background(), Request{Action: tc.action, Data: json.RawMessage(tc.data)})
		if res.Status != tc.status || res.Message != tc.msg {
			t.Errorf("%s %s: got %d %q; want %d %q", tc.action, tc.data, res.Status, res.Message, tc.status, tc.msg)
		}
	}
}

func TestURLTestAllowHosts(t *testing.T) {
	for _, tc := range []struct {
		entries []string
		err     string
	}{
		{[]string{"*.exa*mple.com"}, `host pattern "*.exa*mple.com": only a leading *. is allowed, as in *.example.com`},
		{[]string{"*."}, `host pattern "*.": only a leading *. is allowed, as in *.example.com`},
		{[]string{"10.0.0.0/33"}, `network "10.0.0.0/33": netip.ParsePrefix("10.0.0.0/33"): `}, // then Go's reason
		{[]string{"shop.example.com:443"}, `host "shop.example.com:443": want a name, *.domain, an address or a network`},
		{[]string{" "}, `an empty host is not a rule`},
	} {
		if err := ParseAllowHosts(tc.entries); err == nil || err.Error() != tc.err && !(strings.HasSuffix(tc.err, ": ") && strings.HasPrefix(err.Error(), tc.err)) {
			t.Errorf("%v: got %v, want %q", tc.entries, err, tc.err)
		}
	}
	a, err := NewURLTestAgent(URLTestOptions{AllowHosts: []string{"Shop.Example.com", "*.internal.example.com", "10.1.0.0/16", "192.0.2.7", "2001:db8::/32"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for raw, ok := range map[string]bool{
		"http://shop.example.com/":                 true,
		"https://SHOP.example.com.:8443/x":         true,
		"http://a.internal.example.com/":           true,
		"http://a.b.internal.example.com/":         true,
		"http://internal.example.com/":             false, // *.domain is below the domain only
		"http://evilinternal.example.com/":         false,
		"http://shop.example.com.evil.test/":       false,
		"http://10.1.2.3/":                         true,
		"http://10.2.0.1/":                         false,
		"http://192.0.2.7:8080/":                   true,
		"http://[2001:db8::1]/":                    true,
		"http://[::ffff:10.1.0.9]/":                true,
		"http://169.254.169.254/latest/meta-data/": false,
		"http://localhost/":                        false,
	} {
		u, _ := url.Parse(raw)
		if err := a.allowed(u); (err == nil) != ok {
			t.Errorf("%s: allowed=%v (%v), want %v", raw, err == nil, err, ok)
		}
	}
	res := a.Call(context.Background(), Request{Action: "perftest", Data: json.RawMessage(`{"url":"http://169.254.169.254/latest/meta-data/"}`)})
	want := "urltest: host 169.254.169.254 is not in this agent's urltest allow_hosts (Shop.Example.com, *.internal.example.com, 10.1.0.0/16, 192.0.2.7, 2001:db8::/32)"
	if res.Status != protocol.Unauthorized || res.Message != want {
		t.Fatalf("refused host: %d %q", res.Status, res.Message)
	}
}

// An allowed host that redirects to one the allow-list leaves out is
// refused at the redirect, against a real server.
func TestURLTestAllowListHoldsOverRedirects(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ok" {
			w.Write([]byte("fine"))
			return
		}
		// The same server by another name.
		http.Redirect(w, r, strings.Replace("http://"+r.Host, "127.0.0.1", "localhost", 1)+"/ok", http.StatusFound)
	}))
	defer srv.Close()
	a, err := NewURLTestAgent(URLTestOptions{AllowHosts: []string{"127.0.0.1"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	res := a.Call(context.Background(), Request{Action: "perftest", Data: json.RawMessage(`{"url":"` + srv.URL + `/ok"}`)})
	var r URLTestReply
	b, _ := json.Marshal(res.Data)
	json.Unmarshal(b, &r)
	if res.Status != protocol.OK || r.Status != 200 || r.Bytes != 4 || r.URL != srv.URL+"/ok" {
		t.Fatalf("allowed fetch: %d %q %+v", res.Status, res.Message, r)
	}
	res = a.Call(context.Background(), Request{Action: "perftest", Data: json.RawMessage(`{"url":"` + srv.URL + `/away"}`)})
	want := "urltest " + srv.URL + "/away: refused: redirected to " + strings.Replace(srv.URL, "127.0.0.1", "localhost", 1) + "/ok: host localhost is not in this agent's urltest allow_hosts (127.0.0.1)"
	if res.Status != protocol.Aborted || res.Message != want {
		t.Fatalf("redirect to a refused host: %d %q\nwant %q", res.Status, res.Message, want)
	}
}

// FuzzURLTestAllowHosts feeds allow-lists and URLs from outside (the config
// and the bus): parsing never panics, and a list of plain names lets
// through only those names.
func FuzzURLTestAllowHosts(f *testing.F) {
	f.Add("shop.example.com,*.example.com,10.0.0.0/8", "http://a.example.com:8080/x")
	f.Add("192.0.2.7,2001:db8::/32", "http://[2001:db8::1]/")
	f.Add("Shop.Example.COM.", "https://shop.example.com./")
	f.Add("*.", "http://%2e/")
	f.Fuzz(func(t *testing.T, list, raw string) {
		entries := strings.Split(list, ",")
		a, err := NewURLTestAgent(URLTestOptions{AllowHosts: entries}, nil)
		if err != nil {
			return
		}
		u, err := url.Parse(raw)
		if err != nil {
			return
		}
		if a.allowed(u) != nil {
			return
		}
		host := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
		for _, e := range entries {
			if strings.ContainsAny(e, "*/") {
				return // patterns and networks match more than themselves
			}
			if _, err := netip.ParseAddr(strings.TrimSpace(e)); err == nil {
				return
			}
			if strings.ToLower(strings.TrimSuffix(strings.TrimSpace(e), ".")) == host {
				return
			}
		}
		t.Fatalf("%q let %q (host %q) through", entries, raw, host)
	})
}
