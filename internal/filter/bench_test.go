package filter

import "testing"

// BenchmarkMatch measures the per-request cost on an agent. "handwritten" is
// the baseline: the same two comparisons coded directly against the map.
func BenchmarkMatch(b *testing.B) {
	target := web1()
	cases := []struct {
		name string
		spec Spec
	}{
		{"two-facts", Spec{Fact: []string{"ec2_placement_availability_zone=eu-west-1a", "role=web"}}},
		{"numeric-and-dotted", Spec{Fact: []string{"cpus>=2", "os.release.major=12"}}},
		{"regex", Spec{Fact: []string{"ec2_placement_availability_zone=~^eu-", "role=/^we/"}}},
		{"compound", Spec{Compound: "(role=web or role=server) and not cluster=beta"}},
	}
	for _, c := range cases {
		f, err := Compile(c.spec)
		if err != nil {
			b.Fatal(err)
		}
		if !f.Match(target) {
			b.Fatalf("%s does not match the target", c.name)
		}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				f.Match(target)
			}
		})
	}
	b.Run("handwritten", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			az, _ := target.Facts["ec2_placement_availability_zone"].(string)
			role, _ := target.Facts["role"].(string)
			if az != "eu-west-1a" || role != "web" {
				b.Fatal("handwritten match failed")
			}
		}
	})
}

func BenchmarkCompile(b *testing.B) {
	spec := Spec{
		Fact:     []string{"ec2_placement_availability_zone=eu-west-1a", "cpus>=2"},
		Compound: "(role=web or role=server) and not cluster=beta",
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compile(spec); err != nil {
			b.Fatal(err)
		}
	}
}
