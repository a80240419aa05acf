// Package virtual is an aggregating route's upstream: an MCP server, built on the Go SDK,
// that gathers the tools, prompts and resources of several upstream MCP servers (over
// Streamable HTTP or stdio) under one endpoint. The gateway mounts it in process
// (gateway.RouteOptions.Handler), so authentication, policy on the client-visible names,
// sessions, rate limits and audit apply exactly as on an ordinary route.
//
// Each user gets their own upstream client sessions (keyed by issuer and subject), with
// the credential headers the route's per-upstream providers give for that user; sessions
// idle for Options.IdleTimeout are closed, and a stdio upstream's process with them.
// See docs/virtual-servers.md.
package virtual
