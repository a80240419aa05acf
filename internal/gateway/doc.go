// Package gateway is mcpgate's resource server: it maps public route paths to upstream MCP
// servers (Streamable HTTP), authenticates callers with an authn.Verifier, answers the
// RFC 6750 / RFC 9728 challenges MCP clients expect, serves Protected Resource Metadata,
// enforces CORS, Origin and Host checks, strips the caller's token before the upstream, and
// proxies JSON and SSE responses message by message without buffering.
//
// Policy and audit plug in per route through Interceptor and Observer; upstream
// credentials through UpstreamCredentials. See docs/gateway.md.
package gateway
