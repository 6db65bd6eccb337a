package actions

import (
	"context"
	"fmt"
	"strings"
)

// DnfProvider manages packages on RedHat-like systems with rpm and dnf, or
// yum on older releases; the two take the same arguments for what is used
// here.
type DnfProvider struct {
	tool string // "dnf" or "yum"
	r    CmdRunner
}

// NewDnfProvider returns the provider using tool ("dnf" or "yum"; anything
// else means dnf) through r.
func NewDnfProvider(tool string, r CmdRunner) *DnfProvider {
	if tool != "yum" {
		tool = "dnf"
	}
	return &DnfProvider{tool: tool, r: r}
}

// Name implements PackageProvider.
func (p *DnfProvider) Name() string { return p.tool }

// ValidateName implements PackageProvider with RPM's rules.
func (p *DnfProvider) ValidateName(name string) error { return ValidateRPMPackageName(name) }

// rpmFormat prints name, [epoch:]version-release and arch per package.
const rpmFormat = "%{NAME}\t%|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE}\t%{ARCH}\n"

// Status implements PackageProvider.
func (p *DnfProvider) Status(ctx context.Context, name string) (PackageStatus, error) {
	res, err := p.r.Run(ctx, CmdSpec{Name: "rpm", Args: []string{"-q", "--qf", rpmFormat, name}})
	if err != nil {
		return PackageStatus{}, err
	}
	if res.ExitCode != 0 {
		// rpm -q says "package X is not installed" on stdout and exits 1.
		if strings.Contains(string(res.Stdout), "is not installed") {
			return PackageStatus{Package: name, Ensure: Absent, Name: name}, nil
		}
		return PackageStatus{}, fmt.Errorf("rpm -q %s exited with status %d: %s", name, res.ExitCode, outputTail(res))
	}
	for _, e := range parseRPMQuery(string(res.Stdout)) {
		return PackageStatus{Package: name, Ensure: e.version, Arch: e.arch, Name: e.name}, nil
	}
	return PackageStatus{Package: name, Ensure: Absent, Name: name}, nil
}

type rpmEntry struct{ name, version, arch string }

// parseRPMQuery reads rpmFormat lines; several packages of one name
// (multilib, kernels) give several lines, first one wins for status.
func parseRPMQuery(out string) []rpmEntry {
	var list []rpmEntry
	for line := range strings.SplitSeq(out, "\n") {
		f := strings.Split(line, "\t")
		if len(f) != 3 || f[0] == "" || f[1] == "" {
			continue
		}
		list = append(list, rpmEntry{name: f[0], version: f[1], arch: f[2]})
	}
	return list
}

func (p *DnfProvider) tx(args ...string) CmdSpec {
	return CmdSpec{Name: p.tool, Args: append([]string{"-y", "-q"}, args...)}
}

// Install implements PackageProvider.
func (p *DnfProvider) Install(ctx context.Context, name, version string) error {
	arg := name
	if version != "" {
		arg = name + "-" + version
	}
	_, err := runOK(ctx, p.r, p.tx("install", arg))
	return err
}

// Uninstall implements PackageProvider.
func (p *DnfProvider) Uninstall(ctx context.Context, name string) error {
	_, err := runOK(ctx, p.r, p.tx("remove", name))
	return err
}

// Purge implements PackageProvider. RPM has no separate purge: removing a
// package keeps only modified configuration as .rpmsave, so purge is remove.
func (p *DnfProvider) Purge(ctx context.Context, name string) error {
	return p.Uninstall(ctx, name)
}

// Update implements PackageProvider.
func (p *DnfProvider) Update(ctx context.Context, name string) error {
	verb := "upgrade"
	if p.tool == "yum" {
		verb = "update"
	}
	_, err := runOK(ctx, p.r, p.tx(verb, name))
	return err
}

// CheckUpdates implements PackageProvider. check-update exits 100 when
// there are updates and 0 when there are none; the installed versions come
// from one rpm query over the names it listed.
func (p *DnfProvider) CheckUpdates(ctx context.Context) ([]OutdatedPackage, error) {
	c := CmdSpec{Name: p.tool, Args: []string{"-q", "check-update"}}
	res, err := p.r.Run(ctx, c)
	if err != nil {
		return nil, err
	}
	if res.ExitCode != 0 && res.ExitCode != 100 {
		return nil, fmt.Errorf("%s exited with status %d: %s", c, res.ExitCode, outputTail(res))
	}
	avail := parseDnfCheckUpdate(string(res.Stdout))
	if len(avail) == 0 {
		return nil, nil
	}
	args := []string{"-q", "--qf", rpmFormat}
	for _, a := range avail {
		// The names came from the tool's output, not from a person, but
		// they still reach an argument vector: keep only valid ones.
		if ValidateRPMPackageName(a.Package) == nil {
			args = append(args, a.Package)
		}
	}
	q, err := p.r.Run(ctx, CmdSpec{Name: "rpm", Args: args})
	if err != nil {
		return nil, err
	}
	current := map[string]string{}
	for _, e := range parseRPMQuery(string(q.Stdout)) {
		if _, seen := current[e.name]; !seen {
			current[e.name] = e.version
		}
	}
	for i := range avail {
		avail[i].Current = current[avail[i].Package]
	}
	return avail, nil
}

// parseDnfCheckUpdate reads "name.arch  version-release  repo" lines. It
// stops at "Obsoleting Packages", whose lines name replacements rather than
// updates, and skips anything that does not have exactly three fields.
func parseDnfCheckUpdate(out string) []OutdatedPackage {
	var list []OutdatedPackage
	seen := map[string]bool{}
	for line := range strings.SplitSeq(out, "\n") {
		if strings.HasPrefix(line, "Obsoleting") {
			break
		}
		f := strings.Fields(line)
		if len(f) != 3 || strings.HasPrefix(line, " ") {
			continue
		}
		dot := strings.LastIndexByte(f[0], '.')
		if dot <= 0 {
			continue
		}
		name := f[0][:dot]
		if seen[name] {
			continue
		}
		seen[name] = true
		list = append(list, OutdatedPackage{Package: name, Available: f[1]})
	}
	return list
}
