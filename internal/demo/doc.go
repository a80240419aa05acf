// Package demo holds the demo upstream MCP servers that `mcpgate demo` puts behind the gateway
// and that tests use as real upstreams. They are built with the official go-sdk
// (mcp.NewServer + mcp.NewStreamableHTTPHandler) and return plain http.Handlers:
//
//   - Weather: get_forecast(city, days) — a deterministic made-up forecast.
//   - Stocks: get_quote(symbol) — a deterministic made-up quote.
//   - Whoami: whoami() — reports the identity and token audience the upstream itself received
//     (the forwarded Authorization header's JWT claims, decoded without verification, and the
//     X-Mcp-User-* identity headers). It is a demo: it trusts whatever reaches it.
package demo
