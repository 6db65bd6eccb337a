package facts

import (
	"fmt"
	"os"
	"strings"
)

// osFacts sets the nested "os" fact from os-release(5): family, name,
// release {full, major} and distro {codename, description}.
func (s *System) osFacts(f map[string]any) error {
	b, err := os.ReadFile(s.path("etc", "os-release"))
	if err != nil {
		// os-release(5): /etc/os-release may be missing; the vendor copy
		// in /usr/lib is then authoritative.
		var err2 error
		b, err2 = os.ReadFile(s.path("usr", "lib", "os-release"))
		if err2 != nil {
			return fmt.Errorf("os: %w", err)
		}
	}
	rel := parseOSRelease(b)
	id := strings.ToLower(rel["ID"])
	o := map[string]any{}
	if id != "" {
		o["name"] = id
	}
	if fam := osFamily(id, rel["ID_LIKE"]); fam != "" {
		o["family"] = fam
	}
	full := rel["VERSION_ID"]
	// Debian's os-release says "12"; debian_version says "12.5", which is
	// what facter reports and what a filter on point releases needs.
	if id == "debian" {
		if dv, err := s.readTrim("etc", "debian_version"); err == nil && strings.HasPrefix(dv, full+".") {
			full = dv
		}
	}
	if full != "" {
		major, _, _ := strings.Cut(full, ".")
		o["release"] = map[string]any{"full": full, "major": major}
	}
	distro := map[string]any{}
	codename := rel["VERSION_CODENAME"]
	if codename == "" {
		codename = rel["UBUNTU_CODENAME"]
	}
	if codename != "" {
		distro["codename"] = codename
	}
	if d := rel["PRETTY_NAME"]; d != "" {
		distro["description"] = d
	}
	if len(distro) > 0 {
		o["distro"] = distro
	}
	f["os"] = o
	return nil
}

// familyOf maps an os-release ID (or an ID_LIKE word) to the family name
// pulse reports: facter's names, lower-cased.
func familyOf(w string) string {
	switch w {
	case "debian", "ubuntu", "raspbian":
		return "debian"
	case "rhel", "redhat", "fedora", "centos", "rocky", "almalinux", "ol", "amzn":
		return "redhat"
	case "alpine":
		return "alpine"
	case "suse", "sles", "opensuse", "opensuse-leap", "opensuse-tumbleweed":
		return "suse"
	case "arch", "archlinux":
		return "archlinux"
	case "gentoo":
		return "gentoo"
	}
	return ""
}

// osFamily tries ID first, then each ID_LIKE word in order; an unknown
// distribution is its own family.
func osFamily(id, like string) string {
	for _, w := range append([]string{id}, strings.Fields(strings.ToLower(like))...) {
		if fam := familyOf(w); fam != "" {
			return fam
		}
	}
	return id
}

// parseOSRelease reads os-release(5): KEY=value lines where value may be
// double-quoted (with \" \\ \$ \` escapes) or single-quoted. Lines that do
// not fit are skipped, as the format's own reference parsers do.
func parseOSRelease(b []byte) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || k == "" || strings.ContainsAny(k, " \t\"'") {
			continue
		}
		val, ok := unquoteShell(v)
		if !ok {
			continue
		}
		out[k] = val
	}
	return out
}

// unquoteShell undoes the subset of shell quoting os-release allows.
func unquoteShell(v string) (string, bool) {
	if v == "" {
		return "", true
	}
	switch v[0] {
	case '\'':
		end := strings.IndexByte(v[1:], '\'')
		if end < 0 {
			return "", false
		}
		return v[1 : 1+end], true
	case '"':
		var sb strings.Builder
		for i := 1; i < len(v); i++ {
			c := v[i]
			switch {
			case c == '"':
				return sb.String(), true
			case c == '\\' && i+1 < len(v) && strings.IndexByte("\"\\$`", v[i+1]) >= 0:
				i++
				sb.WriteByte(v[i])
			default:
				sb.WriteByte(c)
			}
		}
		return "", false
	default:
		return v, true
	}
}
