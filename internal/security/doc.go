// Package security holds what pulse needs to decide whom to believe on the
// bus: ed25519 identities on disk (keys.go), the trusted-keys file of people
// and services allowed to send requests (trust.go), the pinned keys of nodes
// whose replies, registrations and results are believed (nodes.go), the
// default-deny authorization policy agents apply to each request (policy.go),
// and the broker's side of the transport: its TLS and per-identity subject
// permissions (transport.go, permissions.go). How a process connects, with
// which TLS and credentials, is internal/bus.
//
// It only decides; it never sends or receives messages, never runs
// anything, and never logs or returns private key material or passwords.
package security
