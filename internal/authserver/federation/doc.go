// Package federation signs users in to mcpgate's authorization server at an upstream
// OpenID Connect identity provider — Entra ID, Keycloak, Okta or any OIDC provider —
// with the authorization code flow and PKCE (bridge mode, docs/federation.md).
//
// A Connector is an authserver.RedirectConnector and an authserver.IdentityLookup. After
// a sign-in it keeps the user's upstream tokens sealed (internal/secrets) in an
// upstream.ConnectionStore under (subject, "idp:<connector id>"), so that the obo upstream
// mode can use the user's own upstream access token as its assertion (Set.SubjectToken,
// refreshed with the stored refresh token when it expires).
package federation
