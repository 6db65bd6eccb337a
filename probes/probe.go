// Package probes runs business probes: a YAML file describes a user journey
// ("open the login page, post the credentials, see my name") or a plain
// tcp/dns check, and Run performs it once and reports success, the step that
// failed, and per-step phase timings.
//
// Like blackbox_exporter's prober package, each protocol is one file behind
// the prober function type, looked up by the probe's type. Specs are
// validated completely at load, with file:line for every error, so a bad
// probe is rejected when the agent starts rather than failing at 3 a.m.
//
// This package never schedules, counts or publishes: the agent's scheduler
// calls Run on the probe's interval and keeps the cumulative counters. It
// never logs secrets either: variable values appear only in requests.
package probes

import (
	"context"
	"maps"
	"strconv"
	"time"

	"github.com/pulseops/pulse/internal/protocol"
)

// Defaults for a probe that does not set them.
const (
	DefaultInterval = 30 * time.Second
	DefaultTimeout  = 10 * time.Second
	// MaxRedirects is how many redirects one HTTP step follows before it
	// fails as a redirect loop.
	MaxRedirects = 10
	// maxBody bounds how much of a response is read for assertions, so a
	// runaway endpoint cannot exhaust the agent's memory.
	maxBody = 4 << 20
)

// Probe is one loaded, validated probe. It is immutable after Load or Parse,
// so one Probe may be run from many goroutines.
type Probe struct {
	Name string
	// Type is "http", "tcp" or "dns".
	Type string
	// Interval is how often the agent's scheduler should run the probe.
	Interval time.Duration
	// Timeout bounds one whole run.
	Timeout time.Duration
	// File is where the probe was loaded from, for messages.
	File string

	vars  map[string]string
	steps []step    // http
	tcp   *tcpProbe // tcp
	dns   *dnsProbe // dns
}

// Result is the outcome of one run.
type Result struct {
	Success bool
	// FailedStep names the step that failed; empty on success.
	FailedStep string
	// Error says why the run failed, prefixed with the step name.
	Error    string
	Duration time.Duration
	// Steps holds the steps that ran, in order; the failed one is last.
	Steps []protocol.StepResult
}

// Vars returns a copy of the probe's variables (defaults from the file, as
// overridden by WithVars).
func (p *Probe) Vars() map[string]string { return maps.Clone(p.vars) }

// WithVars returns a copy of p whose variables are overridden by vars, for
// agent configuration such as a per-site base_url or a password kept out of
// the probe file. p itself is not changed.
func (p *Probe) WithVars(vars map[string]string) *Probe {
	q := *p
	q.vars = maps.Clone(p.vars)
	if q.vars == nil {
		q.vars = map[string]string{}
	}
	maps.Copy(q.vars, vars)
	return &q
}

// prober runs one kind of probe once within ctx, which already carries the
// probe's timeout.
type prober func(ctx context.Context, p *Probe) Result

// probers maps a probe type to the function that runs it. It is built per
// call rather than kept in a package variable so nothing can register into
// it at run time.
func probers() map[string]prober {
	return map[string]prober{
		"http": runHTTP,
		"tcp":  runTCP,
		"dns":  runDNS,
	}
}

// Run performs p once. It never returns an error: every failure, including
// a timeout, is a failed Result with the step and the reason.
func Run(ctx context.Context, p *Probe) Result {
	start := time.Now()
	run, ok := probers()[p.Type]
	if !ok {
		// Parse rejects unknown types, so only a zero Probe gets here.
		return Result{FailedStep: p.Type, Error: "unknown probe type " + strconv.Quote(p.Type)}
	}
	timeout := p.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	res := run(ctx, p)
	res.Duration = time.Since(start)
	res.Success = res.Error == ""
	return res
}

// fail marks the last step of res as failed with err and returns res.
func fail(res Result, step string, err error) Result {
	res.FailedStep = step
	res.Error = step + ": " + err.Error()
	if n := len(res.Steps); n > 0 && res.Steps[n-1].Name == step {
		res.Steps[n-1].Error = err.Error()
	}
	return res
}
