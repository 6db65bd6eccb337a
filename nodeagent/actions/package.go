package actions

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os/exec"
	"slices"
	"strings"

	"github.com/pulseops/pulse/internal/agentapi"
	"github.com/pulseops/pulse/internal/protocol"
)

// The package agent's reply types are its contract with the CLI, defined
// in internal/agentapi.
type (
	PackageStatus      = agentapi.PackageStatus
	OutdatedPackage    = agentapi.OutdatedPackage
	CheckUpdatesResult = agentapi.CheckUpdatesResult
)

// Absent is PackageStatus.Ensure for a package that is not installed.
const Absent = agentapi.Absent

// ErrPatternName is a package name the package manager would read as a
// pattern rather than one package: refused before it runs.
var ErrPatternName = errors.New("refused a name the package manager would read as a pattern")

// PackageProvider is a package manager as the package agent uses it. Names
// reach it only after ValidateName accepted them; versions only after
// ValidatePackageVersion did.
type PackageProvider interface {
	Name() string
	ValidateName(name string) error
	Status(ctx context.Context, name string) (PackageStatus, error)
	Install(ctx context.Context, name, version string) error
	Uninstall(ctx context.Context, name string) error
	Purge(ctx context.Context, name string) error
	Update(ctx context.Context, name string) error
	CheckUpdates(ctx context.Context) ([]OutdatedPackage, error)
}

// PackageAgent is the "package" RPC agent.
type PackageAgent struct {
	p   PackageProvider
	log *slog.Logger
	// lock admits one change at a time to the package manager: apt-get and
	// dpkg (and rpm, apk) hold database locks of their own and a second run
	// would fail rather than wait. A channel so waiting honours ctx.
	lock chan struct{}
}

// NewPackageAgent returns the package agent over p.
func NewPackageAgent(p PackageProvider, log *slog.Logger) *PackageAgent {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &PackageAgent{
		p:    p,
		log:  log.With("component", "actions.package", "provider", p.Name()),
		lock: make(chan struct{}, 1),
	}
}

// Name implements Agent.
func (a *PackageAgent) Name() string { return "package" }

// Actions implements Agent.
func (a *PackageAgent) Actions() []string { return slices.Clone(agentapi.PackageActions) }

// Call implements Agent.
func (a *PackageAgent) Call(ctx context.Context, req Request) Result {
	if !slices.Contains(agentapi.PackageActions, req.Action) {
		return Fail(protocol.UnknownAction, fmt.Sprintf("unknown action %q for agent package; known actions: %s", req.Action, strings.Join(agentapi.PackageActions, ", ")))
	}
	if req.Action == "checkupdates" {
		if _, r := decodeData(req, "package", nil); r != nil {
			return *r
		}
		return a.checkUpdates(ctx)
	}
	optional := []string(nil)
	if req.Action == "install" {
		optional = []string{"version"}
	}
	in, r := decodeData(req, "package", []string{"package"}, optional...)
	if r != nil {
		return *r
	}
	name, version := in["package"], in["version"]
	if err := a.p.ValidateName(name); err != nil {
		return Fail(protocol.InvalidData, err.Error())
	}
	if _, given := in["version"]; given {
		if err := ValidatePackageVersion(version); err != nil {
			return Fail(protocol.InvalidData, err.Error())
		}
	}
	if req.Action == "status" {
		st, err := a.p.Status(ctx, name)
		if err != nil {
			return Fail(protocol.UnknownError, fmt.Sprintf("package status of %s: %v", name, err))
		}
		return OK(st)
	}

	if err := acquire(ctx, a.lock); err != nil {
		return Fail(protocol.Aborted, fmt.Sprintf("package %s %s: gave up waiting for another package change on this node: %v", req.Action, name, err))
	}
	defer release(a.lock)

	// The state before is read once: install and uninstall decide from it
	// whether there is anything to do, and the change event reports it.
	before := "unknown"
	prev, prevErr := a.p.Status(ctx, name)
	if prevErr == nil {
		before = prev.Ensure
	}
	var err error
	switch req.Action {
	case "install":
		// As "ensure present" does, install skips the package manager when
		// the package is there in the asked-for version: install is not
		// upgrade.
		if prevErr != nil || before == Absent || (version != "" && version != before) {
			err = a.p.Install(ctx, name, version)
		}
	case "uninstall":
		if prevErr != nil || before != Absent {
			err = a.p.Uninstall(ctx, name)
		}
	case "purge":
		err = a.p.Purge(ctx, name)
	case "update":
		err = a.p.Update(ctx, name)
	}
	st, stErr := a.p.Status(ctx, name)
	after := "unknown"
	if stErr == nil {
		after = st.Ensure
	}
	ch := &Change{Kind: "package", Name: name, From: before, To: after, Unchanged: err == nil && before == after && before != "unknown"}
	return afterChange(a.log, "package", req, name, err, st, stErr, ch)
}

func (a *PackageAgent) checkUpdates(ctx context.Context) Result {
	// Package managers lock their databases for a simulated upgrade too.
	if err := acquire(ctx, a.lock); err != nil {
		return Fail(protocol.Aborted, fmt.Sprintf("package checkupdates: gave up waiting for another package change on this node: %v", err))
	}
	defer release(a.lock)
	out, err := a.p.CheckUpdates(ctx)
	if err != nil {
		return Fail(protocol.UnknownError, fmt.Sprintf("package checkupdates failed: %v", err))
	}
	if out == nil {
		out = []OutdatedPackage{}
	}
	return OK(CheckUpdatesResult{OutdatedPackages: out, Count: len(out)})
}

// acquire takes a one-slot channel lock, or gives up when ctx ends.
func acquire(ctx context.Context, lock chan struct{}) error {
	select {
	case lock <- struct{}{}:
		return nil
	default:
	}
	select {
	case lock <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func release(lock chan struct{}) { <-lock }

// decodeData reads request data as a flat object of strings. required keys
// must be present and non-empty; keys outside required and optional are
// refused, so a typo such as "verison" is not silently ignored. A non-nil
// Result is the failure to return.
func decodeData(req Request, agent string, required []string, optional ...string) (map[string]string, *Result) {
	fail := func(s protocol.Status, format string, args ...any) (map[string]string, *Result) {
		r := Fail(s, fmt.Sprintf(format, args...))
		return nil, &r
	}
	known := append(slices.Clone(required), optional...)
	raw := map[string]json.RawMessage{}
	trimmed := bytes.TrimSpace(req.Data)
	if len(trimmed) > 0 && !bytes.Equal(trimmed, []byte("null")) {
		if err := json.Unmarshal(trimmed, &raw); err != nil {
			return fail(protocol.InvalidData, "%s.%s: request data is not a JSON object: %v", agent, req.Action, err)
		}
	}
	out := make(map[string]string, len(raw))
	for _, k := range slices.Sorted(maps.Keys(raw)) {
		if !slices.Contains(known, k) {
			if len(known) == 0 {
				return fail(protocol.InvalidData, "%s.%s: unknown data key %s; this action takes no data", agent, req.Action, quoteShort(k))
			}
			return fail(protocol.InvalidData, "%s.%s: unknown data key %s; known keys: %s", agent, req.Action, quoteShort(k), strings.Join(known, ", "))
		}
		var s string
		if err := json.Unmarshal(raw[k], &s); err != nil {
			return fail(protocol.InvalidData, "%s.%s: data key %q must be a string, got %s", agent, req.Action, k, jsonKind(raw[k]))
		}
		out[k] = s
	}
	for _, k := range required {
		if out[k] == "" {
			return fail(protocol.MissingData, "%s.%s: missing data key %q", agent, req.Action, k)
		}
	}
	return out, nil
}

func jsonKind(b json.RawMessage) string {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return "nothing"
	}
	switch b[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	default:
		return "a number"
	}
}

// DetectPackageProvider names the provider for a node from its os.family
// fact (facter's values such as "Debian", "RedHat", "Alpine", or os-release
// ID/ID_LIKE words). It returns "" when it does not know the family, so the
// caller can ask for configuration. On RedHat-like systems it prefers dnf
// and falls back to yum when only yum is installed.
func DetectPackageProvider(osFamily string) string {
	for _, w := range strings.Fields(strings.ToLower(osFamily)) {
		switch w {
		case "debian", "ubuntu", "linuxmint", "raspbian":
			return "apt"
		case "redhat", "rhel", "fedora", "centos", "rocky", "almalinux", "amazon", "ol", "oraclelinux":
			if _, err := exec.LookPath("dnf"); err != nil {
				if _, err := exec.LookPath("yum"); err == nil {
					return "yum"
				}
			}
			return "dnf"
		case "alpine":
			return "apk"
		}
	}
	return ""
}

// NewPackageProvider builds the provider called name ("apt", "dnf", "yum",
// "apk" or "sim", the latter with its default catalogue), running commands
// through r. It is how configuration forces a provider.
func NewPackageProvider(name string, r CmdRunner) (PackageProvider, error) {
	switch name {
	case "apt":
		return NewAptProvider(r), nil
	case "dnf", "yum":
		return NewDnfProvider(name, r), nil
	case "apk":
		return NewApkProvider(r), nil
	case "sim":
		return NewSimPackageProvider(SimPackageOptions{}), nil
	}
	return nil, fmt.Errorf("unknown package provider %q: use apt, dnf, yum, apk or sim", name)
}

// Version is the installed version of name ("absent" when it is not
// installed), for the versions a node reports of the packages it watches.
// It reads the package database without taking the change lock: a version
// read during a change is the one before or after it.
func (a *PackageAgent) Version(ctx context.Context, name string) (string, error) {
	st, err := a.p.Status(ctx, name)
	if err != nil {
		return "", err
	}
	return st.Ensure, nil
}
