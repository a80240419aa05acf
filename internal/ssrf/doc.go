// Package ssrf is the one guard on outbound fetches of URLs that an administrator, a
// client or a remote document chose (client ID metadata documents, federation discovery,
// JWKS, an upstream MCP server's protected resource and authorization server metadata):
// only public addresses, checked on the connected address (so after DNS resolution and on
// every redirect), no proxy, https only, few redirects, bounded time, and optionally an
// allow-list of hosts.
package ssrf
