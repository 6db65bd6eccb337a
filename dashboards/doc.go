// Package dashboards is pulse's Grafana dashboards as code: three
// dashboards (fleet for operators, service for developers, login SLO for
// the business) built with grafana-foundation-sdk, rendered to the JSON
// committed under dashboards/json and provisioned by the files under
// dashboards/provisioning.
//
// It only describes dashboards: it must never talk to Grafana, Prometheus
// or the bus, and its JSON must never be edited by hand — change the Go
// code and run `pulse dashboards generate --out dashboards/json`.
package dashboards
