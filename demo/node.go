package demo

import (
	"fmt"
	"strings"
	"time"

	"github.com/pulseops/pulse/internal/protocol"
	"github.com/pulseops/pulse/nodeagent"
	"github.com/pulseops/pulse/nodeagent/actions"
	"github.com/pulseops/pulse/nodeagent/checks"
)

// Intervals are the demo's short schedules, so the loop from a stopped
// service to a verified remediation completes in seconds.
type Intervals struct {
	Register time.Duration
	Load     time.Duration
	Nginx    time.Duration
	Probe    time.Duration
}

// DefaultIntervals suit a person watching the demo.
func DefaultIntervals() Intervals {
	return Intervals{Register: 5 * time.Second, Load: 5 * time.Second, Nginx: 2 * time.Second, Probe: 5 * time.Second}
}

// simNode is one simulated node's providers: real agents, simulated
// package manager and init system.
type simNode struct {
	spec     NodeSpec
	packages *actions.SimPackageProvider
	pkgAgent *actions.PackageAgent
	services *actions.SimServiceProvider
	runner   *checks.Runner
	load     *simLoad
	// changed, when set, is told of every package change on the node.
	changed func(pkg string)
}

// The demo's application: web nodes run ShopVersion of the package shop;
// the simulated repository also has a release that breaks logins
// (BadShopVersion) and one that does not (GoodShopVersion).
const (
	ShopVersion     = "1.0.0"
	BadShopVersion  = "1.1.0"
	GoodShopVersion = "1.0.1"
)

// watchPackages are the packages every demo node reports the version of.
var watchPackages = []string{"shop", "nginx"}

// newSimNode builds a node whose proc and sys files (its load average and
// CPUs, for check_load) live under root.
func newSimNode(spec NodeSpec, delay time.Duration, root string) (*simNode, error) {
	web := spec.Role == "web"
	// Every node has the base system; web nodes also nginx, running. httpd
	// is in the repository only, for the walkthrough to install.
	installed := actions.DefaultSimInstalled()
	services := map[string]actions.SimService{
		"cron": {Running: true, Enabled: true},
		"sshd": {Running: true, Enabled: true},
	}
	if web {
		services["nginx"] = actions.SimService{Running: true, Enabled: true}
		// The web application, whose releases the tour rolls out.
		installed["shop"] = ShopVersion
		services["shop"] = actions.SimService{Running: true, Enabled: true}
	} else {
		delete(installed, "nginx")
	}
	n := &simNode{spec: spec, load: newSimLoad(root, spec.Identity)}
	n.packages, n.services = actions.NewSimSystem(
		actions.SimPackageOptions{Installed: installed, Delay: delay, Changed: func(name string, _ bool) {
			if n.changed != nil {
				n.changed(name)
			}
		}},
		actions.SimServiceOptions{Services: services, Delay: delay})
	n.pkgAgent = actions.NewPackageAgent(n.packages, nil)
	svcs := n.services
	cpus, _ := spec.Facts["processorcount"].(float64)
	if err := n.load.writeCPUs(int(cpus)); err != nil {
		return nil, err
	}
	if err := n.load.step(0, svcs.Running); err != nil {
		return nil, err
	}
	n.runner = checks.NewRunner(checks.RunnerOptions{
		Root: root,
		Commands: map[string][]string{
			"check_load":  {"check_load", "-r", "-w", "4,3,2", "-c", "8,6,4"},
			"check_nginx": {"check_nginx"},
			"check_httpd": {"check_httpd"},
		},
		Builtins: map[string]checks.Builtin{
			"check_nginx": n.serviceCheck("nginx"),
			"check_httpd": n.serviceCheck("httpd"),
		},
	})
	return n, nil
}

// serviceCheck is a native check of a simulated service: CRITICAL while it
// is stopped, so stopping it on purpose shows the whole loop.
func (n *simNode) serviceCheck(name string) checks.Builtin {
	return func(string, []string) checks.Outcome {
		start := time.Now()
		if n.services.Running(name) {
			return checks.Outcome{Status: protocol.StateOK, Output: fmt.Sprintf("%s OK - %s is running", strings.ToUpper(name), name), Duration: time.Since(start)}
		}
		return checks.Outcome{Status: protocol.StateCritical, Output: fmt.Sprintf("%s CRITICAL - %s is not running", strings.ToUpper(name), name), Duration: time.Since(start)}
	}
}

// agents are the RPC agents the node hosts.
func (n *simNode) agents() []actions.Agent {
	// Every host may be tested from the demo, as from an agent without
	// urltest.allow_hosts; with no rules the constructor cannot fail.
	urltest, _ := actions.NewURLTestAgent(actions.URLTestOptions{}, nil)
	return []actions.Agent{
		n.pkgAgent,
		actions.NewServiceAgent(n.services, nil),
		actions.NewNRPEAgent(n.runner, nil),
		urltest,
	}
}

// jobs are the node's scheduled checks: load everywhere, nginx on web nodes.
func (n *simNode) jobs(iv Intervals) []nodeagent.Job {
	jobs := []nodeagent.Job{nodeagent.CheckJob(n.runner, nodeagent.CheckConfig{Name: "check_load", Interval: iv.Load, Splay: iv.Load})}
	if n.spec.Role == "web" {
		jobs = append(jobs, nodeagent.CheckJob(n.runner, nodeagent.CheckConfig{Name: "check_nginx", Interval: iv.Nginx, Splay: iv.Nginx}))
	}
	return jobs
}
