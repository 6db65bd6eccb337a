package protocol

import "strings"

// Subjects builds the NATS subjects of one collective.
type Subjects struct{ Collective string }

func (s Subjects) prefix() string { return "pulse." + s.Collective }

// Agent is the broadcast subject for requests to an RPC agent.
func (s Subjects) Agent(agent string) string { return s.prefix() + ".agent." + agent }

// Node is the directed subject of one node.
func (s Subjects) Node(identity string) string { return s.prefix() + ".node." + identity }

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

// Events is the subject the collector publishes its events on.
func (s Subjects) Events() string { return s.prefix() + ".events" }

// ValidToken reports whether s can be one token of a subject: non-empty and
// free of the separators and wildcards NATS gives meaning to.
func ValidToken(s string) bool {
	return s != "" && !strings.ContainsAny(s, ".*> \t\r\n\x00")
}
