package bus_test

import (
	"testing"

	"github.com/pulseops/pulse/internal/bus"
	"github.com/pulseops/pulse/internal/config"
)

// FuzzNATSBlock feeds the nats: block of an agent's or the collector's
// config: it decodes or says why, and what decodes validates without
// panicking.
func FuzzNATSBlock(f *testing.F) {
	for _, s := range []string{
		"nats: [nats://a:4222]", "nats: nats://a:4222,nats://b:4222", "nats:\n  urls: [x]\n  user: u\n  password: p\n",
		"nats:\n  creds_file: a.creds\n  connect_timeout: 2s\n", "nats:\n  bogus: 1\n", "nats: {urls: {a: b}}", "nats: 7", "nats: ~",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var v struct {
			NATS bus.Config `yaml:"nats"`
		}
		if err := config.Decode("x.yaml", []byte(s), &v); err != nil {
			if err.Error() == "" {
				t.Fatalf("%q: an error that says nothing", s)
			}
			return
		}
		_ = v.NATS.Validate()
	})
}
