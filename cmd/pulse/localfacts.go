package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/pulseops/pulse/internal/filter"
	"github.com/pulseops/pulse/nodeagent"
	"github.com/pulseops/pulse/nodeagent/facts"
)

// localFacts are the flags of `pulse facts --local`: this machine's fact
// sources, taken from an agent config and the flags that mirror its facts
// block.
type localFacts struct {
	local           bool
	agentConfig     string
	root            string
	files           []string
	externalDir     string
	externalTimeout time.Duration
	ec2             bool
	ec2URL          string
}

func addLocalFactsFlags(fs *pflag.FlagSet, lf *localFacts) {
	fs.BoolVar(&lf.local, "local", false, "this machine's facts as the agent gathers them, like facter; no bus needed")
	fs.StringVar(&lf.agentConfig, "agent-config", "", "with --local: gather the sources of this agent config's facts block")
	fs.StringVar(&lf.root, "facts-root", "", "with --local: filesystem root of system facts (facts.root)")
	fs.StringArrayVar(&lf.files, "facts-file", nil, "with --local: a YAML or JSON fact file (facts.files; repeatable)")
	fs.StringVar(&lf.externalDir, "external-dir", "", "with --local: external facts directory, as facter's facts.d (facts.external_dir)")
	fs.DurationVar(&lf.externalTimeout, "external-timeout", 0, "with --local: time limit of each external fact program (facts.external_timeout, default 10s)")
	fs.BoolVar(&lf.ec2, "ec2", false, "with --local: read EC2 instance metadata (facts.ec2.enabled)")
	fs.StringVar(&lf.ec2URL, "ec2-url", "", "with --local: instance metadata base URL for EC2-compatible clouds (facts.ec2.base_url)")
}

// config is the facts block: the agent config's when given, with the flags
// set on the command line on top.
func (lf *localFacts) config(c *cobra.Command) (nodeagent.FactsConfig, error) {
	var fc nodeagent.FactsConfig
	if lf.agentConfig != "" {
		cfg, err := nodeagent.LoadConfig(lf.agentConfig)
		if err != nil {
			return fc, usageError{err}
		}
		fc = cfg.Facts
	}
	fs := c.Flags()
	if fs.Changed("facts-root") {
		fc.Root = lf.root
	}
	if fs.Changed("facts-file") {
		fc.Files = lf.files
	}
	if fs.Changed("external-dir") {
		fc.ExternalDir = lf.externalDir
	}
	if fs.Changed("external-timeout") {
		fc.ExternalTimeout = lf.externalTimeout
	}
	if fs.Changed("ec2") || fs.Changed("ec2-url") {
		if fc.EC2 == nil {
			fc.EC2 = &nodeagent.EC2Config{}
		}
		fc.EC2.Enabled = lf.ec2 || fs.Changed("ec2-url") && !fs.Changed("ec2")
		if fs.Changed("ec2-url") {
			fc.EC2.BaseURL = lf.ec2URL
		}
	}
	return fc, nil
}

// run gathers once and prints what args ask for: every fact, flat, as
// facter prints them; one fact's value alone; several facts as key => value
// lines. A source that fails is named on stderr and makes the exit code 1,
// and the facts of the others still print.
func (lf *localFacts) run(ctx context.Context, c *cobra.Command, args []string, asJSON bool) error {
	fc, err := lf.config(c)
	if err != nil {
		return err
	}
	g := facts.NewGatherer(fc.Sources(slog.New(slog.DiscardHandler)), nil)
	all := g.Gather(ctx)
	out := c.OutOrStdout()
	var perr error
	if asJSON {
		v := any(all)
		if len(args) > 0 {
			picked := map[string]any{}
			for _, a := range args {
				picked[a], _ = filter.Lookup(all, a)
			}
			v = picked
		}
		perr = printJSON(out, v)
	} else {
		printLocalFacts(out, all, args)
	}
	errs := g.Errors()
	for _, name := range slices.Sorted(maps.Keys(errs)) {
		fmt.Fprintf(c.ErrOrStderr(), "pulse: fact source %s failed, its facts are missing or partial: %v\n", name, errs[name])
	}
	if perr != nil {
		return perr
	}
	if len(errs) > 0 {
		return exitError{exitFailed}
	}
	return nil
}

// printLocalFacts writes facts as facter does: nested maps flattened to
// dotted names, sorted, one `name => value` a line; a single fact asked for
// by name prints its value alone.
func printLocalFacts(w io.Writer, all map[string]any, args []string) {
	flat := map[string]any{}
	if len(args) == 0 {
		flatten(flat, "", all)
	}
	for _, a := range args {
		v, _ := filter.Lookup(all, a)
		if m, ok := v.(map[string]any); ok {
			flatten(flat, a, m)
			continue
		}
		if len(args) == 1 {
			fmt.Fprintln(w, factValue(v))
			return
		}
		flat[a] = v
	}
	for _, k := range slices.Sorted(maps.Keys(flat)) {
		fmt.Fprintf(w, "%s => %s\n", k, factValue(flat[k]))
	}
}

func flatten(into map[string]any, prefix string, m map[string]any) {
	for k, v := range m {
		if prefix != "" {
			k = prefix + "." + k
		}
		if sub, ok := v.(map[string]any); ok && len(sub) > 0 {
			flatten(into, k, sub)
			continue
		}
		into[k] = v
	}
}

// factValue renders a fact value as facter does: strings bare, numbers
// without a trailing .0, lists and maps as JSON.
func factValue(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	}
	b, _ := json.Marshal(v)
	return string(b)
}
