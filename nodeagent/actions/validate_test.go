package actions

import "testing"

// TestValidateRequest: a sender learns what the agent itself would refuse,
// with the agent's own words, before anything is sent.
func TestValidateRequest(t *testing.T) {
	tests := []struct {
		agent, action string
		data          map[string]any
		err           string
	}{
		{"service", "restart", map[string]any{"service": "nginx"}, ""},
		{"service", "status", map[string]any{"service": "nginx"}, ""},
		{"service", "restart", map[string]any{"service": "-rf"}, `invalid service name "-rf": must not start with '-'; service names start with a letter, a digit, '_', '@' or ':'`},
		{"service", "restart", map[string]any{"service": "nginx; reboot"}, `invalid service name "nginx; reboot": character ';' at position 6 is not allowed; service names use only A-Z, a-z, 0-9, '_', '.', '@', ':' and '-'`},
		{"service", "restart", map[string]any{}, `service.restart: missing data key "service"`},
		{"service", "restart", map[string]any{"service": "nginx", "force": "yes"}, `service.restart: unknown data key "force"; known keys: service`},
		{"service", "explode", map[string]any{"service": "nginx"}, `unknown action "explode" for agent service; known actions: start, stop, restart, reload, status`},
		{"package", "update", map[string]any{"package": "nginx"}, ""},
		{"package", "install", map[string]any{"package": "nginx", "version": "1.22.1-9"}, ""},
		{"package", "install", map[string]any{"package": "nginx", "version": "-1"}, `invalid version "-1": must not start with '-'; versions start with a letter or a digit`},
		// Debian would refuse it, so a sender that does not know the
		// node's package manager must too.
		{"package", "update", map[string]any{"package": "Nginx"}, `invalid package name "Nginx": character 'N' at position 1 is not allowed; Debian package names use only a-z, 0-9, '+', '.' and '-'`},
		{"nrpe", "runcommand", map[string]any{"command": "check_nginx"}, ""},
		{"nrpe", "runcommand", map[string]any{"command": "check nginx"}, `nrpe.runcommand: command name "check nginx" has invalid character ' ' at position 6 (allowed: A-Z a-z 0-9 _ . -)`},
		{"nrpe", "runcommand", map[string]any{"command": "check_nginx", "shell": "sh"}, `nrpe.runcommand data: json: unknown field "shell"`},
		{"nrpe", "list", nil, ""},
		{"nrpe", "reboot", nil, "nrpe has no action reboot; actions are list, runcommand"},
		{"shop", "deploy", map[string]any{"anything": "-rf"}, ""}, // not one of pulse's agents
	}
	for _, tt := range tests {
		err := ValidateRequest(tt.agent, tt.action, tt.data)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tt.err {
			t.Errorf("%s.%s %v:\n got %q\nwant %q", tt.agent, tt.action, tt.data, got, tt.err)
		}
	}
}
