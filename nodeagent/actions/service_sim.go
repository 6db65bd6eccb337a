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
	// Provides maps a service to the package that provides it, for
	// NewSimSystem; nil means DefaultSimProvides().
	Provides map[string]string
}

// DefaultSimProvides returns which package of the demo repository provides
// which service.
func DefaultSimProvides() map[string]string {
	return map[string]string{
		"cron":         "cron",
		"haproxy":      "haproxy",
		"httpd":        "httpd",
		"nginx":        "nginx",
		"postgresql":   "postgresql",
		"redis-server": "redis-server",
		"sshd":         "openssh-server",
		"shop":         "shop",
	}
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

	// provides maps a service to its package; missing names the package
	// of each service that is absent because its package is.
	provides map[string]string

	mu       sync.Mutex // guards services, missing and failures
	services map[string]SimService
	missing  map[string]string
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
	return &SimServiceProvider{delay: o.Delay, services: maps.Clone(o.Services), missing: map[string]string{}, failures: map[string]error{}}
}

// NewSimSystem returns one simulated node's package manager and init
// system, linked as on a real node: a service exists only while the package
// that provides it is installed. Installing the package adds the service,
// stopped and disabled, as Debian's packages leave a service the node did
// not ask for; removing the package removes the service; starting a service
// whose package is absent fails as service(8) does. A Changed hook in po
// is told after the service side has followed.
func NewSimSystem(po SimPackageOptions, so SimServiceOptions) (*SimPackageProvider, *SimServiceProvider) {
	svc := NewSimServiceProvider(so)
	svc.provides = so.Provides
	if svc.provides == nil {
		svc.provides = DefaultSimProvides()
	}
	also := po.Changed
	po.Changed = func(name string, installed bool) {
		svc.packageChanged(name, installed)
		if also != nil {
			also(name, installed)
		}
	}
	pkgs := NewSimPackageProvider(po)
	for name, pkg := range svc.provides {
		if !pkgs.Installed(pkg) {
			delete(svc.services, name)
			svc.missing[name] = pkg
		}
	}
	return pkgs, svc
}

// packageChanged adds or removes the services pkg provides.
func (p *SimServiceProvider) packageChanged(pkg string, installed bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for name, from := range p.provides {
		if from != pkg {
			continue
		}
		_, exists := p.services[name]
		switch {
		case installed && !exists:
			p.services[name] = SimService{}
			delete(p.missing, name)
		case !installed && exists:
			delete(p.services, name)
			p.missing[name] = pkg
		}
	}
}

// notFound is service(8)'s answer for a service it does not know, with the
// package that would provide it when the simulation knows one.
//
// p.mu must be held.
func (p *SimServiceProvider) notFound(name string) error {
	if pkg, ok := p.missing[name]; ok {
		return fmt.Errorf("%s: unrecognized service (its package %s is not installed)", name, pkg)
	}
	return fmt.Errorf("%s: unrecognized service", name)
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
	if !known {
		defer p.mu.Unlock()
		return p.notFound(name)
	}
	p.mu.Unlock()
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
	s, ok := p.services[name]
	if !ok {
		// Its package went away while the change waited.
		return p.notFound(name)
	}
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
		return ServiceStatus{}, p.notFound(name)
	}
	st := ServiceStatus{Service: name, Status: ServiceStopped, Enabled: new(s.Enabled)}
	if s.Running {
		st.Status = ServiceRunning
	}
	return st, nil
}
