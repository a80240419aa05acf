// Package audit records one structured Event per MCP request and delivers it to sinks:
// JSON lines on stdout or in a size-rotated file, and a store that `mcpgate audit`
// queries. Recording never blocks a request: events go through a bounded buffer and are
// dropped (counted and logged) when the sinks fall behind.
//
// Events never carry tokens or secrets: the builder records identities by subject, client
// id and hashes, arguments only as a SHA-256 unless the route opts in, and opted-in
// arguments are redacted (configured paths, credential-like keys, token-like values).
package audit
