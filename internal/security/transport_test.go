package security_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/pulseops/pulse/internal/broker"
	"github.com/pulseops/pulse/internal/bus"
	"github.com/pulseops/pulse/internal/issuer"
	"github.com/pulseops/pulse/internal/security"
)

func securedBroker(t *testing.T) (*broker.Broker, *security.PKI, string) {
	t.Helper()
	dir := t.TempDir()
	pki, err := security.WritePKI(dir)
	if err != nil {
		t.Fatal(err)
	}
	tlsCfg, err := security.ServerTLSConfig(pki.ServerCert, pki.ServerKey, pki.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	is, err := issuer.Create(filepath.Join(dir, "issuer"), "pulse")
	if err != nil {
		t.Fatal(err)
	}
	c, err := is.Issue(issuer.RoleUser, "alice", issuer.IssueOptions{})
	if err != nil {
		t.Fatal(err)
	}
	creds := filepath.Join(dir, "alice.creds")
	if err := issuer.WriteCreds(creds, c, false); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "auth.conf")
	if err := os.WriteFile(conf, []byte(is.ServerConfig(filepath.Join(dir, "jwt"))), 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := broker.Start(broker.Options{Port: -1, JetStreamDir: t.TempDir(), TLS: tlsCfg, ConfigFile: conf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Shutdown)
	return b, pki, creds
}

func connect(t *testing.T, url string, tr bus.Config) (*nats.Conn, error) {
	t.Helper()
	tr.URLs = []string{url}
	nc, err := bus.Dial(tr)
	if err == nil {
		t.Cleanup(nc.Close)
	}
	return nc, err
}

func TestBrokerRequiresTLSClientCertAndCredentials(t *testing.T) {
	b, pki, creds := securedBroker(t)
	url := b.ClientURL()
	full := bus.Config{TLS: bus.TLS{CAFile: pki.CAFile, CertFile: pki.ClientCert, KeyFile: pki.ClientKey}, Credentials: bus.Credentials{CredsFile: creds}}
	if _, err := connect(t, url, full); err != nil {
		t.Fatalf("a client with certificate and credentials must connect: %v", err)
	}
	noCreds := full
	noCreds.CredsFile = ""
	if _, err := connect(t, url, noCreds); !errors.Is(err, nats.ErrAuthorization) || !strings.Contains(err.Error(), "set creds_file") {
		t.Fatalf("without credentials: %v, want an authorization violation that says what to do", err)
	}
	noCert := full
	noCert.CertFile, noCert.KeyFile = "", ""
	if _, err := connect(t, url, noCert); err == nil {
		t.Fatal("a client without a certificate must not connect")
	}
	if _, err := nats.Connect(url, nats.Timeout(3*time.Second)); err == nil {
		t.Fatal("a plain-text client must not connect")
	}
}
