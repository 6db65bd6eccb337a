// Package actions holds the RPC agents a node hosts (package, service, nrpe,
// ...) and their providers. Every name that reaches a command line is
// validated here and passed as an argument vector, never through a shell.
package actions

import (
	"context"
	"encoding/json"

	"github.com/pulseops/pulse/internal/protocol"
)

// Request is what an RPC agent sees of a request.
type Request struct {
	ID     string
	Caller string
	Action string
	Data   json.RawMessage
}

// Result is an RPC agent's answer: a status, a message for humans and data.
type Result struct {
	Status  protocol.Status
	Message string
	Data    any
	// Change, set by an action that changed the node (or tried to), is
	// published by the node agent as a change event.
	Change *Change
}

// Change is what a changing action did, or tried to do, to the node.
type Change struct {
	// Kind is the agent ("package", "service"), Name the package or
	// service, From and To its version or state before and after.
	Kind, Name, From, To string
	// Unchanged says the action ran and found nothing to do: a package
	// already at the version asked for, a running service started.
	Unchanged bool
}

// Agent is one RPC agent, such as "package" or "service".
type Agent interface {
	Name() string
	// Actions lists the agent's actions; the node agent asks once, when it
	// is built, so the list must not change.
	Actions() []string
	Call(ctx context.Context, req Request) Result
}

// OK returns a successful result carrying data.
func OK(data any) Result { return Result{Status: protocol.OK, Message: "OK", Data: data} }

// Fail returns a result with status s and a message.
func Fail(s protocol.Status, msg string) Result { return Result{Status: s, Message: msg} }
