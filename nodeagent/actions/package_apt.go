package actions

import (
	"context"
	"fmt"
	"strings"
)

// AptProvider manages packages on Debian and Ubuntu with dpkg-query and
// apt-get.
type AptProvider struct {
	r CmdRunner
}

// NewAptProvider returns the apt provider running commands through r.
func NewAptProvider(r CmdRunner) *AptProvider { return &AptProvider{r: r} }

// Name implements PackageProvider.
func (p *AptProvider) Name() string { return "apt" }

// ValidateName implements PackageProvider with Debian policy.
func (p *AptProvider) ValidateName(name string) error { return ValidateDebianPackageName(name) }

// dpkgFormat yields one tab-separated line per matching package.
const dpkgFormat = "${Package}\t${Version}\t${Architecture}\t${Status}\n"

// Status implements PackageProvider.
func (p *AptProvider) Status(ctx context.Context, name string) (PackageStatus, error) {
	res, err := p.r.Run(ctx, CmdSpec{Name: "dpkg-query", Args: []string{"-W", "-f=" + dpkgFormat, name}})
	if err != nil {
		return PackageStatus{}, err
	}
	// dpkg-query exits 1 when it has never heard of the package.
	if res.ExitCode != 0 && len(strings.TrimSpace(string(res.Stdout))) == 0 {
		if strings.Contains(string(res.Stderr), "no packages found") {
			return PackageStatus{Package: name, Ensure: Absent, Name: name}, nil
		}
		return PackageStatus{}, fmt.Errorf("dpkg-query -W %s exited with status %d: %s", name, res.ExitCode, outputTail(res))
	}
	return parseDpkgQuery(name, string(res.Stdout)), nil
}

// parseDpkgQuery reads dpkgFormat output. A package counts as installed in
// any state but "not-installed" and "config-files" (removed, configuration
// kept), which is what "absent" means to a user.
func parseDpkgQuery(name, out string) PackageStatus {
	st := PackageStatus{Package: name, Ensure: Absent, Name: name}
	for line := range strings.SplitSeq(out, "\n") {
		f := strings.Split(line, "\t")
		if len(f) != 4 || f[0] == "" {
			continue
		}
		words := strings.Fields(f[3])
		if len(words) != 3 || words[2] == "not-installed" || words[2] == "config-files" || f[1] == "" {
			continue
		}
		return PackageStatus{Package: name, Ensure: f[1], Arch: f[2], Name: f[0]}
	}
	return st
}

// aptGet builds an apt-get command that never prompts and waits a while for
// a dpkg lock held by something else (unattended-upgrades, a person)
// instead of failing at once.
func aptGet(args ...string) CmdSpec {
	return CmdSpec{
		Name: "apt-get",
		Args: append([]string{"-y", "-q", "-o", "DPkg::Lock::Timeout=120", "-o", "Dpkg::Options::=--force-confold"}, args...),
		Env:  []string{"DEBIAN_FRONTEND=noninteractive"},
	}
}

// aptPatternChars are the characters that make apt-get read a name it
// cannot find exactly as a regular expression (apt's cacheset: ".?+*|[^$").
// Debian names may hold '.' and '+' (python3.11, g++), so a name with them
// is looked up exactly before apt-get sees it: `apt-get install nginx.`
// would select nginx-common, nginx-light and every other match.
const aptPatternChars = ".?+*|[^$"

// exact refuses a name apt-get would read as a pattern: one with pattern
// characters that is not the exact name of a package apt knows (available
// or installed). apt-cache pkgnames matches a plain prefix, never a
// pattern.
func (p *AptProvider) exact(ctx context.Context, name string) error {
	if !strings.ContainsAny(name, aptPatternChars) {
		return nil
	}
	res, err := runOK(ctx, p.r, CmdSpec{Name: "apt-cache", Args: []string{"pkgnames", name}})
	if err != nil {
		return err
	}
	for line := range strings.SplitSeq(string(res.Stdout), "\n") {
		if strings.TrimSpace(line) == name {
			return nil
		}
	}
	return fmt.Errorf("%w: no package is named %q exactly, and apt-get would read a name with %q in it as a regular expression and act on every package it matches", ErrPatternName, name, aptPatternChars)
}

// Install implements PackageProvider.
func (p *AptProvider) Install(ctx context.Context, name, version string) error {
	if err := p.exact(ctx, name); err != nil {
		return err
	}
	arg := name
	if version != "" {
		arg = name + "=" + version
	}
	_, err := runOK(ctx, p.r, aptGet("install", arg))
	return err
}

// Uninstall implements PackageProvider.
func (p *AptProvider) Uninstall(ctx context.Context, name string) error {
	if err := p.exact(ctx, name); err != nil {
		return err
	}
	_, err := runOK(ctx, p.r, aptGet("remove", name))
	return err
}

// Purge implements PackageProvider.
func (p *AptProvider) Purge(ctx context.Context, name string) error {
	if err := p.exact(ctx, name); err != nil {
		return err
	}
	_, err := runOK(ctx, p.r, aptGet("purge", name))
	return err
}

// Update implements PackageProvider: upgrade name if it is installed, and
// never install it if it is not.
func (p *AptProvider) Update(ctx context.Context, name string) error {
	if err := p.exact(ctx, name); err != nil {
		return err
	}
	_, err := runOK(ctx, p.r, aptGet("install", "--only-upgrade", name))
	return err
}

// CheckUpdates implements PackageProvider from a simulated dist-upgrade,
// which changes nothing.
func (p *AptProvider) CheckUpdates(ctx context.Context) ([]OutdatedPackage, error) {
	res, err := runOK(ctx, p.r, CmdSpec{Name: "apt-get", Args: []string{"-s", "-q", "dist-upgrade"}, Env: []string{"DEBIAN_FRONTEND=noninteractive"}})
	if err != nil {
		return nil, err
	}
	return parseAptSimulate(string(res.Stdout)), nil
}

// parseAptSimulate reads the "Inst" lines of apt-get -s:
//
//	Inst libc6 [2.36-9+deb12u4] (2.36-9+deb12u7 Debian:12.7/stable [amd64]) []
//
// Lines without a bracketed current version are new packages pulled in by
// the upgrade, not outdated ones, and are skipped.
func parseAptSimulate(out string) []OutdatedPackage {
	var list []OutdatedPackage
	for line := range strings.SplitSeq(out, "\n") {
		rest, ok := strings.CutPrefix(line, "Inst ")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) < 3 || len(f[1]) < 3 || f[1][0] != '[' || f[1][len(f[1])-1] != ']' || len(f[2]) < 2 || f[2][0] != '(' {
			continue
		}
		name, current := f[0], f[1][1:len(f[1])-1]
		available := strings.TrimSuffix(f[2][1:], ")")
		if available == "" || strings.ContainsAny(current, "[]") {
			continue
		}
		list = append(list, OutdatedPackage{Package: name, Current: current, Available: available})
	}
	return list
}
