// Package demo runs pulse's whole loop on one machine: an embedded NATS
// broker, a simulated fleet of real agents (each with its own connection,
// simulated facts and providers), the collector, a demo shop and, when
// installed, real Prometheus and Alertmanager. Only cmd imports it; it must
// never be imported by the packages it composes.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/pulseops/pulse/internal/broker"
	"github.com/pulseops/pulse/nodeagent"
)

// Options configure a demo.
type Options struct {
	Nodes int
	Zones []string
	// NATSHost and NATSPort for the embedded broker (port -1: any free one).
	NATSHost string
	NATSPort int
	// Intervals of heartbeats and checks (DefaultIntervals when zero).
	Intervals Intervals
	// ChangeDelay is how long a simulated package or service change takes
	// (0: the providers' default; negative: none).
	ChangeDelay time.Duration
	Logger           *slog.Logger
}

// Demo is a running demo.
type Demo struct {
	opts   Options
	Broker *broker.Broker
	Agents []*nodeagent.Agent
	Specs  []NodeSpec
	nodes  []*simNode
	log    *slog.Logger
}

type mapFacts map[string]any

func (m mapFacts) Facts() map[string]any { return m }

// Start brings the broker and the fleet up.
func Start(ctx context.Context, opts Options) (*Demo, error) {
	if opts.Nodes <= 0 {
		return nil, errors.New("demo needs at least one node (--nodes)")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Intervals == (Intervals{}) {
		opts.Intervals = DefaultIntervals()
	}
	d := &Demo{opts: opts, log: opts.Logger.With("component", "demo"), Specs: Fleet(opts.Nodes, opts.Zones)}
	b, err := broker.Start(broker.Options{Host: opts.NATSHost, Port: opts.NATSPort, JetStreamDir: "", Logger: opts.Logger})
	if err != nil {
		return nil, err
	}
	d.Broker = b
	for _, spec := range d.Specs {
		node := newSimNode(spec, opts.ChangeDelay)
		d.nodes = append(d.nodes, node)
		nc, err := nodeagent.Connect([]string{b.ClientURL()}, "pulse agent "+spec.Identity, opts.Logger)
		if err != nil {
			d.Stop()
			return nil, err
		}
		a, err := nodeagent.New(nodeagent.Options{
			Identity: spec.Identity, Collective: "pulse", Conn: nc,
			Facts: mapFacts(spec.Facts), Classes: spec.Classes, Agents: node.agents(),
			Jobs: node.jobs(opts.Intervals), RegisterInterval: opts.Intervals.Register, Logger: opts.Logger,
		})
		if err != nil {
			nc.Close()
			d.Stop()
			return nil, err
		}
		if err := a.Start(ctx); err != nil {
			d.Stop()
			return nil, err
		}
		d.Agents = append(d.Agents, a)
	}
	return d, nil
}

// NATSURL is where clients connect.
func (d *Demo) NATSURL() string { return d.Broker.ClientURL() }

// Stop shuts the fleet and the broker down.
func (d *Demo) Stop() {
	for _, a := range d.Agents {
		a.Stop()
	}
	if d.Broker != nil {
		d.Broker.Shutdown()
	}
}

// PrintIntro tells a new user what is running and what to try.
func (d *Demo) PrintIntro(w io.Writer) {
	zones := map[string]int{}
	for _, s := range d.Specs {
		zones[s.Zone]++
	}
	fmt.Fprintf(w, "pulse demo is running\n\n")
	fmt.Fprintf(w, "  NATS          %s\n", d.NATSURL())
	fmt.Fprintf(w, "  nodes         %d simulated agents (", len(d.Specs))
	first := true
	for _, z := range d.opts.Zones {
		if !first {
			fmt.Fprint(w, ", ")
		}
		first = false
		fmt.Fprintf(w, "%d in %s", zones[z], z)
	}
	fmt.Fprintf(w, ")\n\nIn another terminal try:\n\n")
	for _, c := range []string{
		"pulse ping",
		"pulse facts ec2_placement_availability_zone",
		"pulse find -W cluster=alfa",
		"pulse inventory " + d.Specs[0].Identity,
		"pulse rpc rpcutil get_fact fact=role -W role=web",
		"pulse package status httpd",
		"pulse package install httpd -F ec2_placement_availability_zone=" + d.opts.Zones[0],
		"pulse service httpd status",
		"pulse nrpe check_load",
	} {
		fmt.Fprintf(w, "  %s\n", c)
	}
	fmt.Fprintf(w, "\nPress Ctrl-C to stop.\n")
}
