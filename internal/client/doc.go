// Package client is mcpgate's MCP authorization client: the part of `mcpgate login`,
// `mcpgate stdio`, `mcpgate tools` and `mcpgate call` that finds out how to sign in to an MCP
// server and keeps a valid access token for it.
//
// It follows the MCP authorization spec (2025-11-25, with 2025-06-18 and 2025-03-26 fallbacks):
//
//   - Protected Resource Metadata (RFC 9728) from the WWW-Authenticate resource_metadata URL,
//     then the path-inserted well-known URL, then the root one; the PRM resource must match the
//     server URL.
//   - Authorization server metadata (RFC 8414 / OIDC discovery) in the 2025-11-25 order, with the
//     issuer checked (RFC 8414 §3.3).
//   - Client registration: pre-registered client → Client ID Metadata Document → DCR (RFC 7591).
//   - Authorization code + PKCE S256 through a loopback redirect (RFC 8252), or the device
//     authorization grant (RFC 8628); resource indicators (RFC 8707) on authorize, token and
//     refresh; scope selection and step-up on 403 insufficient_scope.
//   - A token cache per server and resource under the user's config folder, guarded by a file
//     lock so that concurrent processes share one sign-in.
//
// [Transport] is an http.RoundTripper that attaches the token and handles 401/403; [Bridge] is
// the stdio ↔ Streamable HTTP bridge.
package client
