package actions

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/pulseops/pulse/internal/protocol"
)

// afterChange is the reply to a changing action of kind ("package",
// "service") on name: the state after the change, also when the change
// failed, so the caller sees where the node was left, and the change
// itself (from before to after) for the node's change event.
func afterChange(log *slog.Logger, kind string, req Request, name string, err error, st any, stErr error, ch *Change) Result {
	res := afterChangeReply(log, kind, req, name, err, st, stErr)
	res.Change = ch
	return res
}

func afterChangeReply(log *slog.Logger, kind string, req Request, name string, err error, st any, stErr error) Result {
	if err != nil {
		log.Warn(kind+" change failed", "action", req.Action, kind, name, "caller", req.Caller, "err", err)
		code := protocol.UnknownError
		if errors.Is(err, ErrPatternName) {
			code = protocol.InvalidData // the request's fault, refused before any change
		}
		res := Fail(code, fmt.Sprintf("%s %s %s failed: %v", kind, req.Action, name, err))
		if stErr == nil {
			res.Data = st
		}
		return res
	}
	if stErr != nil {
		return Fail(protocol.UnknownError, fmt.Sprintf("%s %s %s done, but reading its status failed: %v", kind, req.Action, name, stErr))
	}
	log.Info(kind+" changed", "action", req.Action, kind, name, "state", st, "caller", req.Caller)
	return OK(st)
}
