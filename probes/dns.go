package probes

import (
	"context"
	"errors"
	"fmt"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pulseops/pulse/internal/protocol"
)

// dnsProbe resolves a name and checks the answers.
type dnsProbe struct {
	name   string
	record string // A, AAAA, CNAME, MX, NS, TXT
	server string // host:port; empty uses the system resolver
	expect *regexp.Regexp
}

func runDNS(ctx context.Context, p *Probe) Result {
	var res Result
	dp := p.dns
	name := expand(dp.name, p.vars)
	r := net.DefaultResolver
	via := "the system resolver"
	if dp.server != "" {
		server, err := serverAddr(expand(dp.server, p.vars))
		if err != nil {
			return fail(Result{Steps: []protocol.StepResult{{Name: "resolve"}}}, "resolve", err)
		}
		via = server
		// The pure-Go resolver sends its queries to whatever Dial returns,
		// so pointing Dial at the server asks it and only it.
		r = &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, server)
		}}
	}
	start := time.Now()
	answers, err := lookup(ctx, r, dp.record, name)
	took := time.Since(start)
	res.Steps = []protocol.StepResult{{Name: "resolve", Duration: took.Seconds(), Phases: map[string]float64{"dns": took.Seconds()}}}
	switch {
	case err != nil:
		// net.DNSError names the resolv.conf server even when Dial sent
		// the query elsewhere; keep only its reason.
		var de *net.DNSError
		if errors.As(err, &de) {
			err = errors.New(de.Err)
		}
		return fail(res, "resolve", fmt.Errorf("%s %s via %s: %w", dp.record, name, via, err))
	case len(answers) == 0:
		return fail(res, "resolve", fmt.Errorf("%s %s via %s: no answers", dp.record, name, via))
	case dp.expect != nil && !slices.ContainsFunc(answers, dp.expect.MatchString):
		return fail(res, "resolve", fmt.Errorf("%s %s via %s: no answer matched %q (answers: %s)", dp.record, name, via, dp.expect.String(), strings.Join(answers, ", ")))
	}
	return res
}

// lookup returns the answers as text: addresses, host names, "pref host"
// for MX and the joined strings of each TXT record.
func lookup(ctx context.Context, r *net.Resolver, record, name string) ([]string, error) {
	var out []string
	switch record {
	case "A", "AAAA":
		network := "ip4"
		if record == "AAAA" {
			network = "ip6"
		}
		ips, err := r.LookupIP(ctx, network, name)
		for _, ip := range ips {
			out = append(out, ip.String())
		}
		return out, err
	case "CNAME":
		c, err := r.LookupCNAME(ctx, name)
		if c != "" {
			out = append(out, c)
		}
		return out, err
	case "MX":
		mxs, err := r.LookupMX(ctx, name)
		for _, mx := range mxs {
			out = append(out, strconv.Itoa(int(mx.Pref))+" "+mx.Host)
		}
		return out, err
	case "NS":
		nss, err := r.LookupNS(ctx, name)
		for _, ns := range nss {
			out = append(out, ns.Host)
		}
		return out, err
	default: // TXT; Parse allows nothing else
		return r.LookupTXT(ctx, name)
	}
}

// serverAddr turns "host" or "host:port" into host:port, port 53 by default.
func serverAddr(s string) (string, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		// A bare host or address means the standard port.
		host, port = strings.Trim(s, "[]"), "53"
	}
	if _, perr := strconv.ParseUint(port, 10, 16); perr != nil || host == "" || strings.ContainsAny(host, "/ []") {
		return "", fmt.Errorf("dns server %q must be host or host:port", s)
	}
	return net.JoinHostPort(host, port), nil
}
