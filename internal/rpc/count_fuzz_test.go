package rpc

import (
	"encoding/json"
	"testing"
)

// FuzzCount feeds what a user types after --batch or --limit, or sends as
// the action API's batch: a count either is refused or reads back as
// itself, and never selects more nodes than there are nor none of many.
func FuzzCount(f *testing.F) {
	for _, s := range []string{"1", "25%", "100%", "0", "-3", "1e3", "50.5%", "%", " 2", "99999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseCount(s)
		if err != nil {
			return
		}
		back, err := ParseCount(c.String())
		if err != nil || back != c {
			t.Fatalf("ParseCount(%q) = %v, which reads back as %v, %v", s, c, back, err)
		}
		if c.percent > 0 {
			for _, total := range []int{1, 7, 1000} {
				if n := c.Of(total); n < 1 || n > total {
					t.Fatalf("%v of %d is %d", c, total, n)
				}
			}
		}
		b, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		var j Count
		if err := json.Unmarshal(b, &j); err != nil || j != c {
			t.Fatalf("%v through JSON %s: %v %v", c, b, j, err)
		}
	})
}
