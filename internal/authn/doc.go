// Package authn authenticates callers: it verifies bearer tokens (JWTs checked against
// JWKS from one or more issuers) and turns them into a Principal. It never decides what a
// caller may do; that is internal/authz.
//
// A Registry holds one runtime issuer per configured issuer and the key sets behind them
// (JWKS from a URL, a file, inline JSON, OIDC discovery, or a static in-process key set),
// refreshed in the background and on an unknown kid (rate-limited). Registry.Verifier builds
// a JWTVerifier for a set of issuers and accepted audiences; it implements Verifier and
// keeps a bounded cache of verified tokens so that a token's signature is checked once, not
// once per request. Entra ID issuers (EntraIssuer) are expanded into their v1 and v2
// issuer forms, key sets and audiences, with the {tenantid} template and allow-list for
// multi-tenant apps.
//
// Rejections are *Error values with a stable Reason (the Reason* constants) and a
// Description that says what was wrong and how to fix it; they never contain the token.
package authn
