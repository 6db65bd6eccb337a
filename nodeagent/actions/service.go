package actions

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/pulseops/pulse/internal/agentapi"
	"github.com/pulseops/pulse/internal/protocol"
)

// ServiceStatus is the service agent's reply data, its contract with the
// CLI, defined in internal/agentapi.
type ServiceStatus = agentapi.ServiceStatus

// The values of ServiceStatus.Status.
const (
	ServiceRunning = agentapi.ServiceRunning
	ServiceStopped = agentapi.ServiceStopped
)

// ServiceProvider is an init system as the service agent uses it. Names
// reach it only after ValidateServiceName accepted them.
type ServiceProvider interface {
	Name() string
	// Change runs action (start, stop, restart or reload) on the service.
	Change(ctx context.Context, name, action string) error
	Status(ctx context.Context, name string) (ServiceStatus, error)
}

// ServiceAgent is the "service" RPC agent.
type ServiceAgent struct {
	p   ServiceProvider
	log *slog.Logger

	// mu guards locks, which holds one single-slot lock per service being
	// changed, with a count of holders and waiters so an entry is removed
	// when nobody needs it: a stream of distinct names cannot grow the map.
	mu    sync.Mutex
	locks map[string]*nameLock
}

type nameLock struct {
	ch   chan struct{}
	refs int
}

// NewServiceAgent returns the service agent over p.
func NewServiceAgent(p ServiceProvider, log *slog.Logger) *ServiceAgent {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &ServiceAgent{
		p:     p,
		log:   log.With("component", "actions.service", "provider", p.Name()),
		locks: map[string]*nameLock{},
	}
}

// Name implements Agent.
func (a *ServiceAgent) Name() string { return "service" }

// Actions implements Agent.
func (a *ServiceAgent) Actions() []string { return slices.Clone(agentapi.ServiceActions) }

// Call implements Agent.
func (a *ServiceAgent) Call(ctx context.Context, req Request) Result {
	if !slices.Contains(agentapi.ServiceActions, req.Action) {
		return Fail(protocol.UnknownAction, fmt.Sprintf("unknown action %q for agent service; known actions: %s", req.Action, strings.Join(agentapi.ServiceActions, ", ")))
	}
	in, r := decodeData(req, "service", []string{"service"})
	if r != nil {
		return *r
	}
	name := in["service"]
	if err := ValidateServiceName(name); err != nil {
		return Fail(protocol.InvalidData, err.Error())
	}
	if req.Action == "status" {
		st, err := a.p.Status(ctx, name)
		if err != nil {
			return Fail(protocol.UnknownError, fmt.Sprintf("service status of %s: %v", name, err))
		}
		return OK(st)
	}

	unlock, err := a.lockName(ctx, name)
	if err != nil {
		return Fail(protocol.Aborted, fmt.Sprintf("service %s %s: gave up waiting for another change of this service: %v", req.Action, name, err))
	}
	defer unlock()

	before := serviceState(a.p.Status(ctx, name))
	err = a.p.Change(ctx, name, req.Action)
	st, stErr := a.p.Status(ctx, name)
	after := serviceState(st, stErr)
	// A restart or reload changes a running service without changing its
	// state; a start of a running service (or a stop of a stopped one)
	// does nothing.
	unchanged := err == nil && before == after && (req.Action == "start" || req.Action == "stop")
	ch := &Change{Kind: "service", Name: name, From: before, To: after, Unchanged: unchanged}
	return afterChange(a.log, "service", req, name, err, st, stErr, ch)
}

// serviceState names a service's state for a change event: running,
// stopped, or unknown when the init system could not say (a service whose
// package is not installed, say).
func serviceState(st ServiceStatus, err error) string {
	if err != nil || st.Status == "" {
		return "unknown"
	}
	return st.Status
}

// lockName waits, bounded by ctx, until no other change of name runs, and
// returns the function that lets the next one in.
func (a *ServiceAgent) lockName(ctx context.Context, name string) (func(), error) {
	a.mu.Lock()
	l := a.locks[name]
	if l == nil {
		l = &nameLock{ch: make(chan struct{}, 1)}
		a.locks[name] = l
	}
	l.refs++
	a.mu.Unlock()

	drop := func() {
		a.mu.Lock()
		l.refs--
		if l.refs == 0 {
			delete(a.locks, name)
		}
		a.mu.Unlock()
	}
	if err := acquire(ctx, l.ch); err != nil {
		drop()
		return nil, err
	}
	return func() { release(l.ch); drop() }, nil
}

// DetectServiceProvider names the init system of the machine whose root
// filesystem is at root ("/" normally; a testdata tree in tests) from the
// name of process 1: "systemd", "openrc" for openrc-init, and otherwise
// "sysv" — except that a plain init with OpenRC's rc-service installed is
// Alpine's busybox init running OpenRC, so "openrc".
func DetectServiceProvider(root string) string {
	b, err := os.ReadFile(filepath.Join(root, "proc", "1", "comm"))
	comm := strings.TrimSpace(string(b))
	switch {
	case err == nil && comm == "systemd":
		return "systemd"
	case err == nil && (comm == "openrc-init" || comm == "openrc"):
		return "openrc"
	}
	if fi, err := os.Stat(filepath.Join(root, "sbin", "openrc-run")); err == nil && !fi.IsDir() {
		return "openrc"
	}
	return "sysv"
}

// NewServiceProvider builds the provider called name ("systemd", "sysv",
// "openrc" or "sim", the latter with its default services), running
// commands through r. It is how configuration forces a provider.
func NewServiceProvider(name string, r CmdRunner) (ServiceProvider, error) {
	switch name {
	case "systemd":
		return NewSystemdProvider(r), nil
	case "sysv":
		return NewSysvProvider(r), nil
	case "openrc":
		return NewOpenRCProvider(r), nil
	case "sim":
		return NewSimServiceProvider(SimServiceOptions{}), nil
	}
	return nil, fmt.Errorf("unknown service provider %q: use systemd, sysv, openrc or sim", name)
}
