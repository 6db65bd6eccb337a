package facts

import (
	"maps"
	"strings"
	"testing"
)

func TestParseKeyValue(t *testing.T) {
	tests := []struct {
		name, in string
		want     map[string]any
		err      string
	}{
		{name: "empty", in: "", want: map[string]any{}},
		{name: "pairs, comments, blanks, spaces", in: "# header\n\nrole = web\ncluster=alpha\n  url=http://x/?a=b  \n",
			want: map[string]any{"role": "web", "cluster": "alpha", "url": "http://x/?a=b"}},
		{name: "empty value", in: "k=\n", want: map[string]any{"k": ""}},
		{name: "later wins", in: "k=1\nk=2\n", want: map[string]any{"k": "2"}},
		{name: "CRLF", in: "a=1\r\nb=2\r\n", want: map[string]any{"a": "1", "b": "2"}},
		{name: "missing =", in: "a=1\njust words\n", err: `x.txt:2: expected key=value, got "just words"`},
		{name: "empty key", in: " = 3\n", err: `x.txt:1: expected key=value, got "= 3"`},
		{name: "long line", in: strings.Repeat("a", 100), err: `x.txt:1: expected key=value, got "` + strings.Repeat("a", 60) + `..."`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseKeyValue("x.txt", []byte(tc.in))
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("error = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func FuzzParseKeyValue(f *testing.F) {
	f.Add([]byte("role=web\n# c\n\ncluster = a=b\n"))
	f.Add([]byte("noequals\n"))
	f.Add([]byte("=x\n"))
	f.Add([]byte("\xff=\xfe\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parseKeyValue("fuzz.txt", b)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.txt:") {
				t.Fatalf("error %q does not name the input", err)
			}
			return
		}
		for k, v := range m {
			s, ok := v.(string)
			if k == "" || strings.TrimSpace(k) != k || !ok || strings.TrimSpace(s) != s {
				t.Fatalf("bad pair %q=%q from %q", k, v, b)
			}
		}
	})
}
