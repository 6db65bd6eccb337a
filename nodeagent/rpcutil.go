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
		// Every agent answers a facts report, so the common case — a
		// plain name asked for, a plain string or no value — takes no
		// reflection: what encoding/json would read and write, by hand.
		fact, ok := plainFactRequest(req.Data)
		if !ok {
			var d struct {
				Fact string `json:"fact"`
			}
			if err := json.Unmarshal(orEmpty(req.Data), &d); err != nil {
				return actions.Fail(protocol.InvalidData, "get_fact data must be {\"fact\": NAME}: "+err.Error())
			}
			fact = d.Fact
		}
		if fact == "" {
			return actions.Fail(protocol.MissingData, "get_fact needs fact=NAME")
		}
		v, _ := filter.Lookup(a.opts.Facts.Facts(), fact)
		if b, ok := plainFactReply(fact, v); ok {
			return actions.OK(json.RawMessage(b))
		}
		return actions.OK(agentapi.Fact{Fact: fact, Value: v})
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

// plainFactRequest reads get_fact's data in the form pulse facts sends,
// {"fact":"NAME"} with NAME plain; anything else is for encoding/json.
func plainFactRequest(data []byte) (string, bool) {
	const prefix, suffix = `{"fact":"`, `"}`
	s := string(data)
	if !strings.HasPrefix(s, prefix) || !strings.HasSuffix(s, suffix) || len(s) < len(prefix)+len(suffix) {
		return "", false
	}
	name := s[len(prefix) : len(s)-len(suffix)]
	return name, plainJSON(name)
}

// plainFactReply is agentapi.Fact as json.Marshal writes it, when the
// name is plain and the value is absent or a plain string.
func plainFactReply(fact string, v any) ([]byte, bool) {
	if !plainJSON(fact) {
		return nil, false
	}
	b := append(append(append(make([]byte, 0, 32+len(fact)), `{"fact":"`...), fact...), `","value":`...)
	switch v := v.(type) {
	case nil:
		b = append(b, "null"...)
	case string:
		if !plainJSON(v) {
			return nil, false
		}
		b = append(append(append(b, '"'), v...), '"')
	default:
		return nil, false
	}
	return append(b, '}'), true
}

// plainJSON reports whether s is written, and read, by encoding/json as
// it is between quotes: printable ASCII without quotes, backslashes or
// the HTML characters it escapes.
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c >= 0x7f, c == '"', c == '\\', c == '<', c == '>', c == '&':
			return false
		}
	}
	return true
}
