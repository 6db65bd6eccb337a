package actions

import (
	"context"
	"strings"
)

// SystemdProvider manages services with systemctl.
type SystemdProvider struct {
	r CmdRunner
}

// NewSystemdProvider returns the systemd provider running commands through r.
func NewSystemdProvider(r CmdRunner) *SystemdProvider { return &SystemdProvider{r: r} }

// Name implements ServiceProvider.
func (p *SystemdProvider) Name() string { return "systemd" }

func (p *SystemdProvider) systemctl(ctx context.Context, verb, name string) error {
	_, err := runOK(ctx, p.r, CmdSpec{Name: "systemctl", Args: []string{verb, name}})
	return err
}

// Change implements ServiceProvider: systemctl ACTION NAME.
func (p *SystemdProvider) Change(ctx context.Context, name, action string) error {
	return p.systemctl(ctx, action, name)
}

// Status implements ServiceProvider. is-active and is-enabled report through
// both exit code and one word on stdout; the word is read because it tells
// "disabled" from "static" where the exit code does not.
func (p *SystemdProvider) Status(ctx context.Context, name string) (ServiceStatus, error) {
	act, err := p.r.Run(ctx, CmdSpec{Name: "systemctl", Args: []string{"is-active", name}})
	if err != nil {
		return ServiceStatus{}, err
	}
	st := ServiceStatus{Service: name, Status: ServiceStopped}
	switch strings.TrimSpace(string(act.Stdout)) {
	case "active", "reloading", "deactivating":
		st.Status = ServiceRunning
	}
	en, err := p.r.Run(ctx, CmdSpec{Name: "systemctl", Args: []string{"is-enabled", name}})
	if err != nil {
		return ServiceStatus{}, err
	}
	st.Enabled = systemdEnabled(strings.TrimSpace(string(en.Stdout)))
	return st, nil
}

// systemdEnabled maps is-enabled's word to enabled or not; static, indirect,
// generated and transient units have no boot setting of their own, so they
// are reported as unknown.
func systemdEnabled(word string) *bool {
	switch word {
	case "enabled", "enabled-runtime", "alias", "linked", "linked-runtime":
		return new(true)
	case "disabled", "masked", "masked-runtime":
		return new(false)
	}
	return nil
}
