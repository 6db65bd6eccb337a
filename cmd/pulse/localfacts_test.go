//go:build !agentonly

package main

import (
	"context"
	"encoding/json"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

const factsRoot = "../../nodeagent/facts/testdata/root"

// runLocal runs the CLI in-process with exactly args.
func runLocal(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	return pulseCtx(context.Background(), args...)
}

// imds is a real HTTP server speaking enough of EC2's instance metadata
// service (IMDSv2) for the facts of one instance.
func imds(t *testing.T, data map[string]string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && r.URL.Path == "/latest/api/token" {
			w.Write([]byte("token"))
			return
		}
		if r.Header.Get("X-aws-ec2-metadata-token") != "token" {
			http.Error(w, "no token", http.StatusUnauthorized)
			return
		}
		v, ok := data[strings.TrimPrefix(r.URL.Path, "/latest/meta-data/")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte(v))
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// The flat output of a known machine (the facts package's testdata root),
// held in a golden file: facter's `name => value`, nested facts dotted.
func TestLocalFactsGolden(t *testing.T) {
	out, errOut, code := runLocal(t, "facts", "--local", "--facts-root", factsRoot)
	if code != exitOK || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	golden := filepath.Join("testdata", "localfacts.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if out != string(want) {
		t.Errorf("pulse facts --local differs from %s (go test -update to accept):\n%s", golden, out)
	}
}

// Every source the agent reads — fact files, external facts, EC2 — with a
// broken external fact: the rest still prints, the broken one is named on
// stderr, and the exit code says something is missing.
func TestLocalFactsAllSources(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "facts.yaml")
	ext := filepath.Join(dir, "facts.d")
	os.Mkdir(ext, 0o755)
	for name, body := range map[string]string{
		file:                             "role: web\nos:\n  release: {major: \"13\"}\n",
		filepath.Join(ext, "team.txt"):   "team=payments\n",
		filepath.Join(ext, "broken.sh"):  "#!/bin/sh\necho 'this is not a fact' >&2\nexit 3\n",
		filepath.Join(ext, "rack.json"):  `{"rack": "r12"}`,
		filepath.Join(ext, "broken.txt"): "",
	} {
		mode := os.FileMode(0o644)
		if strings.HasSuffix(name, ".sh") {
			mode = 0o755
		}
		if err := os.WriteFile(name, []byte(body), mode); err != nil {
			t.Fatal(err)
		}
	}
	url := imds(t, map[string]string{
		"instance-id": "i-0123456789abcdef0", "ami-manifest-path": "(unknown)",
		"placement/availability-zone": "eu-west-1b", "security-groups": "default\nweb",
	})
	out, errOut, code := runLocal(t, "facts", "--local", "--facts-root", factsRoot, "--facts-file", file, "--external-dir", ext, "--ec2-url", url)
	for _, want := range []string{
		"role => web\n", "team => payments\n", "rack => r12\n", "hostname => web-01\n",
		"os.release.major => 13\n", // a file's "os" replaces the system's, as in the agent
		"ec2_instance_id => i-0123456789abcdef0\n", "ec2_ami_manifest_path => (unknown)\n",
		"ec2_placement_availability_zone => eu-west-1b\n", "ec2_placement_region => eu-west-1\n", "ec2_security_groups => default,web\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if strings.Contains(out, "os.family") {
		t.Errorf("the fact file's os should replace the system's whole os map:\n%s", out)
	}
	if code != exitFailed || !strings.Contains(errOut, "pulse: fact source external:"+ext+" failed") || !strings.Contains(errOut, "external fact "+filepath.Join(ext, "broken.sh")) {
		t.Errorf("exit %d, stderr %q; want 1 and the broken source named", code, errOut)
	}
	if t.Failed() {
		t.Logf("stdout:\n%s", out)
	}

	// The same sources from an agent config's facts block.
	cfg := filepath.Join(dir, "agent.yaml")
	if err := os.WriteFile(cfg, []byte("identity: web-01\nfacts:\n  root: "+factsRoot+"\n  files: ["+file+"]\n  ec2: {enabled: true, base_url: \""+url+"\"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code = runLocal(t, "facts", "--local", "--agent-config", cfg, "--json", "ec2_instance_id", "role", "os", "nosuch")
	var got map[string]any
	if err := json.Unmarshal([]byte(out), &got); err != nil || code != exitOK || errOut != "" {
		t.Fatalf("--agent-config --json: exit %d, %v\n%s\n%s", code, err, out, errOut)
	}
	want := map[string]any{"ec2_instance_id": "i-0123456789abcdef0", "role": "web", "os": map[string]any{"release": map[string]any{"major": "13"}}, "nosuch": nil}
	if gb, wb := mustJSON(got), mustJSON(want); gb != wb {
		t.Errorf("--json got %s, want %s", gb, wb)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestLocalFactsArguments(t *testing.T) {
	for _, tc := range []struct {
		args []string
		out  string
	}{
		// One fact prints its value alone, as `facter architecture` did.
		{[]string{"architecture"}, "x86_64\n"},
		{[]string{"os.release.major"}, "12\n"},
		{[]string{"nosuch"}, "\n"},
		// A map prints flat, under its name; several facts as name => value.
		{[]string{"os.release"}, "os.release.full => 12.5\nos.release.major => 12\n"},
		{[]string{"hostname", "processorcount", "nosuch"}, "hostname => web-01\nnosuch => \nprocessorcount => 4\n"},
	} {
		out, errOut, code := runLocal(t, append([]string{"facts", "--local", "--facts-root", factsRoot}, tc.args...)...)
		if code != exitOK || out != tc.out || errOut != "" {
			t.Errorf("facts --local %v: exit %d, %q, stderr %q; want %q", tc.args, code, out, errOut, tc.out)
		}
	}
}
