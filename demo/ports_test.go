package demo

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// A taken address is named with the process that holds it, and nothing is
// written before the check.
func TestCheckPortsNamesTheHolder(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	userDir := filepath.Join(t.TempDir(), "pulse")
	_, err = Start(context.Background(), Options{Nodes: 1, Zones: []string{"eu-west-1a"}, NATSPort: -1, CollectorAddr: ln.Addr().String(), Prometheus: "off", Alertmanager: "off", UserKeyDir: userDir})
	want := fmt.Sprintf("the collector address %s is taken by pid %d (", ln.Addr(), os.Getpid())
	if runtime.GOOS != "linux" {
		want = fmt.Sprintf("the collector address %s is not free (", ln.Addr())
	}
	if err == nil || !strings.HasPrefix(err.Error(), want) || !strings.HasSuffix(err.Error(), "choose another address with --http") {
		t.Fatalf("got %v\nwant %s...", err, want)
	}
	if _, err := os.Stat(userDir); !os.IsNotExist(err) {
		t.Fatalf("a demo that could not start wrote %s", userDir)
	}
}

// Only one demo owns the user's files; a second one is told who does, and
// its exit leaves them alone.
func TestOneDemoOwnsTheUserFiles(t *testing.T) {
	userDir := filepath.Join(t.TempDir(), "pulse")
	start := func() *Demo {
		d, err := Start(context.Background(), Options{Nodes: 1, Zones: []string{"eu-west-1a"}, NATSPort: -1, CollectorAddr: "127.0.0.1:0", Prometheus: "off", Alertmanager: "off", UserKeyDir: userDir})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	first := start()
	key, _ := os.ReadFile(filepath.Join(userDir, "demo.creds"))
	token, _ := os.ReadFile(filepath.Join(userDir, TokenFileName))
	if len(key) == 0 || strings.TrimSpace(string(token)) != first.ActionToken {
		t.Fatalf("the first demo's files: key %d bytes, token %q", len(key), token)
	}
	second := start()
	if second.Holder == nil || second.Holder.PID != os.Getpid() || second.Holder.NATS != first.NATSURL() || second.Identity.UserCreds == filepath.Join(userDir, "demo.creds") {
		t.Fatalf("second demo: holder %+v, credentials %s", second.Holder, second.Identity.UserCreds)
	}
	second.Stop()
	key2, _ := os.ReadFile(filepath.Join(userDir, "demo.creds"))
	token2, _ := os.ReadFile(filepath.Join(userDir, TokenFileName))
	if string(key2) != string(key) || string(token2) != string(token) {
		t.Fatal("the second demo changed or removed the first one's credentials or token")
	}
	first.Stop()
	for _, f := range []string{"demo.creds", TokenFileName, "demo.json"} {
		if _, err := os.Stat(filepath.Join(userDir, f)); !os.IsNotExist(err) {
			t.Errorf("%s is left after the owner stopped", f)
		}
	}
}
