package app

import (
	"fmt"
	"os"

	"github.com/prometheus/exporter-toolkit/web"
	"go.yaml.in/yaml/v4"
)

// CheckWebConfig validates a Prometheus exporter-toolkit web configuration
// file for the collector: its TLS settings load (certificate, key, client
// CAs), and it sets no basic_auth_users — the collector's authentication
// is its bearer tokens, which use the same Authorization header. The
// collector calls it at start, so a bad file stops it with exit 2 rather
// than failing the first connection. tls says whether it serves HTTPS.
func CheckWebConfig(path string) (tls bool, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return false, fmt.Errorf("web config: %w", err)
	}
	var keys map[string]any
	if err := yaml.Unmarshal(b, &keys); err != nil {
		return false, fmt.Errorf("web config %s: %w", path, err)
	}
	if _, ok := keys["basic_auth_users"]; ok {
		return false, fmt.Errorf("web config %s: basic_auth_users is not supported: the collector authenticates with its bearer tokens (action_token_file, alert_token_file); keep only tls_server_config and http_server_config", path)
	}
	if err := web.Validate(path); err != nil {
		return false, fmt.Errorf("web config %s: %w", path, err)
	}
	_, tls = keys["tls_server_config"]
	return tls, nil
}
