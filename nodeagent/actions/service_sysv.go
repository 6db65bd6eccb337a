package actions

import (
	"context"
	"fmt"
	"strings"
)

// SysvProvider manages services through service(8) and LSB init scripts.
type SysvProvider struct {
	r CmdRunner
}

// NewSysvProvider returns the sysv provider running commands through r.
func NewSysvProvider(r CmdRunner) *SysvProvider { return &SysvProvider{r: r} }

// Name implements ServiceProvider.
func (p *SysvProvider) Name() string { return "sysv" }

func (p *SysvProvider) service(ctx context.Context, name, verb string) error {
	res, err := p.r.Run(ctx, CmdSpec{Name: "service", Args: []string{name, verb}})
	if err != nil {
		return err
	}
	if unrecognized(res) {
		return fmt.Errorf("service %s not found: service(8) does not recognise it; is there an init script for it in /etc/init.d?", name)
	}
	if res.ExitCode != 0 {
		return fmt.Errorf("service %s %s exited with status %d: %s", name, verb, res.ExitCode, outputTail(res))
	}
	return nil
}

func unrecognized(res CmdResult) bool {
	return strings.Contains(string(res.Stdout), "unrecognized service") || strings.Contains(string(res.Stderr), "unrecognized service")
}

// Change implements ServiceProvider: service NAME ACTION.
func (p *SysvProvider) Change(ctx context.Context, name, action string) error {
	return p.service(ctx, name, action)
}

// Status implements ServiceProvider from the LSB status exit code: 0 is
// running; 1 and 2 (dead, with a pid or lock file left behind) and 3 are
// stopped; 4 and anything else is an error. sysv has no reliable notion of
// enabled, so Enabled stays unknown.
func (p *SysvProvider) Status(ctx context.Context, name string) (ServiceStatus, error) {
	res, err := p.r.Run(ctx, CmdSpec{Name: "service", Args: []string{name, "status"}})
	if err != nil {
		return ServiceStatus{}, err
	}
	if unrecognized(res) {
		return ServiceStatus{}, fmt.Errorf("service %s not found: service(8) does not recognise it; is there an init script for it in /etc/init.d?", name)
	}
	switch res.ExitCode {
	case 0:
		return ServiceStatus{Service: name, Status: ServiceRunning}, nil
	case 1, 2, 3:
		return ServiceStatus{Service: name, Status: ServiceStopped}, nil
	}
	return ServiceStatus{}, fmt.Errorf("service %s status exited with status %d (LSB: unknown): %s", name, res.ExitCode, outputTail(res))
}
