package rules

import _ "embed"

// Files the demo needs wherever the binary runs, embedded at build time.
var (
	//go:embed remediation.yaml
	RemediationYAML []byte
	//go:embed slo/login.yaml
	LoginSLOYAML []byte
)
