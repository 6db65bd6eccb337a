package childproc

import "testing"

func TestBuffer(t *testing.T) {
	for _, tc := range []struct {
		max       int
		writes    []string
		want      string
		truncated bool
	}{
		{4, []string{"ab", "cd"}, "abcd", false},
		{4, []string{"abc", "def"}, "abcd", true},
		{4, []string{"abcdef", "gh"}, "abcd", true},
		{0, []string{"a"}, "", true},
	} {
		var b Buffer
		b.Max = tc.max
		for _, w := range tc.writes {
			if n, err := b.Write([]byte(w)); n != len(w) || err != nil {
				t.Fatalf("Write(%q) = %d, %v; want %d, nil", w, n, err, len(w))
			}
		}
		if b.String() != tc.want || string(b.Bytes()) != tc.want || b.Truncated() != tc.truncated {
			t.Errorf("max %d, writes %q: kept %q truncated=%v, want %q truncated=%v", tc.max, tc.writes, b.String(), b.Truncated(), tc.want, tc.truncated)
		}
	}
}
