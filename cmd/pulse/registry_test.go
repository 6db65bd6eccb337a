//go:build !agentonly

package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/pulseops/pulse/internal/broker"
	"github.com/pulseops/pulse/internal/bus"
	"github.com/pulseops/pulse/internal/registry"
	"github.com/pulseops/pulse/nodeagent"
)

// The demo's fleet is found in the fleet registry by default: commands end
// when the registered nodes answered, name a registered node that stopped,
// say "No request sent" for a filter no registered node matches, skip and
// count an unreadable entry, and say in one line when they fall back to
// broadcast.
func TestRegistryDiscoveryFromTheCLI(t *testing.T) {
	d := fleet(t)
	out, errOut, code := pulse(t, d, "ping", "--json")
	var js struct {
		Count     int    `json:"count"`
		Discovery string `json:"discovery"`
	}
	if err := json.Unmarshal([]byte(out), &js); err != nil || code != exitOK || js.Count != 11 || js.Discovery != "registry" || errOut != "" {
		t.Fatalf("ping --json: exit %d %v %+v\n%s\nstderr %q", code, err, js, out, errOut)
	}
	out, _, code = pulse(t, d, "facts", "role", "-S", "role=web and not cluster=beta")
	if code != exitOK || !strings.Contains(out, "Finished processing") {
		t.Fatalf("facts -S: exit %d\n%s", code, out)
	}
	out, errOut, code = pulse(t, d, "ping", "-F", "role=nothing")
	if code != exitFailed || strings.TrimSpace(out) != noMatchLine || errOut != "" {
		t.Fatalf("no match: exit %d\n%s\nstderr %q", code, out, errOut)
	}

	// A stopped node stays registered for three heartbeats and is named.
	stopped := d.Agents[3].Identity()
	d.Agents[3].Stop()
	out, _, code = pulse(t, d, "ping", "--timeout", "1s")
	if code != exitFailed || !strings.Contains(out, "No response from:\n\n    "+stopped+"\n") || !strings.Contains(out, "10 replies") {
		t.Fatalf("ping with %s stopped: exit %d\n%s", stopped, code, out)
	}
	// Its key, overwritten with garbage by the node's own credentials, is
	// skipped and counted where values are read (a filter on facts); the
	// rest of the fleet answers as before.
	nc, err := bus.Dial(bus.Config{URLs: []string{d.NATSURL()}, Credentials: bus.Credentials{CredsFile: d.Identity.Nodes[stopped]}})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	m := nats.NewMsg("$KV." + registry.Bucket("pulse") + "." + stopped)
	m.Data = []byte("garbage")
	if _, err := nc.RequestMsg(m, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	out, errOut, code = pulse(t, d, "ping", "-F", "role=~.")
	if code != exitOK || !strings.Contains(out, "10 replies") ||
		errOut != "pulse: skipped 1 unreadable fleet registry entry: "+stopped+" (envelope)\n" {
		t.Fatalf("ping with a corrupt entry: exit %d\n%s\nstderr %q", code, out, errOut)
	}

	// Without a filter only the keys are listed: the key is there, so the
	// node is expected, and named.
	out, _, code = pulse(t, d, "ping", "--timeout", "1s")
	if code != exitFailed || !strings.Contains(out, "No response from:\n\n    "+stopped+"\n") {
		t.Fatalf("ping with %s's key unreadable: exit %d\n%s", stopped, code, out)
	}
	out, _, code = pulse(t, d, "ping", "--discovery", "broadcast")
	if code != exitOK || !strings.Contains(out, "10 replies") {
		t.Fatalf("--discovery broadcast: exit %d\n%s", code, out)
	}
	_, errOut, code = pulse(t, d, "ping", "--discovery", "nearby")
	if code != exitUsage || !strings.Contains(errOut, "--discovery must be registry, broadcast or collector") {
		t.Fatalf("bad --discovery: exit %d %q", code, errOut)
	}
}

// A bus without JetStream has no registry: the command falls back to
// broadcast discovery and says so in one line.
func TestRegistryFallbackFromTheCLI(t *testing.T) {
	br, err := broker.Start(broker.Options{Port: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(br.Shutdown)
	nc, err := bus.Connect(bus.Config{URLs: []string{br.ClientURL()}, Name: "web-01"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, err := nodeagent.New(nodeagent.Options{Identity: "web-01", Conn: nc, RegisterInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Stop)
	out, errOut, code := pulse(t, nil, "ping", "--nats", br.ClientURL(), "--discovery-timeout", "10s", "--discovery-quiet", "1s")
	if code != exitOK || !strings.Contains(out, "1 replies") ||
		errOut != "pulse: no fleet registry on this bus (JetStream is off, or nobody made bucket PULSE_FLEET_pulse: the collector or pulse demo does); discovering by broadcast\n" {
		t.Fatalf("exit %d\n%s\nstderr %q", code, out, errOut)
	}
}
