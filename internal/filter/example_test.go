package filter_test

import (
	"fmt"

	"github.com/pulseops/pulse/internal/filter"
)

func Example() {
	var spec filter.Spec
	// -W "ec2_placement_availability_zone=eu-west-1a roles::web"
	if err := spec.AddWith("ec2_placement_availability_zone=eu-west-1a roles::web"); err != nil {
		fmt.Println(err)
		return
	}
	spec.Compound = "(role=web or role=server) and not cluster=beta"
	f, err := filter.Compile(spec)
	if err != nil {
		fmt.Println(err)
		return
	}
	node := &filter.Target{
		Identity: "web1",
		Facts: map[string]any{
			"ec2_placement_availability_zone": "eu-west-1a",
			"role":                            "web",
			"cluster":                         "alpha",
		},
		Classes: []string{"roles::web"},
	}
	fmt.Println(f.Match(node))

	_, err = filter.Compile(filter.Spec{Compound: "role=web and ("})
	fmt.Println(err)
	// Output:
	// true
	// select "role=web and (": expected a term at column 15, found end of input
}
