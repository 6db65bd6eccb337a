package actions

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/pulseops/pulse/internal/protocol"
	"github.com/pulseops/pulse/nodeagent/checks"
)

// ValidateRequest checks a request for one of pulse's own agents the way
// the agent itself checks it before it acts — the same action list, data
// keys and name rules, by running the agent's own Call over a provider that
// refuses to do anything — and says why the agent would refuse it. A sender
// that builds requests from outside input (the remediation engine, from
// alert labels) calls it so that a value an agent would refuse is never
// sent. Package names must satisfy every package manager pulse drives,
// since a sender does not know which one a node has. Agents pulse does not
// ship are not known here: for them it returns nil.
func ValidateRequest(agent, action string, data map[string]any) error {
	var a Agent
	switch agent {
	case "service":
		a = NewServiceAgent(dryService{}, nil)
	case "package":
		a = NewPackageAgent(dryPackages{}, nil)
	case "nrpe":
		return validateNRPE(action, data)
	default:
		return nil
	}
	b, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("%s.%s: data does not encode as JSON: %w", agent, action, err)
	}
	r := a.Call(context.Background(), Request{ID: "validate", Caller: "validate", Action: action, Data: b})
	switch r.Status {
	case protocol.UnknownAction, protocol.MissingData, protocol.InvalidData:
		return errors.New(r.Message)
	}
	return nil
}

// validateNRPE checks a runcommand as the nrpe agent's runner does before
// it looks the command up; which commands a node has is its own business.
func validateNRPE(action string, data map[string]any) error {
	if action != "runcommand" {
		r := NewNRPEAgent(checks.NewRunner(checks.RunnerOptions{}), slog.New(slog.DiscardHandler)).Call(context.Background(), Request{Action: action})
		if r.Status == protocol.UnknownAction {
			return errors.New(r.Message)
		}
		return nil
	}
	b, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("nrpe.runcommand: data does not encode as JSON: %w", err)
	}
	var in NRPERunRequest
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return fmt.Errorf("nrpe.runcommand data: %w", err)
	}
	if err := checks.ValidName(in.Command); err != nil {
		return fmt.Errorf("nrpe.runcommand: %w", err)
	}
	for i, a := range in.Args {
		if err := checks.ValidArgument(a); err != nil {
			return fmt.Errorf("nrpe.runcommand: argument %d: %w", i+1, err)
		}
	}
	return nil
}

// errDry is what the validating providers answer instead of acting.
var errDry = errors.New("validation only: nothing was run")

// dryService is a service provider that never changes anything.
type dryService struct{}

func (dryService) Name() string                                 { return "validate" }
func (dryService) Change(context.Context, string, string) error { return errDry }
func (dryService) Status(context.Context, string) (ServiceStatus, error) {
	return ServiceStatus{}, errDry
}

// dryPackages is a package provider that never changes anything and
// accepts a name only if every real provider would.
type dryPackages struct{}

func (dryPackages) Name() string { return "validate" }
func (dryPackages) ValidateName(name string) error {
	for _, p := range []PackageProvider{NewAptProvider(nil), NewDnfProvider("dnf", nil), NewApkProvider(nil)} {
		if err := p.ValidateName(name); err != nil {
			return err
		}
	}
	return nil
}
func (dryPackages) Status(context.Context, string) (PackageStatus, error) {
	return PackageStatus{}, errDry
}
func (dryPackages) Install(context.Context, string, string) error { return errDry }
func (dryPackages) Uninstall(context.Context, string) error       { return errDry }
func (dryPackages) Purge(context.Context, string) error           { return errDry }
func (dryPackages) Update(context.Context, string) error          { return errDry }
func (dryPackages) CheckUpdates(context.Context) ([]OutdatedPackage, error) {
	return nil, errDry
}
