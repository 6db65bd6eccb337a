package collector

import (
	"math/rand/v2"
	"slices"
	"testing"

	dto "github.com/prometheus/client_model/go"
)

// labelOrder must sort exactly as cmpLabels, also where joined values
// could mislead: a value that is a prefix of another, bytes below '"',
// label sets of different lengths, and values holding a NUL byte.
func TestLabelOrderIsCmpLabelsOrder(t *testing.T) {
	values := []string{"", "a", "a b", "a!", "a\"", "a,b", "ab", "b", "\x01", "a\x00", "a\x00b", "é", "\xff"}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, withNUL := range []bool{false, true} {
		seen := map[string]bool{}
		var sets [][]*dto.LabelPair
		for len(sets) < 400 {
			n := 1 + rng.IntN(3)
			set, key := make([]*dto.LabelPair, n), ""
			for i := range set {
				v := values[rng.IntN(len(values))]
				if !withNUL && slices.Contains([]string{"a\x00", "a\x00b"}, v) {
					v = "z"
				}
				set[i] = labelPair(string(rune('a'+i)), v)
				key += v + "\xff\xfe"
			}
			if !seen[key] { // a family's label sets are distinct
				seen[key] = true
				sets = append(sets, set)
			}
		}
		order := labelOrder(len(sets), func(i int) []*dto.LabelPair { return sets[i] })
		for k := 1; k < len(order); k++ {
			if a, b := sets[order[k-1]], sets[order[k]]; cmpLabels(a, b) >= 0 {
				t.Fatalf("withNUL=%v: position %d: %v sorts before %v", withNUL, k, labelValues(a), labelValues(b))
			}
		}
	}
}

func labelValues(set []*dto.LabelPair) []string {
	var out []string
	for _, p := range set {
		out = append(out, p.GetValue())
	}
	return out
}
