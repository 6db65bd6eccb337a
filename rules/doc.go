// Package rules renders the Prometheus side of pulse: the fleet alerting
// rules, SLO recording and burn-rate rules generated from small YAML specs,
// and the prometheus.yml / alertmanager.yml that wire Prometheus and
// Alertmanager to the collector.
//
// Everything here is a pure function from options to bytes so that the
// committed files, the demo's short-interval variants and the e2e tests come
// from one source. The package must never talk to Prometheus, Alertmanager or
// the bus, and must never run promtool outside its tests: it only produces
// text that those tools check.
package rules
