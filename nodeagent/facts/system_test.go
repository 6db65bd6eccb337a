package facts

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestSystemGolden reads the made-up machine under testdata/root: a Debian
// 12.5 host "web-01" with eth0 (default route, IPv4 and IPv6), a down eth1
// and lo. Because Root is set, nothing comes from the host running the test.
func TestSystemGolden(t *testing.T) {
	got, err := NewSystem(SystemOptions{Root: "testdata/root"}).Gather(context.Background())
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	golden(t, "system.golden.json", got)
}

func TestSystemHostnameOverride(t *testing.T) {
	tests := []struct {
		name, hostname          string
		wantHost, wantFQDN, dom string
	}{
		{"short name takes resolv.conf search", "db-7", "db-7", "db-7.eu-west-1.compute.internal", "eu-west-1.compute.internal"},
		{"qualified name splits", "db-7.prod.example.com", "db-7", "db-7.prod.example.com", "prod.example.com"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := NewSystem(SystemOptions{Root: "testdata/root", Hostname: tc.hostname}).Gather(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if got["hostname"] != tc.wantHost || got["fqdn"] != tc.wantFQDN || got["domain"] != tc.dom {
				t.Errorf("hostname, fqdn, domain = %v, %v, %v; want %v, %v, %v",
					got["hostname"], got["fqdn"], got["domain"], tc.wantHost, tc.wantFQDN, tc.dom)
			}
		})
	}
}

// TestSystemPartial checks that a root missing most files still yields the
// facts it can, with an error naming what is missing.
func TestSystemPartial(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "proc", "sys", "kernel"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(root, "proc"), "uptime", "12.9 1.0\n", 0o644)
	writeFile(t, filepath.Join(root, "proc", "sys", "kernel"), "arch", "aarch64\n", 0o644)
	got, err := NewSystem(SystemOptions{Root: root, Hostname: "n1"}).Gather(context.Background())
	if err == nil {
		t.Fatal("Gather of a nearly empty root succeeded; want an error naming the missing files")
	}
	for _, want := range []string{"os:", "kernelrelease:", "processorcount:", "memorysize_bytes:", "interfaces:", filepath.Join(root, "proc", "cpuinfo")} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if got["uptime_seconds"] != 12.0 || got["architecture"] != "aarch64" || got["hostname"] != "n1" {
		t.Errorf("partial facts = %v; want uptime_seconds 12, architecture aarch64, hostname n1", got)
	}
}

// TestSystemLive runs against the real machine. It asserts only what holds
// on any Linux host, not what this host's values are.
func TestSystemLive(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("procfs facts are Linux-only")
	}
	got, err := NewSystem(SystemOptions{}).Gather(context.Background())
	if err != nil {
		t.Fatalf("Gather on this host: %v", err)
	}
	if got["kernel"] != "Linux" {
		t.Errorf("kernel = %v, want Linux", got["kernel"])
	}
	if n, _ := got["processorcount"].(float64); n < 1 {
		t.Errorf("processorcount = %v, want >= 1", got["processorcount"])
	}
	if h, _ := got["hostname"].(string); h == "" || strings.Contains(h, ".") {
		t.Errorf("hostname = %q, want a non-empty short name", h)
	}
	ifs, _ := got["interfaces"].(map[string]any)
	if len(ifs) == 0 {
		t.Errorf("interfaces = %v, want at least one (lo)", got["interfaces"])
	}
}
