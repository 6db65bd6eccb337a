package nodeagent

import (
	"context"
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/pulseops/pulse/internal/filter"
	"github.com/pulseops/pulse/internal/protocol"
	"github.com/pulseops/pulse/nodeagent/actions"
)

// rpcutil is the built-in agent every node hosts: discovery and
// introspection, as MCollective's rpcutil.
type rpcutil struct{ a *Agent }

func (r *rpcutil) Name() string { return "rpcutil" }

func (r *rpcutil) Actions() []string {
	return []string{"agent_inventory", "daemon_stats", "get_fact", "get_facts", "inventory", "ping"}
}

func (r *rpcutil) Call(ctx context.Context, req actions.Request) actions.Result {
	a := r.a
	switch req.Action {
	case "ping":
		// Written by hand, not by encoding/json: every agent answers
		// every ping.
		b := strconv.AppendInt(append(make([]byte, 0, 24), `{"pong":`...), a.opts.Now().Unix(), 10)
		return actions.OK(json.RawMessage(append(b, '}')))
	case "inventory":
		return actions.OK(map[string]any{
			"agents":          a.names,
			"facts":           a.opts.Facts.Facts(),
			"classes":         nonNil(a.opts.Classes),
			"version":         Version,
			"main_collective": a.opts.Collective,
			"collectives":     []string{a.opts.Collective},
			"started":         a.started.Unix(),
			"uptime":          int64(a.opts.Now().Sub(a.started).Seconds()),
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
		return actions.OK(map[string]any{"fact": d.Fact, "value": v})
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
		return actions.OK(map[string]any{"values": values})
	case "agent_inventory":
		var list []map[string]any
		for _, n := range a.names {
			list = append(list, map[string]any{"agent": n, "actions": a.acts[n]})
		}
		return actions.OK(map[string]any{"agents": list})
	case "daemon_stats":
		s := &a.stats
		malformed := make(map[string]uint64, len(s.Malformed))
		for r, n := range s.Malformed {
			malformed[r] = n.Load()
		}
		return actions.OK(map[string]any{
			"malformed":    malformed,
			"requests":     s.Requests.Load(),
			"replies":      s.Replies.Load(),
			"filtered":     s.Filtered.Load(),
			"errors":       s.Errors.Load(),
			"ttlexpired":   s.TTLExpired.Load(),
			"unauthorized": s.Unauthorized.Load(),
			"busy":         s.Busy.Load(),
			"started":      a.started.Unix(),
			"uptime":       int64(time.Since(a.started).Seconds()),
			"version":      Version,
			"pid":          os.Getpid(),
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
