package probes

import _ "embed"

// LoginYAML is probes/login.yaml, embedded so the demo runs it wherever the
// binary is.
//
//go:embed login.yaml
var LoginYAML []byte
