package actions

import (
	"context"
	"fmt"
	"strings"
)

// ApkProvider manages packages on Alpine with apk.
type ApkProvider struct {
	r CmdRunner
}

// NewApkProvider returns the apk provider running commands through r.
func NewApkProvider(r CmdRunner) *ApkProvider { return &ApkProvider{r: r} }

// Name implements PackageProvider.
func (p *ApkProvider) Name() string { return "apk" }

// ValidateName implements PackageProvider.
func (p *ApkProvider) ValidateName(name string) error { return ValidateApkPackageName(name) }

// Status implements PackageProvider: "apk info -e" says whether the package
// is installed, "apk list --installed" gives its version and arch.
func (p *ApkProvider) Status(ctx context.Context, name string) (PackageStatus, error) {
	res, err := p.r.Run(ctx, CmdSpec{Name: "apk", Args: []string{"info", "-e", name}})
	if err != nil {
		return PackageStatus{}, err
	}
	if res.ExitCode != 0 || strings.TrimSpace(string(res.Stdout)) == "" {
		return PackageStatus{Package: name, Ensure: Absent, Name: name}, nil
	}
	l, err := runOK(ctx, p.r, CmdSpec{Name: "apk", Args: []string{"list", "--installed", name}})
	if err != nil {
		return PackageStatus{}, err
	}
	if st, ok := parseApkList(name, string(l.Stdout)); ok {
		return st, nil
	}
	return PackageStatus{}, fmt.Errorf("apk info says %s is installed but apk list --installed does not show it: %s", name, outputTail(l))
}

// parseApkList finds name in "apk list" lines such as
//
//	musl-1.2.4-r2 x86_64 {musl} (MIT) [installed]
func parseApkList(name, out string) (PackageStatus, bool) {
	for line := range strings.SplitSeq(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		v, ok := strings.CutPrefix(f[0], name+"-")
		if !ok || v == "" || v[0] < '0' || v[0] > '9' {
			continue
		}
		return PackageStatus{Package: name, Ensure: v, Arch: f[1], Name: name}, true
	}
	return PackageStatus{}, false
}

// Install implements PackageProvider.
func (p *ApkProvider) Install(ctx context.Context, name, version string) error {
	arg := name
	if version != "" {
		arg = name + "=" + version
	}
	_, err := runOK(ctx, p.r, CmdSpec{Name: "apk", Args: []string{"add", arg}})
	return err
}

// Uninstall implements PackageProvider.
func (p *ApkProvider) Uninstall(ctx context.Context, name string) error {
	_, err := runOK(ctx, p.r, CmdSpec{Name: "apk", Args: []string{"del", name}})
	return err
}

// Purge implements PackageProvider; apk del --purge also removes
// configuration files.
func (p *ApkProvider) Purge(ctx context.Context, name string) error {
	_, err := runOK(ctx, p.r, CmdSpec{Name: "apk", Args: []string{"del", "--purge", name}})
	return err
}

// Update implements PackageProvider.
func (p *ApkProvider) Update(ctx context.Context, name string) error {
	_, err := runOK(ctx, p.r, CmdSpec{Name: "apk", Args: []string{"add", "--upgrade", name}})
	return err
}

// CheckUpdates implements PackageProvider with "apk version -l <", which
// lists installed packages older than the repositories' versions.
func (p *ApkProvider) CheckUpdates(ctx context.Context) ([]OutdatedPackage, error) {
	res, err := runOK(ctx, p.r, CmdSpec{Name: "apk", Args: []string{"version", "-l", "<"}})
	if err != nil {
		return nil, err
	}
	return parseApkVersion(string(res.Stdout)), nil
}

// parseApkVersion reads lines such as
//
//	musl-1.2.4-r1                   < 1.2.4-r2
func parseApkVersion(out string) []OutdatedPackage {
	var list []OutdatedPackage
	for line := range strings.SplitSeq(out, "\n") {
		f := strings.Fields(line)
		if len(f) != 3 || f[1] != "<" {
			continue
		}
		name, cur, ok := splitApkPkgver(f[0])
		if !ok {
			continue
		}
		list = append(list, OutdatedPackage{Package: name, Current: cur, Available: f[2]})
	}
	return list
}

// splitApkPkgver splits "name-1.2.3-r4" into "name" and "1.2.3-r4": the
// version is the part after the last '-' that precedes a digit, once the
// "-rN" release suffix is set aside.
func splitApkPkgver(s string) (name, version string, ok bool) {
	base := s
	if i := strings.LastIndex(s, "-r"); i > 0 && isDigits(s[i+2:]) {
		base = s[:i]
	}
	for i := len(base) - 1; i > 0; i-- {
		if base[i] == '-' && i+1 < len(base) && base[i+1] >= '0' && base[i+1] <= '9' {
			return s[:i], s[i+1:], true
		}
	}
	return "", "", false
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
