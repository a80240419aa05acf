// Package authserver is mcpgate's OAuth 2.1 / OpenID Connect authorization server.
//
// The protocol engine is zitadel/oidc v3 (package op): authorization code, refresh,
// client credentials, device authorization (RFC 8628), token exchange (RFC 8693),
// revocation, introspection, userinfo and end-session. This package adds what op lacks or
// leaves to the storage: persistence in internal/store, mandatory PKCE S256, resource
// indicators (RFC 8707, the access token's aud is the requested resource), refresh-token
// rotation with reuse detection (a replayed token revokes its whole family), dynamic
// client registration (RFC 7591), client ID metadata documents, signing-key rotation,
// RFC 8414 metadata, and the login, consent and device pages with CSRF protection and
// login throttling.
//
// Mount Server.Handler at the root of the gateway's listener; its paths are listed in
// Paths and never collide with MCP route paths (see docs/authserver.md).
package authserver
