package actions

import (
	"context"
	"fmt"
	"maps"
	"sync"
	"time"
)

// SimService is one simulated service's state.
type SimService struct {
	Running bool
	Enabled bool
}

// SimServiceOptions configures a simulated init system.
type SimServiceOptions struct {
	// Services is the node's services and their state. Nil means
	// DefaultSimServices().
	Services map[string]SimService
	// Delay is how long each change takes; zero means 200ms, negative none.
	Delay time.Duration
}

// DefaultSimServices returns a fresh copy of the demo node's services, all
// running and enabled.
func DefaultSimServices() map[string]SimService {
	return map[string]SimService{
		"cron":       {Running: true, Enabled: true},
		"httpd":      {Running: true, Enabled: true},
		"nginx":      {Running: true, Enabled: true},
		"pulse-shop": {Running: true, Enabled: true},
		"sshd":       {Running: true, Enabled: true},
	}
}

// SimServiceProvider is an in-memory init system for the demo, one per
// simulated node. Its Running method lets the demo's simulated checks fail
// while a service is stopped, and SetFailure makes changes fail on demand.
// It never runs anything.
type SimServiceProvider struct {
	delay time.Duration

	mu       sync.Mutex // guards services and failures
	services map[string]SimService
	failures map[string]error
}

// NewSimServiceProvider returns a simulated init system.
func NewSimServiceProvider(o SimServiceOptions) *SimServiceProvider {
	if o.Services == nil {
		o.Services = DefaultSimServices()
	}
	if o.Delay == 0 {
		o.Delay = 200 * time.Millisecond
	}
	return &SimServiceProvider{delay: o.Delay, services: maps.Clone(o.Services), failures: map[string]error{}}
}

// Name implements ServiceProvider.
func (p *SimServiceProvider) Name() string { return "sim" }

// Running reports whether name is running; unknown services are not.
func (p *SimServiceProvider) Running(name string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.services[name].Running
}

// SetRunning changes name's state without going through an action, as a
// crash or a person at the console would; it adds name if unknown.
func (p *SimServiceProvider) SetRunning(name string, running bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.services[name]
	s.Running = running
	p.services[name] = s
}

// SetFailure makes every change of name fail with err, leaving its state
// alone, until called again with a nil err.
func (p *SimServiceProvider) SetFailure(name string, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err == nil {
		delete(p.failures, name)
		return
	}
	p.failures[name] = err
}

// change waits the simulated delay and then applies f to name's state.
func (p *SimServiceProvider) change(ctx context.Context, verb, name string, f func(s *SimService) error) error {
	p.mu.Lock()
	_, known := p.services[name]
	p.mu.Unlock()
	if !known {
		return fmt.Errorf("service %s not found on this simulated node", name)
	}
	if p.delay > 0 {
		t := time.NewTimer(p.delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.failures[name]; err != nil {
		return fmt.Errorf("%s %s (simulated failure): %w", verb, name, err)
	}
	s := p.services[name]
	if err := f(&s); err != nil {
		return err
	}
	p.services[name] = s
	return nil
}

// Change implements ServiceProvider. As with systemd, a stopped service
// cannot be reloaded.
func (p *SimServiceProvider) Change(ctx context.Context, name, action string) error {
	return p.change(ctx, action, name, func(s *SimService) error {
		switch action {
		case "start", "restart":
			s.Running = true
		case "stop":
			s.Running = false
		case "reload":
			if !s.Running {
				return fmt.Errorf("cannot reload %s: it is not running; start it instead", name)
			}
		default:
			return fmt.Errorf("unknown service action %q", action)
		}
		return nil
	})
}

// Status implements ServiceProvider.
func (p *SimServiceProvider) Status(ctx context.Context, name string) (ServiceStatus, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s, ok := p.services[name]
	if !ok {
		return ServiceStatus{}, fmt.Errorf("service %s not found on this simulated node", name)
	}
	st := ServiceStatus{Service: name, Status: ServiceStopped, Enabled: new(s.Enabled)}
	if s.Running {
		st.Status = ServiceRunning
	}
	return st, nil
}
