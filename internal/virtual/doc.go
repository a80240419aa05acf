// Package virtual is an aggregating route's upstream: an MCP server, built on the Go SDK,
// that gathers the tools, prompts and resources of several upstream MCP servers (over
// Streamable HTTP or stdio) under one endpoint. The gateway mounts it in process
// (gateway.RouteOptions.Handler), so authentication, policy on the client-visible names,
// sessions, rate limits and audit apply exactly as on an ordinary route.
//
// Upstream client sessions belong to one user (issuer and subject) and carry the
// credential headers the route's per-upstream providers give for that user: an HTTP
// upstream has one per 2025-11-25 client session (closed with it) and one for the user's
// stateless 2026-07-28 requests; a stdio upstream one process per user (or one shared).
// Sessions idle for Options.IdleTimeout are closed, and a stdio upstream's process with
// them. Resource subscriptions and notifications: subscriptions.go, audience.go.
// See docs/virtual-servers.md.
package virtual
