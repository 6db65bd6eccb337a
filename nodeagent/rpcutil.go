package nodeagent

import (
	"context"
	"encoding/json"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pulseops/pulse/internal/agentapi"
	"github.com/pulseops/pulse/internal/buildinfo"
	"github.com/pulseops/pulse/internal/filter"
	"github.com/pulseops/pulse/internal/protocol"
	"github.com/pulseops/pulse/nodeagent/actions"
)

// rpcutil is the built-in agent every node hosts: discovery and
// introspection, as MCollective's rpcutil.
type rpcutil struct{ a *Agent }

func (r *rpcutil) Name() string { return "rpcutil" }

func (r *rpcutil) Actions() []string { return slices.Clone(agentapi.RPCUtilActions) }

func (r *rpcutil) Call(ctx context.Context, req actions.Request) actions.Result {
	a := r.a
	switch req.Action {
	case "ping":
		// agentapi.Pong, written by hand, not by encoding/json: every
		// agent answers every ping.
		b := strconv.AppendInt(append(make([]byte, 0, 24), `{"pong":`...), a.opts.Now().Unix(), 10)
		return actions.OK(json.RawMessage(append(b, '}')))
	case "inventory":
		return actions.OK(agentapi.Inventory{
			Agents:         a.names,
			Facts:          a.opts.Facts.Facts(),
			Classes:        nonNil(a.opts.Classes),
			Version:        Version,
			BuildInfo:      buildinfo.Get().Labels(),
			MainCollective: a.opts.Collective,
			Collectives:    []string{a.opts.Collective},
			Started:        a.started.Unix(),
			Uptime:         int64(a.opts.Now().Sub(a.started).Seconds()),
		})
	case "get_fact":
		var d struct {
			Fact string `json:"fact"`
		}
		if err := json.Unmarshal(orEmpty(req.Data), &d); err != nil {
			return actions.Fail(protocol.InvalidData, "get_fact data must be {\"fact\": NAME}: "+err.Error())
		}
		if d.Fact == "" {
			return actions.Fail(protocol.MissingData, "get_fact needs fact=NAME")
		}
		v, _ := filter.Lookup(a.opts.Facts.Facts(), d.Fact)
		return actions.OK(agentapi.Fact{Fact: d.Fact, Value: v})
	case "get_facts":
		var d struct {
			Facts string `json:"facts"`
		}
		if err := json.Unmarshal(orEmpty(req.Data), &d); err != nil {
			return actions.Fail(protocol.InvalidData, "get_facts data must be {\"facts\": \"a,b\"}: "+err.Error())
		}
		if d.Facts == "" {
			return actions.Fail(protocol.MissingData, "get_facts needs facts=NAME,NAME")
		}
		facts := a.opts.Facts.Facts()
		values := map[string]any{}
		for _, f := range strings.Split(d.Facts, ",") {
			if f = strings.TrimSpace(f); f != "" {
				values[f], _ = filter.Lookup(facts, f)
			}
		}
		return actions.OK(agentapi.Facts{Values: values})
	case "agent_inventory":
		var inv agentapi.AgentInventory
		for _, n := range a.names {
			inv.Agents = append(inv.Agents, agentapi.AgentActions{Agent: n, Actions: a.acts[n]})
		}
		return actions.OK(inv)
	case "daemon_stats":
		s := &a.stats
		malformed := make(map[string]uint64, len(s.Malformed))
		for r, n := range s.Malformed {
			malformed[r] = n.Load()
		}
		return actions.OK(agentapi.DaemonStats{
			Malformed:      malformed,
			Requests:       s.Requests.Load(),
			Replies:        s.Replies.Load(),
			Filtered:       s.Filtered.Load(),
			Errors:         s.Errors.Load(),
			TTLExpired:     s.TTLExpired.Load(),
			Unauthorized:   s.Unauthorized.Load(),
			Busy:           s.Busy.Load(),
			ResultsPending: s.ResultsPending.Load(),
			ResultsRetried: s.ResultsRetried.Load(),
			ResultsDropped: s.ResultsDropped.Load(),
			Started:        a.started.Unix(),
			Uptime:         int64(time.Since(a.started).Seconds()),
			Version:        Version,
			PID:            os.Getpid(),
		})
	}
	return actions.Fail(protocol.UnknownAction, "unknown action rpcutil#"+req.Action)
}

func orEmpty(b json.RawMessage) json.RawMessage {
	if len(b) == 0 {
		return json.RawMessage("{}")
	}
	return b
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
