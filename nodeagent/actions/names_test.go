package actions

import (
	"strings"
	"testing"
)

func TestNameValidators(t *testing.T) {
	long := strings.Repeat("a", 10240)
	tests := []struct {
		name  string
		check func(string) error
		in    string
		want  string // "" means valid
	}{
		{"debian ok", ValidateDebianPackageName, "nginx-light", ""},
		{"debian ok plus", ValidateDebianPackageName, "libstdc++6", ""},
		{"debian ok digits", ValidateDebianPackageName, "0ad", ""},
		{"debian empty", ValidateDebianPackageName, "", "invalid package name: it is empty"},
		{"debian one char", ValidateDebianPackageName, "a", `invalid package name "a": Debian package names must be at least 2 characters long`},
		{"debian upper", ValidateDebianPackageName, "Nginx", `invalid package name "Nginx": character 'N' at position 1 is not allowed; Debian package names use only a-z, 0-9, '+', '.' and '-'`},
		{"debian leading dash", ValidateDebianPackageName, "-oDebug=1", `invalid package name "-oDebug=1": must not start with '-'; Debian package names start with a lowercase letter or a digit`},
		{"debian space", ValidateDebianPackageName, "ng inx", `invalid package name "ng inx": character ' ' at position 3 is not allowed; Debian package names use only a-z, 0-9, '+', '.' and '-'`},
		{"debian semicolon", ValidateDebianPackageName, "nginx;reboot", `invalid package name "nginx;reboot": character ';' at position 6 is not allowed; Debian package names use only a-z, 0-9, '+', '.' and '-'`},
		{"debian nul", ValidateDebianPackageName, "ng\x00inx", `invalid package name "ng\x00inx": character byte 0x00 at position 3 is not allowed; Debian package names use only a-z, 0-9, '+', '.' and '-'`},
		{"debian arch qualifier", ValidateDebianPackageName, "hello:amd64", `invalid package name "hello:amd64": character ':' at position 6 is not allowed; Debian package names use only a-z, 0-9, '+', '.' and '-'`},
		{"debian utf8", ValidateDebianPackageName, "ngïnx", `invalid package name "ngïnx": character byte 0xc3 at position 3 is not allowed; Debian package names use only a-z, 0-9, '+', '.' and '-'`},
		{"debian long", ValidateDebianPackageName, long, `invalid package name "` + long[:64] + `"...: 10240 bytes is longer than the limit of 255`},
		{"rpm ok", ValidateRPMPackageName, "NetworkManager-wifi", ""},
		{"rpm ok underscore", ValidateRPMPackageName, "perl-Time_HiRes", ""},
		{"rpm leading dash", ValidateRPMPackageName, "--setopt=x", `invalid package name "--setopt=x": must not start with '-'; RPM package names start with a letter, a digit or '_'`},
		{"rpm glob", ValidateRPMPackageName, "kernel*", `invalid package name "kernel*": character '*' at position 7 is not allowed; RPM package names use only A-Z, a-z, 0-9, '_', '.', '+' and '-'`},
		{"rpm slash", ValidateRPMPackageName, "x/../y.rpm", `invalid package name "x/../y.rpm": character '/' at position 2 is not allowed; RPM package names use only A-Z, a-z, 0-9, '_', '.', '+' and '-'`},
		{"rpm leading dot", ValidateRPMPackageName, "..", `invalid package name "..": must not start with '.'; RPM package names start with a letter, a digit or '_'`},
		{"apk ok", ValidateApkPackageName, "py3-pip", ""},
		{"apk leading dot", ValidateApkPackageName, ".x", `invalid package name ".x": must not start with '.'; apk package names start with a letter or a digit`},
		{"apk equals", ValidateApkPackageName, "musl=1.2", `invalid package name "musl=1.2": character '=' at position 5 is not allowed; apk package names use only A-Z, a-z, 0-9, '_', '.', '+' and '-'`},
		{"service ok", ValidateServiceName, "nginx", ""},
		{"service ok unit", ValidateServiceName, "getty@tty1.service", ""},
		{"service backslash", ValidateServiceName, "dev-disk-by\\x2d:x", `invalid service name "dev-disk-by\\x2d:x": character '\\' at position 12 is not allowed; service names use only A-Z, a-z, 0-9, '_', '.', '@', ':' and '-'`},
		{"service leading dash", ValidateServiceName, "-H", `invalid service name "-H": must not start with '-'; service names start with a letter, a digit, '_', '@' or ':'`},
		{"service leading dot", ValidateServiceName, "..", `invalid service name "..": must not start with '.'; service names start with a letter, a digit, '_', '@' or ':'`},
		{"service slash", ValidateServiceName, "x/../../bin/sh", `invalid service name "x/../../bin/sh": character '/' at position 2 is not allowed; service names use only A-Z, a-z, 0-9, '_', '.', '@', ':' and '-'`},
		{"service newline", ValidateServiceName, "nginx\nreboot", `invalid service name "nginx\nreboot": character byte 0x0a at position 6 is not allowed; service names use only A-Z, a-z, 0-9, '_', '.', '@', ':' and '-'`},
		{"service 255", ValidateServiceName, strings.Repeat("s", 255), ""},
		{"service 256", ValidateServiceName, strings.Repeat("s", 256), `invalid service name "` + strings.Repeat("s", 64) + `"...: 256 bytes is longer than the limit of 255`},
		{"version ok", ValidatePackageVersion, "1:2.4.57-2+deb12u1~bpo", ""},
		{"version dash", ValidatePackageVersion, "-1", `invalid version "-1": must not start with '-'; versions start with a letter or a digit`},
		{"version space", ValidatePackageVersion, "1 2", `invalid version "1 2": character ' ' at position 2 is not allowed; versions use only A-Z, a-z, 0-9, '.', '+', '~', ':', '_', '-' and '^'`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.check(tt.in)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Fatalf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

// fuzzValidator checks the property every validator promises: whatever it
// accepts is short and made only of characters that are never special to a
// shell, a path or an option parser.
func fuzzValidator(f *testing.F, check func(string) error, allowed string) {
	for _, s := range []string{"nginx", "-x", "a b", "a;b", "\x00", "", "getty@tty1.service", "1:2.0-1", "..", strings.Repeat("z", 300)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := check(s)
		if err != nil {
			if len(err.Error()) > 400 {
				t.Fatalf("error message of %d bytes", len(err.Error()))
			}
			return
		}
		if s == "" || len(s) > 255 || s[0] == '-' || s[0] == '.' {
			t.Fatalf("accepted %q", s)
		}
		for i := 0; i < len(s); i++ {
			b := s[i]
			if !isAlnum(b) && !strings.ContainsRune("+.-_@:~^", rune(b)) {
				t.Fatalf("accepted %q with %q at %d", s, b, i)
			}
		}
	})
}

func FuzzValidateDebianPackageName(f *testing.F) {
	fuzzValidator(f, ValidateDebianPackageName, "debian")
}
func FuzzValidateRPMPackageName(f *testing.F) { fuzzValidator(f, ValidateRPMPackageName, "rpm") }
func FuzzValidateApkPackageName(f *testing.F) { fuzzValidator(f, ValidateApkPackageName, "apk") }
func FuzzValidateServiceName(f *testing.F)    { fuzzValidator(f, ValidateServiceName, "service") }
func FuzzValidatePackageVersion(f *testing.F) { fuzzValidator(f, ValidatePackageVersion, "version") }
