package actions

import (
	"fmt"
	"strconv"
)

// Names that reach a package manager or init system arrive from the network.
// Each is checked against the strictest rule the target accepts before any
// command is built, so that nothing which could be read as an option, a path
// or a shell word ever reaches an argument vector.

// maxNameLen bounds every validated name; no package manager or init system
// needs more, and a bound keeps error messages and logs small.
const maxNameLen = 255

// nameRule describes one naming rule for the error messages it produces.
type nameRule struct {
	kind     string // "package name", "service name", "version"
	family   string // "Debian package names", ...
	minLen   int
	maxLen   int
	first    func(b byte) bool
	firstMsg string
	rest     func(b byte) bool
	restMsg  string
}

func (r nameRule) check(s string) error {
	switch {
	case len(s) > r.maxLen:
		return fmt.Errorf("invalid %s %s: %d bytes is longer than the limit of %d", r.kind, quoteShort(s), len(s), r.maxLen)
	case s == "":
		return fmt.Errorf("invalid %s: it is empty", r.kind)
	case len(s) < r.minLen:
		return fmt.Errorf("invalid %s %s: %s must be at least %d characters long", r.kind, quoteShort(s), r.family, r.minLen)
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		ok := r.rest(b)
		if i == 0 {
			ok = r.first(b)
		}
		if ok {
			continue
		}
		if i == 0 && r.rest(b) {
			return fmt.Errorf("invalid %s %s: must not start with %q; %s start with %s", r.kind, quoteShort(s), b, r.family, r.firstMsg)
		}
		return fmt.Errorf("invalid %s %s: character %s at position %d is not allowed; %s use only %s", r.kind, quoteShort(s), describeByte(b), i+1, r.family, r.restMsg)
	}
	return nil
}

// quoteShort quotes s for a message, cutting it so a 10 kB name does not
// end up in logs whole.
func quoteShort(s string) string {
	if len(s) > 64 {
		return strconv.Quote(s[:64]) + "..."
	}
	return strconv.Quote(s)
}

// describeByte names a rejected byte readably, whether it prints or not.
func describeByte(b byte) string {
	if b >= 0x20 && b < 0x7f {
		return strconv.QuoteRune(rune(b))
	}
	return fmt.Sprintf("byte 0x%02x", b)
}

func isLowerAlnum(b byte) bool { return b >= 'a' && b <= 'z' || b >= '0' && b <= '9' }
func isAlnum(b byte) bool      { return isLowerAlnum(b) || b >= 'A' && b <= 'Z' }

var (
	debianRule = nameRule{
		kind: "package name", family: "Debian package names", minLen: 2, maxLen: maxNameLen,
		first: isLowerAlnum, firstMsg: "a lowercase letter or a digit",
		rest:    func(b byte) bool { return isLowerAlnum(b) || b == '+' || b == '.' || b == '-' },
		restMsg: "a-z, 0-9, '+', '.' and '-'",
	}
	rpmRule = nameRule{
		kind: "package name", family: "RPM package names", minLen: 1, maxLen: maxNameLen,
		first: func(b byte) bool { return isAlnum(b) || b == '_' }, firstMsg: "a letter, a digit or '_'",
		rest:    func(b byte) bool { return isAlnum(b) || b == '_' || b == '.' || b == '+' || b == '-' },
		restMsg: "A-Z, a-z, 0-9, '_', '.', '+' and '-'",
	}
	apkRule = nameRule{
		kind: "package name", family: "apk package names", minLen: 1, maxLen: maxNameLen,
		first: isAlnum, firstMsg: "a letter or a digit",
		rest:    func(b byte) bool { return isAlnum(b) || b == '_' || b == '.' || b == '+' || b == '-' },
		restMsg: "A-Z, a-z, 0-9, '_', '.', '+' and '-'",
	}
	serviceRule = nameRule{
		kind: "service name", family: "service names", minLen: 1, maxLen: maxNameLen,
		first: func(b byte) bool { return isAlnum(b) || b == '_' || b == '@' || b == ':' }, firstMsg: "a letter, a digit, '_', '@' or ':'",
		rest:    func(b byte) bool { return isAlnum(b) || b == '_' || b == '.' || b == '@' || b == ':' || b == '-' },
		restMsg: "A-Z, a-z, 0-9, '_', '.', '@', ':' and '-'",
	}
	versionRule = nameRule{
		kind: "version", family: "versions", minLen: 1, maxLen: 128,
		first: isAlnum, firstMsg: "a letter or a digit",
		rest: func(b byte) bool {
			return isAlnum(b) || b == '.' || b == '+' || b == '~' || b == ':' || b == '_' || b == '-' || b == '^'
		},
		restMsg: "A-Z, a-z, 0-9, '.', '+', '~', ':', '_', '-' and '^'",
	}
)

// ValidateDebianPackageName checks name against Debian policy 5.6.1:
// ^[a-z0-9][a-z0-9+.-]+$.
func ValidateDebianPackageName(name string) error { return debianRule.check(name) }

// ValidateRPMPackageName checks name against the characters RPM allows,
// [A-Za-z0-9_.+-], and refuses a leading '-' (an option) or '.' (a path
// such as ".." to dnf) or '+'.
func ValidateRPMPackageName(name string) error { return rpmRule.check(name) }

// ValidateApkPackageName checks an Alpine package name: a letter or digit,
// then [A-Za-z0-9_.+-].
func ValidateApkPackageName(name string) error { return apkRule.check(name) }

// ValidateServiceName checks a service or systemd unit name:
// [A-Za-z0-9_.@:-], not starting with '-' or '.', at most 255 bytes.
func ValidateServiceName(name string) error { return serviceRule.check(name) }

// ValidatePackageVersion checks a requested package version (Debian, RPM
// and apk version characters, with epochs), at most 128 bytes.
func ValidatePackageVersion(v string) error { return versionRule.check(v) }
