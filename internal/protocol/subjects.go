package protocol

import "strings"

// Subjects builds the NATS subjects of one collective.
//
// Every subject a process publishes on names that process in a token of its
// own: a request its caller, a reply, registration or result its node. So a
// broker whose permissions are derived from each identity (internal/issuer)
// lets every process publish only under its own name, and a subject proves
// who sent what arrived on it.
type Subjects struct{ Collective string }

func (s Subjects) prefix() string { return "pulse." + s.Collective }

// Agent is the subject of caller's broadcast requests to an RPC agent.
func (s Subjects) Agent(agent, caller string) string {
	return s.prefix() + ".agent." + agent + "." + caller
}

// AgentAll matches every caller's broadcasts to agent: what a node that
// hosts agent subscribes to.
func (s Subjects) AgentAll(agent string) string { return s.prefix() + ".agent." + agent + ".*" }

// Node is the subject of caller's requests directed at one node.
func (s Subjects) Node(identity, caller string) string {
	return s.prefix() + ".node." + identity + "." + caller
}

// NodeAll matches every caller's requests directed at identity.
func (s Subjects) NodeAll(identity string) string { return s.prefix() + ".node." + identity + ".*" }

// Reply is the subject identity answers caller's request id on. A node
// derives it from the request's signed fields, never from the message's
// reply subject, and the broker lets only identity publish there.
func (s Subjects) Reply(caller, id, identity string) string {
	return s.prefix() + ".reply." + caller + "." + id + "." + identity
}

// Replies matches every node's reply to caller's request id; the last
// token of each names the node that sent it.
func (s Subjects) Replies(caller, id string) string {
	return s.prefix() + ".reply." + caller + "." + id + ".*"
}

// RepliesTo matches every reply to any request of caller.
func (s Subjects) RepliesTo(caller string) string { return s.prefix() + ".reply." + caller + ".>" }

// ReplyIdentity is the node a reply subject names (its last token).
func ReplyIdentity(subject string) string {
	return subject[strings.LastIndexByte(subject, '.')+1:]
}

// Registry is the subject a node heartbeats on.
func (s Subjects) Registry(identity string) string { return s.prefix() + ".registry." + identity }

// RegistryAll matches every node's registry subject.
func (s Subjects) RegistryAll() string { return s.prefix() + ".registry.*" }

// Results is the subject of one node's results for one check or probe.
func (s Subjects) Results(identity, check string) string {
	return s.prefix() + ".results." + identity + "." + check
}

// ResultsAll matches every result subject.
func (s Subjects) ResultsAll() string { return s.prefix() + ".results.>" }

// Changes is the subject a node announces the changes made to it on;
// ChangesAll matches every node's.
func (s Subjects) Changes(identity string) string { return s.prefix() + ".changes." + identity }

// ChangesAll: see Changes.
func (s Subjects) ChangesAll() string { return s.prefix() + ".changes.*" }

// Rollouts is the subject a rollout's record is published on each time it
// moves, by whoever runs it (the CLI or the collector); RolloutsAll
// matches every rollout's.
func (s Subjects) Rollouts(id string) string { return s.prefix() + ".rollouts." + id }

// RolloutsAll: see Rollouts.
func (s Subjects) RolloutsAll() string { return s.prefix() + ".rollouts.*" }

// Events is the subject the collector publishes its events on.
func (s Subjects) Events() string { return s.prefix() + ".events" }

// RegistryStream and ResultsStream name the JetStream streams that keep the
// last registration of every node and the last result of every node and
// check.
func (s Subjects) RegistryStream() string { return "PULSE_REGISTRY_" + s.Collective }

// ResultsStream: see RegistryStream.
func (s Subjects) ResultsStream() string { return "PULSE_RESULTS_" + s.Collective }

// ChangesStream keeps every node's change events, bounded in number and
// age; RolloutsStream the last record of every rollout; RolloutLocks is the
// key-value bucket of which rollout holds which node.
func (s Subjects) ChangesStream() string { return "PULSE_CHANGES_" + s.Collective }

// RolloutsStream: see ChangesStream.
func (s Subjects) RolloutsStream() string { return "PULSE_ROLLOUTS_" + s.Collective }

// RolloutLocks: see ChangesStream.
func (s Subjects) RolloutLocks() string { return "PULSE_ROLLOUT_LOCKS_" + s.Collective }

// FleetBucket names the JetStream key-value bucket of the fleet registry
// (one key per node), and FleetKey the subject a node writes its own key
// on. The broker lets a node write only its own key.
func (s Subjects) FleetBucket() string { return "PULSE_FLEET_" + s.Collective }

// FleetKey: see FleetBucket.
func (s Subjects) FleetKey(identity string) string { return "$KV." + s.FleetBucket() + "." + identity }

// FleetStream is the JetStream stream that holds the fleet bucket, and
// FleetRead the subject of its batched direct gets: all a reader of the
// registry (internal/registry) publishes on.
func (s Subjects) FleetStream() string { return "KV_" + s.FleetBucket() }

// FleetRead: see FleetStream.
func (s Subjects) FleetRead() string { return "$JS.API.DIRECT.GET." + s.FleetStream() }

// ValidToken reports whether s can be one token of a subject: non-empty and
// free of the separators and wildcards NATS gives meaning to.
func ValidToken(s string) bool {
	return s != "" && !strings.ContainsAny(s, ".*> \t\r\n\x00")
}
