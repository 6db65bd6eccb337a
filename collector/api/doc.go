// Package api is the collector's HTTP API as its clients see it: the types
// its endpoints answer with (nodes, the web view's rows, actions,
// remediations), the filter query language every endpoint takes, and a
// client. The CLI imports this package alone, so it links neither the
// collector nor the Prometheus client.
//
// It holds types and encoding only: it never listens, never runs anything
// on the fleet and never imports the collector's packages.
package api
