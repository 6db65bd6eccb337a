package actions

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/pulseops/pulse/internal/protocol"
	"github.com/pulseops/pulse/probes"
)

// DefaultURLTestTimeout is the longest a urltest may take when the agent's
// config does not say.
const DefaultURLTestTimeout = 10 * time.Second

// maxURLTestURL bounds the URL a caller may send.
const maxURLTestURL = 2048

// URLTestOptions configure the urltest agent.
type URLTestOptions struct {
	// AllowHosts, when not empty, are the only hosts a test may fetch, the
	// URL's and every redirect's: a name ("shop.example.com"), every name
	// under a domain ("*.example.com", not the domain itself), or an
	// address or network for URLs that name an address ("10.0.0.0/8").
	AllowHosts []string
	// Timeout is the longest one test may take; a caller may ask for less
	// (DefaultURLTestTimeout when zero).
	Timeout time.Duration
}

// hostRule is one parsed AllowHosts entry.
type hostRule struct {
	name   string // exact, lower case
	suffix string // ".example.com" for "*.example.com"
	prefix netip.Prefix
}

// ParseAllowHosts checks AllowHosts entries, for config loading.
func ParseAllowHosts(entries []string) error {
	_, err := parseHostRules(entries)
	return err
}

func parseHostRules(entries []string) ([]hostRule, error) {
	var rules []hostRule
	for _, e := range entries {
		e = strings.TrimSpace(e)
		switch {
		case e == "":
			return nil, fmt.Errorf("an empty host is not a rule")
		case strings.HasPrefix(e, "*."):
			if strings.ContainsAny(e[2:], "*/:") || len(e) < 3 {
				return nil, fmt.Errorf("host pattern %q: only a leading *. is allowed, as in *.example.com", e)
			}
			rules = append(rules, hostRule{suffix: strings.ToLower(e[1:])})
		case strings.Contains(e, "/"):
			p, err := netip.ParsePrefix(e)
			if err != nil {
				return nil, fmt.Errorf("network %q: %w", e, err)
			}
			rules = append(rules, hostRule{prefix: p.Masked()})
		default:
			if a, err := netip.ParseAddr(e); err == nil {
				rules = append(rules, hostRule{prefix: netip.PrefixFrom(a, a.BitLen())})
				continue
			}
			if strings.ContainsAny(e, "*:/ ") {
				return nil, fmt.Errorf("host %q: want a name, *.domain, an address or a network", e)
			}
			rules = append(rules, hostRule{name: strings.ToLower(strings.TrimSuffix(e, "."))})
		}
	}
	return rules, nil
}

// URLTestAgent is the "urltest" RPC agent, after mco's: each node fetches a
// URL and reports how long each phase took, so a slow site can be told from
// a slow network, zone by zone. It fetches through the probe runner.
type URLTestAgent struct {
	rules   []hostRule
	allow   []string
	timeout time.Duration
	log     *slog.Logger
}

// NewURLTestAgent returns the urltest agent; it fails on a bad AllowHosts
// entry.
func NewURLTestAgent(o URLTestOptions, log *slog.Logger) (*URLTestAgent, error) {
	rules, err := parseHostRules(o.AllowHosts)
	if err != nil {
		return nil, fmt.Errorf("urltest allow_hosts: %w", err)
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultURLTestTimeout
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &URLTestAgent{rules: rules, allow: o.AllowHosts, timeout: o.Timeout, log: log.With("component", "actions.urltest")}, nil
}

// Name implements Agent.
func (a *URLTestAgent) Name() string { return "urltest" }

// Actions implements Agent.
func (a *URLTestAgent) Actions() []string { return []string{"perftest"} }

// URLTestReply is the data of a perftest reply: the URL, then the timings
// of probes.URLTestResult. Its JSON names are a contract with the CLI.
type URLTestReply struct {
	URL string `json:"url"`
	probes.URLTestResult
}

// Call implements Agent. A fetch that fails is status 1 (aborted) with the
// reason and the timings of what ran; a URL that is not http or https is
// status 4, and a host the agent's allow-list refuses status 6.
func (a *URLTestAgent) Call(ctx context.Context, req Request) Result {
	if req.Action != "perftest" {
		return Fail(protocol.UnknownAction, fmt.Sprintf("unknown action %q for agent urltest; known actions: perftest", req.Action))
	}
	in, r := decodeData(req, "urltest", []string{"url"}, "timeout")
	if r != nil {
		return *r
	}
	raw := in["url"]
	if len(raw) > maxURLTestURL {
		return Fail(protocol.InvalidData, fmt.Sprintf("urltest: the URL is %d bytes long, more than %d", len(raw), maxURLTestURL))
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return Fail(protocol.InvalidData, fmt.Sprintf("urltest: %s is not a URL: %v", quoteShort(raw), err))
	case u.Scheme == "":
		return Fail(protocol.InvalidData, fmt.Sprintf("urltest: %s is not an absolute URL; give one such as https://example.com/", quoteShort(raw)))
	case u.Scheme != "http" && u.Scheme != "https":
		return Fail(protocol.InvalidData, fmt.Sprintf("urltest fetches only http and https URLs, not %s", quoteShort(u.Scheme+":")))
	case u.Host == "" || u.Hostname() == "":
		return Fail(protocol.InvalidData, fmt.Sprintf("urltest: %s has no host", u.Redacted()))
	case u.User != nil:
		return Fail(protocol.InvalidData, "urltest: a URL with a user or password is refused; the timings need no login")
	}
	if err := a.allowed(u); err != nil {
		return Fail(protocol.Unauthorized, "urltest: "+err.Error())
	}
	timeout := a.timeout
	if s := in["timeout"]; s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			return Fail(protocol.InvalidData, fmt.Sprintf("urltest: timeout %s is not a positive duration such as 4s", quoteShort(s)))
		}
		timeout = min(timeout, d)
	}
	res := probes.URLTest(ctx, probes.URLTestOptions{URL: u.String(), Timeout: timeout, AllowHost: a.allowed})
	reply := URLTestReply{URL: u.Redacted(), URLTestResult: res}
	if res.Error != "" {
		a.log.Info("urltest failed", "url", u.Redacted(), "caller", req.Caller, "err", res.Error)
		return Result{Status: protocol.Aborted, Message: "urltest " + u.Redacted() + ": " + res.Error, Data: reply}
	}
	return OK(reply)
}

// allowed applies the allow-list to u's host; with none, every host is.
func (a *URLTestAgent) allowed(u *url.URL) error {
	if len(a.rules) == 0 {
		return nil
	}
	host := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
	addr, addrErr := netip.ParseAddr(host)
	for _, r := range a.rules {
		switch {
		case r.prefix.IsValid():
			if addrErr == nil && r.prefix.Contains(addr.Unmap()) {
				return nil
			}
		case r.suffix != "":
			if addrErr != nil && strings.HasSuffix(host, r.suffix) {
				return nil
			}
		case host == r.name:
			return nil
		}
	}
	return fmt.Errorf("host %s is not in this agent's urltest allow_hosts (%s)", host, strings.Join(a.allow, ", "))
}
