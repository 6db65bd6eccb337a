package actions

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"
)

// SimPackageOptions configures a simulated package manager.
type SimPackageOptions struct {
	// Catalogue maps each package the simulated repository knows to its
	// versions, oldest first; the last is what install and update pick.
	// Nil means DefaultSimCatalogue().
	Catalogue map[string][]string
	// Installed maps installed packages to their versions. Nil means
	// DefaultSimInstalled().
	Installed map[string]string
	// Delay is how long each change takes, so the demo shows progress and
	// concurrency; zero means 200ms, negative means none.
	Delay time.Duration
	// Arch is reported for installed packages (default "amd64").
	Arch string
	// Changed, when set, is told after a package was installed (in any
	// version), updated or removed, outside the provider's lock.
	Changed func(name string, installed bool)
}

// DefaultSimCatalogue returns a fresh copy of the demo repository.
func DefaultSimCatalogue() map[string][]string {
	return map[string][]string{
		"bash":           {"5.2.15-2+b2"},
		"cron":           {"3.0pl1-162"},
		"curl":           {"7.88.1-10", "7.88.1-10+deb12u5"},
		"haproxy":        {"2.6.12-1+deb12u1"},
		"hello":          {"2.10-3"},
		"httpd":          {"2.4.56-1", "2.4.57-2"},
		"nginx":          {"1.22.1-8", "1.22.1-9"},
		"openssh-server": {"1:9.2p1-2+deb12u2"},
		"openssl":        {"3.0.9-1", "3.0.11-1~deb12u2"},
		"postgresql":     {"15+248"},
		"redis-server":   {"5:7.0.11-1", "5:7.0.15-1~deb12u1"},
		"sl":             {"5.02-1+b1"},
		// The demo's web application: 1.1.0 is the release that breaks
		// logins, 1.0.1 the fix that does not (demo/shop).
		"shop": {"1.0.0", "1.0.1", "1.1.0"},
	}
}

// DefaultSimInstalled returns a fresh copy of the demo's installed set; curl
// and openssl are one version behind so checkupdates has something to say.
func DefaultSimInstalled() map[string]string {
	return map[string]string{
		"bash":           "5.2.15-2+b2",
		"cron":           "3.0pl1-162",
		"curl":           "7.88.1-10",
		"nginx":          "1.22.1-9",
		"openssh-server": "1:9.2p1-2+deb12u2",
		"openssl":        "3.0.9-1",
	}
}

// SimPackageProvider is an in-memory package manager for the demo: one per
// simulated node, with its own installed set. It never runs anything.
type SimPackageProvider struct {
	catalogue map[string][]string
	delay     time.Duration
	arch      string
	changed   func(name string, installed bool)

	mu        sync.Mutex // guards installed
	installed map[string]string
}

// NewSimPackageProvider returns a simulated package manager.
func NewSimPackageProvider(o SimPackageOptions) *SimPackageProvider {
	if o.Catalogue == nil {
		o.Catalogue = DefaultSimCatalogue()
	}
	if o.Installed == nil {
		o.Installed = DefaultSimInstalled()
	}
	if o.Delay == 0 {
		o.Delay = 200 * time.Millisecond
	}
	if o.Arch == "" {
		o.Arch = "amd64"
	}
	cat := make(map[string][]string, len(o.Catalogue))
	for k, v := range o.Catalogue {
		cat[k] = slices.Clone(v)
	}
	return &SimPackageProvider{catalogue: cat, delay: o.Delay, arch: o.Arch, changed: o.Changed, installed: maps.Clone(o.Installed)}
}

// Installed reports whether name is installed.
func (p *SimPackageProvider) Installed(name string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ok := p.installed[name]
	return ok
}

func (p *SimPackageProvider) notify(name string, installed bool) {
	if p.changed != nil {
		p.changed(name, installed)
	}
}

// Name implements PackageProvider.
func (p *SimPackageProvider) Name() string { return "sim" }

// ValidateName implements PackageProvider with Debian policy, as the demo
// pretends to be Debian.
func (p *SimPackageProvider) ValidateName(name string) error { return ValidateDebianPackageName(name) }

// Status implements PackageProvider.
func (p *SimPackageProvider) Status(ctx context.Context, name string) (PackageStatus, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if v, ok := p.installed[name]; ok {
		return PackageStatus{Package: name, Ensure: v, Arch: p.arch, Name: name}, nil
	}
	return PackageStatus{Package: name, Ensure: Absent, Name: name}, nil
}

func (p *SimPackageProvider) versions(name string) ([]string, error) {
	v, ok := p.catalogue[name]
	if !ok || len(v) == 0 {
		return nil, fmt.Errorf("package %s not found in the simulated repository", name)
	}
	return v, nil
}

// wait is the simulated time a change takes; it ends early with ctx.
func (p *SimPackageProvider) wait(ctx context.Context) error {
	if p.delay <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(p.delay)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Install implements PackageProvider.
func (p *SimPackageProvider) Install(ctx context.Context, name, version string) error {
	vs, err := p.versions(name)
	if err != nil {
		return err
	}
	want := vs[len(vs)-1]
	if version != "" {
		if !slices.Contains(vs, version) {
			return fmt.Errorf("version %s of package %s not found in the simulated repository; available: %s", version, name, strings.Join(vs, ", "))
		}
		want = version
	}
	if err := p.wait(ctx); err != nil {
		return err
	}
	p.mu.Lock()
	p.installed[name] = want
	p.mu.Unlock()
	p.notify(name, true)
	return nil
}

// Uninstall implements PackageProvider.
func (p *SimPackageProvider) Uninstall(ctx context.Context, name string) error {
	if err := p.wait(ctx); err != nil {
		return err
	}
	p.mu.Lock()
	_, was := p.installed[name]
	delete(p.installed, name)
	p.mu.Unlock()
	if was {
		p.notify(name, false)
	}
	return nil
}

// Purge implements PackageProvider; the simulation keeps no configuration.
func (p *SimPackageProvider) Purge(ctx context.Context, name string) error {
	return p.Uninstall(ctx, name)
}

// Update implements PackageProvider: upgrade to the newest version if
// installed, and never install.
func (p *SimPackageProvider) Update(ctx context.Context, name string) error {
	vs, err := p.versions(name)
	if err != nil {
		return err
	}
	if err := p.wait(ctx); err != nil {
		return err
	}
	p.mu.Lock()
	_, ok := p.installed[name]
	if ok {
		p.installed[name] = vs[len(vs)-1]
	}
	p.mu.Unlock()
	if ok {
		p.notify(name, true)
	}
	return nil
}

// CheckUpdates implements PackageProvider: installed packages whose version
// is not the repository's newest, sorted by name.
func (p *SimPackageProvider) CheckUpdates(ctx context.Context) ([]OutdatedPackage, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []OutdatedPackage
	for _, name := range slices.Sorted(maps.Keys(p.installed)) {
		vs := p.catalogue[name]
		if len(vs) == 0 || vs[len(vs)-1] == p.installed[name] {
			continue
		}
		out = append(out, OutdatedPackage{Package: name, Current: p.installed[name], Available: vs[len(vs)-1]})
	}
	return out, nil
}
