package act

import (
	"context"
	"strings"

	"github.com/pulseops/pulse/collector/remediation"
	"github.com/pulseops/pulse/internal/filter"
	"github.com/pulseops/pulse/internal/protocol"
	"github.com/pulseops/pulse/internal/rpc"
)

// Executor runs remediation actions through the orchestration client.
type Executor struct{ Client Doer }

// Run runs a on the nodes its filter selects, in its batches.
func (e Executor) Run(ctx context.Context, a remediation.Action) ([]remediation.NodeResult, error) {
	call := rpc.Call{Agent: a.Agent, Action: a.Action, Data: a.Data, Filter: a.Filter, BatchSleep: a.BatchSleep,
		Origin: &protocol.Origin{Via: protocol.ViaRemediation}}
	if a.Batch > 0 {
		call.Batch = rpc.Nodes(a.Batch)
	}
	// An alert that names nodes needs no discovery: address them directly.
	if ids := exactIdentities(a.Filter); ids != nil {
		call.Nodes = ids
	}
	res, err := e.Client.Do(ctx, call)
	if err != nil {
		return nil, err
	}
	out := make([]remediation.NodeResult, 0, len(res.Replies)+len(res.NoResponse))
	for _, r := range res.Replies {
		out = append(out, remediation.NodeResult{Identity: r.Identity, Status: r.Status, Message: r.StatusMsg, Data: r.Data})
	}
	for _, n := range res.NoResponse {
		out = append(out, remediation.NodeResult{Identity: n, Status: protocol.UnknownError, Message: "no response", NoReply: true})
	}
	return out, nil
}

// exactIdentities returns the identities of a filter that selects nodes by
// exact identity alone, or nil.
func exactIdentities(f filter.Spec) []string {
	if len(f.Identity) == 0 || len(f.Fact) > 0 || len(f.Class) > 0 || len(f.Agent) > 0 || f.Compound != "" {
		return nil
	}
	for _, id := range f.Identity {
		if strings.HasPrefix(id, "/") || !protocol.ValidToken(id) {
			return nil
		}
	}
	return f.Identity
}
