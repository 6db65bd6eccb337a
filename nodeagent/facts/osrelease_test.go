package facts

import (
	"maps"
	"testing"
)

func TestParseOSRelease(t *testing.T) {
	in := `# comment
ID=ubuntu
ID_LIKE=debian
PRETTY_NAME="Ubuntu 24.04 LTS"
VERSION_ID='24.04'
NAME="say \"hi\" \$HOME \\ \x"
EMPTY=
BROKEN="unterminated
 bad key=1
UBUNTU_CODENAME=noble
`
	want := map[string]string{
		"ID": "ubuntu", "ID_LIKE": "debian", "PRETTY_NAME": "Ubuntu 24.04 LTS",
		"VERSION_ID": "24.04", "NAME": `say "hi" $HOME \ \x`, "EMPTY": "", "UBUNTU_CODENAME": "noble",
	}
	if got := parseOSRelease([]byte(in)); !maps.Equal(got, want) {
		t.Errorf("parseOSRelease:\n got %q\nwant %q", got, want)
	}
}

func TestOSFamily(t *testing.T) {
	tests := []struct{ id, like, want string }{
		{"debian", "", "debian"},
		{"ubuntu", "debian", "debian"},
		{"rocky", "rhel centos fedora", "redhat"},
		{"fedora", "", "redhat"},
		{"alpine", "", "alpine"},
		{"opensuse-leap", "suse opensuse", "suse"},
		{"linuxmint", "ubuntu debian", "debian"},
		{"nixos", "", "nixos"},
	}
	for _, tc := range tests {
		if got := osFamily(tc.id, tc.like); got != tc.want {
			t.Errorf("osFamily(%q, %q) = %q, want %q", tc.id, tc.like, got, tc.want)
		}
	}
}

func FuzzParseOSRelease(f *testing.F) {
	f.Add([]byte("ID=debian\nVERSION_ID=\"12\"\n"))
	f.Add([]byte("NAME='x'\nA=\"\\\"\"\n"))
	f.Add([]byte("=\n\"\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		for k := range parseOSRelease(b) {
			if k == "" {
				t.Fatalf("empty key from %q", b)
			}
		}
	})
}
