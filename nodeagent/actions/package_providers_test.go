package actions

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/pulseops/pulse/internal/protocol"
)

// scripted answers each command by its argument vector; unknown commands
// exit 0 with no output.
func scripted(answers map[string]CmdResult) *recordingRunner {
	return &recordingRunner{respond: func(c CmdSpec) (CmdResult, error) {
		return answers[c.String()], nil
	}}
}

const aptPrefix = "apt-get -y -q -o DPkg::Lock::Timeout=120 -o Dpkg::Options::=--force-confold "

func TestAptProviderArgv(t *testing.T) {
	q := "dpkg-query -W -f=${Package}\t${Version}\t${Architecture}\t${Status}\n "
	absent := CmdResult{ExitCode: 1, Stderr: []byte("dpkg-query: no packages found matching hello\n")}
	installed := CmdResult{Stdout: []byte("hello\t2.10-3\tamd64\tinstall ok installed\n")}
	tests := []struct {
		action, data string
		answers      map[string]CmdResult
		want         []string
	}{
		{"status", `{"package":"hello"}`, map[string]CmdResult{q + "hello": absent}, []string{q + "hello"}},
		{"install", `{"package":"hello"}`, map[string]CmdResult{q + "hello": absent}, []string{q + "hello", aptPrefix + "install hello", q + "hello"}},
		{"install", `{"package":"hello","version":"2.10-3"}`, map[string]CmdResult{q + "hello": absent}, []string{q + "hello", aptPrefix + "install hello=2.10-3", q + "hello"}},
		{"install", `{"package":"hello"}`, map[string]CmdResult{q + "hello": installed}, []string{q + "hello", q + "hello"}},
		{"uninstall", `{"package":"hello"}`, map[string]CmdResult{q + "hello": installed}, []string{q + "hello", aptPrefix + "remove hello", q + "hello"}},
		{"uninstall", `{"package":"hello"}`, map[string]CmdResult{q + "hello": absent}, []string{q + "hello", q + "hello"}},
		{"purge", `{"package":"hello"}`, map[string]CmdResult{q + "hello": absent}, []string{q + "hello", aptPrefix + "purge hello", q + "hello"}},
		{"update", `{"package":"hello"}`, map[string]CmdResult{q + "hello": installed}, []string{q + "hello", aptPrefix + "install --only-upgrade hello", q + "hello"}},
		{"checkupdates", ``, nil, []string{"apt-get -s -q dist-upgrade"}},
	}
	for _, tt := range tests {
		r := scripted(tt.answers)
		res := call(t, NewPackageAgent(NewAptProvider(r), nil), tt.action, tt.data)
		if res.Status != protocol.OK {
			t.Fatalf("%s: %d %s", tt.action, res.Status, res.Message)
		}
		assertArgvs(t, r.argvs(), tt.want)
		for _, c := range r.calls {
			if c.Name == "apt-get" && !slices.Equal(c.Env, []string{"DEBIAN_FRONTEND=noninteractive"}) {
				t.Fatalf("apt-get env %v", c.Env)
			}
		}
	}
}

func TestAptProviderInstallFailure(t *testing.T) {
	q := "dpkg-query -W -f=${Package}\t${Version}\t${Architecture}\t${Status}\n nosuch"
	r := scripted(map[string]CmdResult{
		q:                            {ExitCode: 1, Stderr: []byte("dpkg-query: no packages found matching nosuch\n")},
		aptPrefix + "install nosuch": {ExitCode: 100, Stdout: []byte("Reading package lists...\n"), Stderr: []byte("E: Unable to locate package nosuch\n")},
	})
	res := call(t, NewPackageAgent(NewAptProvider(r), nil), "install", `{"package":"nosuch"}`)
	want := "package install nosuch failed: " + aptPrefix + "install nosuch exited with status 100: E: Unable to locate package nosuch"
	if res.Status != protocol.UnknownError || res.Message != want || replyJSON(t, res) != `{"package":"nosuch","ensure":"absent","arch":"","name":"nosuch"}` {
		t.Fatalf("got %d %s %s\nwant %s", res.Status, res.Message, replyJSON(t, res), want)
	}
}

func TestParseDpkgQuery(t *testing.T) {
	tests := []struct{ out, want string }{
		{"hello\t2.10-3\tamd64\tinstall ok installed\n", "2.10-3 amd64 hello"},
		{"hello\t2.10-3\tamd64\tdeinstall ok config-files\n", "absent  hello"},
		{"hello\t\t\tunknown ok not-installed\n", "absent  hello"},
		{"hello\t2.10-3\ti386\tdeinstall ok config-files\nhello\t2.10-3\tamd64\tinstall ok installed\n", "2.10-3 amd64 hello"},
		{"garbage", "absent  hello"},
	}
	for _, tt := range tests {
		st := parseDpkgQuery("hello", tt.out)
		if got := st.Ensure + " " + st.Arch + " " + st.Name; got != tt.want {
			t.Errorf("parseDpkgQuery(%q) = %q, want %q", tt.out, got, tt.want)
		}
	}
}

const aptSimulateSample = `NOTE: This is only a simulation!
Reading package lists...
The following packages will be upgraded:
   libc6 tzdata
Inst libc6 [2.36-9+deb12u4] (2.36-9+deb12u7 Debian:12.7/stable [amd64]) []
Inst linux-image-6.1.0-26-amd64 (6.1.112-1 Debian-Security:12/stable-security [amd64])
Inst tzdata [2024a-0+deb12u1] (2024b-0+deb12u1 Debian:12.7/stable [all])
Conf libc6 (2.36-9+deb12u7 Debian:12.7/stable [amd64])
`

func TestParseAptSimulate(t *testing.T) {
	got := parseAptSimulate(aptSimulateSample)
	want := []OutdatedPackage{
		{Package: "libc6", Current: "2.36-9+deb12u4", Available: "2.36-9+deb12u7"},
		{Package: "tzdata", Current: "2024a-0+deb12u1", Available: "2024b-0+deb12u1"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v", got)
	}
}

func FuzzParseAptSimulate(f *testing.F) {
	f.Add(aptSimulateSample)
	f.Add("Inst x [1] (2)")
	f.Add("Inst x [] ()")
	f.Fuzz(func(t *testing.T, s string) {
		for _, p := range parseAptSimulate(s) {
			if p.Package == "" || p.Current == "" || p.Available == "" || strings.ContainsAny(p.Package+p.Current+p.Available, "\n ") {
				t.Fatalf("bad entry %+v from %q", p, s)
			}
		}
	})
}

func FuzzParseDpkgQuery(f *testing.F) {
	f.Add("hello\t2.10-3\tamd64\tinstall ok installed\n")
	f.Add("hello\t\t\tunknown ok not-installed\n")
	f.Fuzz(func(t *testing.T, s string) {
		st := parseDpkgQuery("hello", s)
		if st.Package != "hello" || st.Ensure == "" || strings.Contains(st.Ensure, "\n") {
			t.Fatalf("bad status %+v from %q", st, s)
		}
	})
}

func TestDnfProviderArgv(t *testing.T) {
	q := "rpm -q --qf " + rpmFormat + " "
	absent := CmdResult{ExitCode: 1, Stdout: []byte("package httpd is not installed\n")}
	installed := CmdResult{Stdout: []byte("httpd\t2.4.57-5.el9\tx86_64\n")}
	for _, tool := range []string{"dnf", "yum"} {
		upd := "upgrade"
		if tool == "yum" {
			upd = "update"
		}
		tests := []struct {
			action, data string
			answers      map[string]CmdResult
			want         []string
			reply        string
		}{
			{"status", `{"package":"httpd"}`, map[string]CmdResult{q + "httpd": installed}, []string{q + "httpd"}, `{"package":"httpd","ensure":"2.4.57-5.el9","arch":"x86_64","name":"httpd"}`},
			{"install", `{"package":"httpd","version":"2.4.57-5.el9"}`, map[string]CmdResult{q + "httpd": absent}, []string{q + "httpd", tool + " -y -q install httpd-2.4.57-5.el9", q + "httpd"}, `{"package":"httpd","ensure":"absent","arch":"","name":"httpd"}`},
			{"uninstall", `{"package":"httpd"}`, map[string]CmdResult{q + "httpd": installed}, []string{q + "httpd", tool + " -y -q remove httpd", q + "httpd"}, ""},
			{"purge", `{"package":"httpd"}`, map[string]CmdResult{q + "httpd": installed}, []string{q + "httpd", tool + " -y -q remove httpd", q + "httpd"}, ""},
			{"update", `{"package":"httpd"}`, map[string]CmdResult{q + "httpd": installed}, []string{q + "httpd", tool + " -y -q " + upd + " httpd", q + "httpd"}, ""},
			{"checkupdates", ``, map[string]CmdResult{
				tool + " -q check-update": {ExitCode: 100, Stdout: []byte(dnfCheckUpdateSample)},
				q + "httpd openssl-libs":  {Stdout: []byte("httpd\t2.4.57-5.el9\tx86_64\nopenssl-libs\t1:3.0.7-24.el9\tx86_64\n")},
			}, []string{tool + " -q check-update", q + "httpd openssl-libs"}, `{"outdated_packages":[{"package":"httpd","current":"2.4.57-5.el9","available":"2.4.57-8.el9"},{"package":"openssl-libs","current":"1:3.0.7-24.el9","available":"1:3.0.7-27.el9"}],"count":2}`},
		}
		for _, tt := range tests {
			r := scripted(tt.answers)
			res := call(t, NewPackageAgent(NewDnfProvider(tool, r), nil), tt.action, tt.data)
			if res.Status != protocol.OK {
				t.Fatalf("%s %s: %d %s", tool, tt.action, res.Status, res.Message)
			}
			assertArgvs(t, r.argvs(), tt.want)
			if tt.reply != "" && replyJSON(t, res) != tt.reply {
				t.Fatalf("%s %s: reply %s, want %s", tool, tt.action, replyJSON(t, res), tt.reply)
			}
		}
	}
}

const dnfCheckUpdateSample = `
httpd.x86_64                     2.4.57-8.el9                 appstream
openssl-libs.x86_64              1:3.0.7-27.el9               baseos
openssl-libs.i686                1:3.0.7-27.el9               baseos
Obsoleting Packages
grub2-tools.x86_64               1:2.06-70.el9                baseos
    grub2-tools.x86_64           1:2.06-61.el9                @baseos
`

func TestParseDnfCheckUpdate(t *testing.T) {
	got := parseDnfCheckUpdate(dnfCheckUpdateSample)
	want := []OutdatedPackage{{Package: "httpd", Available: "2.4.57-8.el9"}, {Package: "openssl-libs", Available: "1:3.0.7-27.el9"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v", got)
	}
}

func FuzzParseDnfCheckUpdate(f *testing.F) {
	f.Add(dnfCheckUpdateSample)
	f.Add(".x 1 r")
	f.Fuzz(func(t *testing.T, s string) {
		for _, p := range parseDnfCheckUpdate(s) {
			if p.Package == "" || p.Available == "" || strings.ContainsAny(p.Package, " \t\n") {
				t.Fatalf("bad entry %+v from %q", p, s)
			}
		}
	})
}

func FuzzParseRPMQuery(f *testing.F) {
	f.Add("httpd\t2.4.57-5.el9\tx86_64\n")
	f.Fuzz(func(t *testing.T, s string) {
		for _, e := range parseRPMQuery(s) {
			if e.name == "" || e.version == "" || strings.ContainsAny(e.name+e.version+e.arch, "\t\n") {
				t.Fatalf("bad entry %+v from %q", e, s)
			}
		}
	})
}

func TestApkProviderArgv(t *testing.T) {
	info := "apk info -e musl"
	list := "apk list --installed musl"
	installed := map[string]CmdResult{
		info: {Stdout: []byte("musl\n")},
		list: {Stdout: []byte("musl-1.2.4-r2 x86_64 {musl} (MIT) [installed]\n")},
	}
	absent := map[string]CmdResult{info: {ExitCode: 1}}
	tests := []struct {
		action, data string
		answers      map[string]CmdResult
		want         []string
		reply        string
	}{
		{"status", `{"package":"musl"}`, installed, []string{info, list}, `{"package":"musl","ensure":"1.2.4-r2","arch":"x86_64","name":"musl"}`},
		{"status", `{"package":"musl"}`, absent, []string{info}, `{"package":"musl","ensure":"absent","arch":"","name":"musl"}`},
		{"install", `{"package":"musl","version":"1.2.4-r2"}`, absent, []string{info, "apk add musl=1.2.4-r2", info}, ""},
		{"uninstall", `{"package":"musl"}`, installed, []string{info, list, "apk del musl", info, list}, ""},
		{"purge", `{"package":"musl"}`, absent, []string{info, "apk del --purge musl", info}, ""},
		{"update", `{"package":"musl"}`, absent, []string{info, "apk add --upgrade musl", info}, ""},
		{"checkupdates", ``, map[string]CmdResult{"apk version -l <": {Stdout: []byte(apkVersionSample)}}, []string{"apk version -l <"}, `{"outdated_packages":[{"package":"musl","current":"1.2.4-r1","available":"1.2.4-r2"},{"package":"py3-pip","current":"23.1.2-r0","available":"23.3.1-r0"},{"package":"libcrypto3","current":"3.1.4-r0","available":"3.1.4-r1"}],"count":3}`},
	}
	for _, tt := range tests {
		r := scripted(tt.answers)
		res := call(t, NewPackageAgent(NewApkProvider(r), nil), tt.action, tt.data)
		if res.Status != protocol.OK {
			t.Fatalf("%s: %d %s", tt.action, res.Status, res.Message)
		}
		assertArgvs(t, r.argvs(), tt.want)
		if tt.reply != "" && replyJSON(t, res) != tt.reply {
			t.Fatalf("%s: reply %s, want %s", tt.action, replyJSON(t, res), tt.reply)
		}
	}
}

const apkVersionSample = `Installed:                                Available:
musl-1.2.4-r1                           < 1.2.4-r2
py3-pip-23.1.2-r0                       < 23.3.1-r0
libcrypto3-3.1.4-r0                     < 3.1.4-r1
busybox-1.36.1-r5                       = 1.36.1-r5
`

func TestSplitApkPkgver(t *testing.T) {
	for in, want := range map[string]string{
		"musl-1.2.4-r1": "musl 1.2.4-r1", "py3-pip-23.1.2-r0": "py3-pip 23.1.2-r0", "font-noto-cjk-20230817-r0": "font-noto-cjk 20230817-r0",
		"x-r1": " ", "nodash": " ", "lib-2-1-r0": "lib-2 1-r0",
	} {
		n, v, _ := splitApkPkgver(in)
		if got := n + " " + v; got != want {
			t.Errorf("splitApkPkgver(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzParseApkVersion(f *testing.F) {
	f.Add(apkVersionSample)
	f.Add("a-1-r < 2")
	f.Fuzz(func(t *testing.T, s string) {
		for _, p := range parseApkVersion(s) {
			if p.Package == "" || p.Current == "" || p.Available == "" || !strings.Contains(s, p.Package+"-"+p.Current) {
				t.Fatalf("bad entry %+v from %q", p, s)
			}
		}
	})
}

func FuzzParseApkList(f *testing.F) {
	f.Add("musl-1.2.4-r2 x86_64 {musl} (MIT) [installed]\n")
	f.Fuzz(func(t *testing.T, s string) {
		if st, ok := parseApkList("musl", s); ok && (st.Ensure == "" || st.Arch == "" || strings.ContainsAny(st.Ensure, " \n")) {
			t.Fatalf("bad status %+v from %q", st, s)
		}
	})
}
