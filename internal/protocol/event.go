package protocol

import "time"

// Event types published by the collector to its websocket and bus watchers.
const (
	EventNodeUp      = "node_up"
	EventNodeDown    = "node_down"
	EventCheckState  = "check_state"
	EventAction      = "action"
	EventRemediation = "remediation"
	// EventChange is a node's change event (Data: a Change); EventRollout
	// a rollout that started, moved or ended (Data: its record).
	EventChange  = "change"
	EventRollout = "rollout"
)

// Event is something a human watching the fleet wants to see happen.
type Event struct {
	Type     string    `json:"type"`
	Time     time.Time `json:"time"`
	Identity string    `json:"identity,omitempty"`
	Check    string    `json:"check,omitempty"`
	// Status and Previous are Nagios states for check_state events.
	Status   int    `json:"status,omitempty"`
	Previous int    `json:"previous,omitempty"`
	Message  string `json:"message"`
	// Data carries type-specific detail (an action's summary, a remediation
	// record).
	Data any `json:"data,omitempty"`
}
