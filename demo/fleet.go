package demo

import (
	"fmt"
	"strings"
)

// NodeSpec is one simulated node: its identity, facts and classes.
type NodeSpec struct {
	Identity string
	Zone     string
	Role     string
	Cluster  string
	Facts    map[string]any
	Classes  []string
}

// Fleet lays out n nodes over zones as evenly as possible, earlier zones
// taking the remainder (11 over two zones: 6 and 5). Identities follow EC2's
// ip-10-0-<zone>-<host> names; even hosts are web nodes, odd ones servers;
// the first three hosts of a zone are cluster alfa, the rest beta.
func Fleet(n int, zones []string) []NodeSpec {
	if len(zones) == 0 {
		zones = []string{"eu-west-1a"}
	}
	per := make([]int, len(zones))
	for i := 0; i < n; i++ {
		per[i%len(zones)]++
	}
	var out []NodeSpec
	for z, zone := range zones {
		for h := 0; h < per[z]; h++ {
			host := 10 + h
			ip := fmt.Sprintf("10.0.%d.%d", z+1, host)
			id := "ip-" + strings.ReplaceAll(ip, ".", "-")
			role := "server"
			if h%2 == 0 {
				role = "web"
			}
			cluster := "alfa"
			if h >= 3 {
				cluster = "beta"
			}
			region := zone
			if len(region) > 1 {
				region = region[:len(region)-1]
			}
			facts := map[string]any{
				"hostname":                        id,
				"fqdn":                            id + "." + region + ".compute.internal",
				"domain":                          region + ".compute.internal",
				"ipaddress":                       ip,
				"role":                            role,
				"cluster":                         cluster,
				"kernel":                          "Linux",
				"kernelrelease":                   "6.1.0-28-cloud-amd64",
				"architecture":                    "amd64",
				"processorcount":                  float64(2 + 2*(h%2)),
				"memorysize_bytes":                float64(4<<30) * float64(1+h%2),
				"ec2_placement_availability_zone": zone,
				"ec2_placement_region":            region,
				"ec2_instance_id":                 fmt.Sprintf("i-0%07x%08x", z+1, host*7919),
				"ec2_instance_type":               map[string]string{"web": "t3.medium", "server": "m6i.large"}[role],
				"ec2_ami_id":                      "ami-0a1b2c3d4e5f60718",
				"ec2_local_ipv4":                  ip,
				"os": map[string]any{
					"family":  "debian",
					"name":    "debian",
					"release": map[string]any{"full": "12.8", "major": "12"},
					"distro":  map[string]any{"codename": "bookworm"},
				},
			}
			out = append(out, NodeSpec{
				Identity: id, Zone: zone, Role: role, Cluster: cluster, Facts: facts,
				Classes: []string{"profile::base", "role::" + role},
			})
		}
	}
	return out
}
