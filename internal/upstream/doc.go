// Package upstream obtains the credential mcpgate sends to an upstream MCP server on behalf
// of the caller. Every mode sits behind one interface, Provider:
//
//   - obo: Entra ID On-Behalf-Of (jwt-bearer grant), client secret or certificate assertion
//   - tokenExchange: RFC 8693 token exchange (subject token from the caller, optional actor)
//   - clientCredentials: the gateway's own app identity (RFC 6749 §4.4), with `resource`
//   - gatewayJWT: a short-lived JWT signed by mcpgate stating the user; public keys served as
//     a JWKS (JWKSHandler) so the upstream verifies with that alone
//   - static: a fixed header value from env or file
//   - passthrough: the caller's own token (explicit, warned; the MCP spec forbids it)
//   - connection: a per-user OAuth link to a third-party service, stored sealed
//     (internal/secrets) and refreshed exactly once across replicas (ConnectionStore CAS)
//
// Exchanges are cached (Cache, keyed by caller token hash + upstream + scopes, held until
// shortly before expiry) and single-flighted. Failures are typed values: *NeedsUserAction,
// *ConsentRequired, *ClaimsChallenge and *Failure (stable reason code, never a secret).
// The raw caller token travels in Request.Token and is never logged; logs carry its hash.
package upstream
