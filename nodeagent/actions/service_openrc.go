package actions

import (
	"context"
	"strings"
)

// OpenRCProvider manages services with rc-service and rc-update.
type OpenRCProvider struct {
	r CmdRunner
}

// NewOpenRCProvider returns the OpenRC provider running commands through r.
func NewOpenRCProvider(r CmdRunner) *OpenRCProvider { return &OpenRCProvider{r: r} }

// Name implements ServiceProvider.
func (p *OpenRCProvider) Name() string { return "openrc" }

func (p *OpenRCProvider) rcService(ctx context.Context, name, verb string) error {
	_, err := runOK(ctx, p.r, CmdSpec{Name: "rc-service", Args: []string{name, verb}})
	return err
}

// Change implements ServiceProvider: rc-service NAME ACTION.
func (p *OpenRCProvider) Change(ctx context.Context, name, action string) error {
	return p.rcService(ctx, name, action)
}

// Status implements ServiceProvider: rc-service status exits 0 only for a
// started service; rc-update show lists the services in a runlevel.
func (p *OpenRCProvider) Status(ctx context.Context, name string) (ServiceStatus, error) {
	res, err := p.r.Run(ctx, CmdSpec{Name: "rc-service", Args: []string{name, "status"}})
	if err != nil {
		return ServiceStatus{}, err
	}
	st := ServiceStatus{Service: name, Status: ServiceStopped}
	if res.ExitCode == 0 {
		st.Status = ServiceRunning
	}
	show, err := p.r.Run(ctx, CmdSpec{Name: "rc-update", Args: []string{"show"}})
	if err != nil {
		return ServiceStatus{}, err
	}
	if show.ExitCode == 0 {
		_, enabled := parseRcUpdateShow(string(show.Stdout))[name]
		st.Enabled = new(enabled)
	}
	return st, nil
}

// parseRcUpdateShow reads lines such as
//
//	 sshd | default
//	local |      default
//
// into the set of services with at least one runlevel.
func parseRcUpdateShow(out string) map[string][]string {
	m := map[string][]string{}
	for line := range strings.SplitSeq(out, "\n") {
		name, levels, ok := strings.Cut(line, "|")
		name = strings.TrimSpace(name)
		if !ok || name == "" || strings.ContainsAny(name, " \t") {
			continue
		}
		if f := strings.Fields(levels); len(f) > 0 {
			m[name] = append(m[name], f...)
		}
	}
	return m
}
