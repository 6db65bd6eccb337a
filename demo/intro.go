package demo

import (
	"cmp"
	"fmt"
	"io"
)

// The addresses clients use when told none; commands to try name the
// demo's own only when they differ.
const (
	defaultNATS      = "nats://127.0.0.1:4222"
	defaultCollector = "127.0.0.1:9780"
)

// IntroOptions say how PrintIntro shows the commands to try.
type IntroOptions struct {
	// Pulse is how a user runs pulse in another terminal: "pulse", "go
	// run ./cmd/pulse" or the binary's path (default "pulse").
	Pulse string
}

// PrintIntro tells a new user what is running and what to try, with
// commands that work as shown: they run pulse the way this demo was run,
// and name this demo's addresses, key and token when the defaults would
// reach something else.
func (d *Demo) PrintIntro(w io.Writer, o IntroOptions) {
	pulse := cmp.Or(o.Pulse, "pulse")
	zones := map[string]int{}
	for _, s := range d.Specs {
		zones[s.Zone]++
	}
	fmt.Fprintf(w, "pulse demo is running\n\n")
	fmt.Fprintf(w, "  NATS          %s\n", d.NATSURL())
	fmt.Fprintf(w, "  nodes         %d simulated agents (", len(d.Specs))
	for i, z := range d.opts.Zones {
		if i > 0 {
			fmt.Fprint(w, ", ")
		}
		fmt.Fprintf(w, "%d in %s", zones[z], z)
	}
	fmt.Fprintln(w, ")")
	if d.Collector != nil {
		fmt.Fprintf(w, "  web view      http://%s/#token=%s\n", d.Collector.Addr(), d.ActionToken)
		fmt.Fprintf(w, "  collector     http://%s/metrics, /api/v1/nodes\n", d.Collector.Addr())
	}
	if d.ShopURL != "" {
		fmt.Fprintf(w, "  demo shop     %s/login  (alice / wonderland; faults at /admin/fault)\n", d.ShopURL)
	}
	for _, p := range []*Process{d.Prometheus, d.Alertmanager} {
		if p != nil {
			fmt.Fprintf(w, "  %-13s %s  (pid %d, stops with the demo)\n", p.Name, p.URL, p.PID())
		}
	}
	if d.Collector != nil && (d.Prometheus == nil && d.opts.Prometheus != "off" || d.Alertmanager == nil && d.opts.Alertmanager != "off") {
		fmt.Fprintf(w, "  (Prometheus/Alertmanager not on PATH: apt-get install prometheus prometheus-alertmanager for the full loop)\n")
	}
	for _, c := range d.Stale {
		fmt.Fprintf(w, "\n  note: an earlier pulse demo did not stop cleanly and its %s (pid %d, %s) still runs: kill %d\n", c.Name, c.PID, c.Addr, c.PID)
	}
	if d.ActionToken != "" {
		fmt.Fprintf(w, "\n  export PULSE_TOKEN=%s   # for the action API and pulse remediations\n", d.ActionToken)
	}
	// The flags the commands need to reach this demo rather than another.
	var bus, api string
	if d.NATSURL() != defaultNATS {
		bus += " --nats " + d.NATSURL()
	}
	if d.Collector != nil && d.Collector.Addr() != defaultCollector {
		api += " --collector http://" + d.Collector.Addr()
	}
	switch {
	case d.Holder != nil:
		fmt.Fprintf(w, "  another pulse demo (%s) owns the CLI's demo credentials and token in %s;\n", d.Holder, d.opts.UserKeyDir)
		fmt.Fprintf(w, "  this demo's broker takes its own credentials %s, which the commands below name\n", d.Identity.UserCreds)
		bus += " --creds " + d.Identity.UserCreds
		if d.ActionToken != "" {
			api += " --token " + d.ActionToken
		}
	case d.opts.UserKeyDir != "":
		fmt.Fprintf(w, "  the broker takes no login but the ones it issued: yours is %s, which the CLI finds by itself\n", d.Identity.UserCreds)
	default:
		fmt.Fprintf(w, "  the broker takes no login but the ones it issued: yours is %s\n", d.Identity.UserCreds)
		bus += " --creds " + d.Identity.UserCreds
	}
	fmt.Fprintf(w, "\nIn another terminal try:\n\n")
	try := []string{
		"ping",
		"facts ec2_placement_availability_zone",
		"find -W cluster=alfa",
		"inventory " + d.Specs[0].Identity,
		"rpc rpcutil get_fact fact=role -W role=web",
		"package status httpd",
		"package install httpd -F ec2_placement_availability_zone=" + d.opts.Zones[0],
		"service httpd start -F ec2_placement_availability_zone=" + d.opts.Zones[0],
		"service httpd status",
		"nrpe check_load",
	}
	if d.ShopURL != "" {
		try = append(try, "urltest "+d.ShopURL+"/login -W role=web")
	}
	for _, c := range try {
		fmt.Fprintf(w, "  %s %s%s\n", pulse, c, bus)
	}
	if d.ShopURL != "" {
		// The rollout story, before anything is broken on purpose: a
		// release that breaks the web nodes' logins is halted at its
		// canary and rolled back; a good one goes out in steps.
		fmt.Fprintf(w, "  %s rollout shop --version %s -W role=web%s   # exits 1: its canary's login fails, pulse halts and rolls it back\n", pulse, BadShopVersion, bus)
		fmt.Fprintf(w, "  %s rollout shop --version %s -W role=web%s   # canary, then batches, each judged by the nodes' checks and probes\n", pulse, GoodShopVersion, bus)
		if d.Collector != nil {
			fmt.Fprintf(w, "  %s rollouts%s\n", pulse, api)
		}
	}
	if d.Collector != nil && len(d.Specs) > 2 {
		fmt.Fprintf(w, "  %s service nginx stop -I %s%s   # break a web node; watch it being repaired\n", pulse, d.Specs[2].Identity, bus)
		fmt.Fprintf(w, "  %s remediations%s\n", pulse, api)
		fmt.Fprintf(w, "  %s watch%s\n", pulse, api)
	}
	fmt.Fprintf(w, "  %s facts --local    # this machine's own facts, like facter\n", pulse)
	fmt.Fprintf(w, "\nPress Ctrl-C to stop.\n")
}
