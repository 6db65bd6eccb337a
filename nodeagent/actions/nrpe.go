package actions

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"

	"github.com/pulseops/pulse/internal/agentapi"
	"github.com/pulseops/pulse/internal/protocol"
	"github.com/pulseops/pulse/nodeagent/checks"
)

// NRPEAgent is the "nrpe" RPC agent: it runs configured nrpe-style checks
// on request, as mco's nrpe agent does. A check that reports WARNING or
// CRITICAL is still a successful RPC; the check's state is in the reply's
// exitcode and status.
type NRPEAgent struct {
	runner *checks.Runner
	log    *slog.Logger
}

// NRPERunRequest is the data of a runcommand request.
type NRPERunRequest struct {
	Command string   `json:"command"`
	Args    []string `json:"args,omitempty"`
}

// The nrpe agent's reply types are its contract with the CLI, defined in
// internal/agentapi.
type (
	NRPERunReply  = agentapi.NRPERunReply
	NRPEListReply = agentapi.NRPEListReply
)

// NewNRPEAgent returns the nrpe agent running checks through r.
func NewNRPEAgent(r *checks.Runner, log *slog.Logger) *NRPEAgent {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &NRPEAgent{runner: r, log: log.With("component", "nrpe-agent")}
}

// Name is the agent's name on the bus.
func (a *NRPEAgent) Name() string { return "nrpe" }

// Actions lists the agent's actions.
func (a *NRPEAgent) Actions() []string { return []string{"list", "runcommand"} }

// Call runs one action.
func (a *NRPEAgent) Call(ctx context.Context, req Request) Result {
	switch req.Action {
	case "list":
		return OK(NRPEListReply{Commands: a.runner.Commands()})
	case "runcommand":
		return a.runCommand(ctx, req)
	default:
		return Fail(protocol.UnknownAction, "nrpe has no action "+req.Action+"; actions are list, runcommand")
	}
}

func (a *NRPEAgent) runCommand(ctx context.Context, req Request) Result {
	var in NRPERunRequest
	if len(bytes.TrimSpace(req.Data)) == 0 {
		return Fail(protocol.MissingData, `runcommand needs data {"command": "<name>"}`)
	}
	dec := json.NewDecoder(bytes.NewReader(req.Data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return Fail(protocol.InvalidData, "runcommand data: "+err.Error())
	}
	if in.Command == "" {
		return Fail(protocol.MissingData, `runcommand needs a "command"`)
	}
	o, err := a.runner.Run(ctx, in.Command, in.Args, 0)
	if err != nil {
		// The runner wraps ErrUnknownCommand or ErrInvalidInput with the
		// reason; both mean the caller sent something we refuse.
		status := protocol.InvalidData
		if !errors.Is(err, checks.ErrUnknownCommand) && !errors.Is(err, checks.ErrInvalidInput) {
			status = protocol.UnknownError
		}
		a.log.Warn("nrpe command refused", "caller", req.Caller, "request", req.ID, "err", err)
		return Fail(status, err.Error())
	}
	perf := o.Perfdata
	if perf == nil {
		perf = []protocol.Perf{}
	}
	return OK(NRPERunReply{
		Command:    in.Command,
		ExitCode:   o.Status,
		Status:     protocol.StateName(o.Status),
		Output:     o.Output,
		LongOutput: o.LongOutput,
		Perfdata:   perf,
		Duration:   o.Duration.Seconds(),
	})
}
