package demo

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"maps"
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
				"hostname":         id,
				"fqdn":             id + "." + region + ".compute.internal",
				"domain":           region + ".compute.internal",
				"ipaddress":        ip,
				"role":             role,
				"cluster":          cluster,
				"kernel":           "Linux",
				"kernelrelease":    "6.1.0-28-cloud-amd64",
				"architecture":     "x86_64",
				"processorcount":   float64(2 + 2*(h%2)),
				"memorysize_bytes": float64(4<<30) * float64(1+h%2),
				"os": map[string]any{
					"family":  "debian",
					"name":    "debian",
					"release": map[string]any{"full": "12.8", "major": "12"},
					"distro":  map[string]any{"codename": "bookworm", "description": "Debian GNU/Linux 12 (bookworm)"},
				},
			}
			maps.Copy(facts, ec2Facts(z, host, zone, region, ip, role))
			out = append(out, NodeSpec{
				Identity: id, Zone: zone, Role: role, Cluster: cluster, Facts: facts,
				Classes: []string{"profile::base", "role::" + role},
			})
		}
	}
	return out
}

// ec2Facts are the instance metadata facts facter reported on EC2 (those
// of the 2012 walkthrough and the newer placement_region), with values of
// the shapes EC2 gives a Debian 12 instance launched from an EBS-backed AMI.
// Addresses are from the ranges kept for documentation.
func ec2Facts(zoneIndex, host int, zone, region, ip, role string) map[string]any {
	id := sha256.Sum256([]byte(ip))
	instance := fmt.Sprintf("i-0%x", id[:8])
	public := fmt.Sprintf("203.0.113.%d", 10*(zoneIndex+1)+host)
	local := "ip-" + strings.ReplaceAll(ip, ".", "-") + "." + region + ".compute.internal"
	return map[string]any{
		"ec2_ami_id":           "ami-0a1b2c3d4e5f60718",
		"ec2_ami_launch_index": "0",
		// EBS-backed AMIs have no manifest; EC2 answers "(unknown)".
		"ec2_ami_manifest_path":               "(unknown)",
		"ec2_block_device_mapping_ami":        "/dev/xvda",
		"ec2_block_device_mapping_root":       "/dev/xvda",
		"ec2_block_device_mapping_ephemeral0": "sdb",
		"ec2_hostname":                        local,
		"ec2_instance_id":                     instance,
		"ec2_instance_type":                   map[string]string{"web": "t3.medium", "server": "m6i.large"}[role],
		"ec2_local_hostname":                  local,
		"ec2_local_ipv4":                      ip,
		"ec2_mac":                             fmt.Sprintf("0a:%02x:5e:%02x:%02x:01", zoneIndex+1, host>>8, host&0xff),
		"ec2_placement_availability_zone":     zone,
		"ec2_placement_region":                region,
		"ec2_profile":                         "default-hvm",
		"ec2_public_hostname":                 "ec2-" + strings.ReplaceAll(public, ".", "-") + "." + region + ".compute.amazonaws.com",
		"ec2_public_ipv4":                     public,
		"ec2_public_keys_0_openssh_key":       demoSSHKey(instance),
		"ec2_reservation_id":                  fmt.Sprintf("r-0%x", id[8:16]),
		"ec2_security_groups":                 "default," + role,
	}
}

// demoSSHKey is a well-formed ed25519 public key line, derived from seed:
// the key pair an instance was launched with. Nothing holds its private key.
func demoSSHKey(seed string) string {
	sum := sha256.Sum256([]byte(seed))
	var blob []byte
	for _, part := range [][]byte{[]byte("ssh-ed25519"), sum[:]} {
		blob = binary.BigEndian.AppendUint32(blob, uint32(len(part)))
		blob = append(blob, part...)
	}
	return "ssh-ed25519 " + base64.StdEncoding.EncodeToString(blob) + " demo-" + seed
}
