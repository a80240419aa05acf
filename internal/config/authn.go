package config

// Issuer is a token issuer whose tokens routes accept.
type Issuer struct {
	// Name is how routes refer to this issuer.
	Name string `yaml:"name" json:"name"`
	// Issuer is the exact iss value. With no JWKS source given, OIDC discovery at
	// {issuer}/.well-known/openid-configuration finds the jwks_uri.
	Issuer string `yaml:"issuer,omitempty" json:"issuer,omitempty"`
	// JWKSURL, JWKSFile and JWKS (inline JSON) are the key sources; give at most one.
	JWKSURL string `yaml:"jwksURL,omitempty" json:"jwksURL,omitempty"`
	// JWKSFile is a local JWKS file (re-read when a token names an unknown kid).
	JWKSFile string `yaml:"jwksFile,omitempty" json:"jwksFile,omitempty"`
	// JWKS is an inline JWKS document (JSON).
	JWKS string `yaml:"jwks,omitempty" json:"jwks,omitempty"`
	// CAFile is a PEM file of CA certificates trusted, in addition to the system roots, when
	// mcpgate fetches this issuer's keys and discovery document over HTTPS: an issuer (or
	// an Entra emulator, a corporate TLS proxy) behind a private CA. Only this issuer's
	// fetches trust it, unlike SSL_CERT_FILE, which replaces the roots of every connection.
	CAFile string `yaml:"caFile,omitempty" json:"caFile,omitempty"`
	// Audiences accepted for tokens of this issuer (in addition to the route's).
	Audiences []string `yaml:"audiences,omitempty" json:"audiences,omitempty"`
	// Algorithms allowed. Default RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384,
	// ES512, EdDSA. "none" and HMAC algorithms are refused.
	Algorithms []string `yaml:"algorithms,omitempty" json:"algorithms,omitempty"`
	// ClockSkew tolerated on exp/nbf/iat. Default 60s.
	ClockSkew Duration `yaml:"clockSkew,omitempty" json:"clockSkew,omitempty"`
	// RefreshInterval of the JWKS background refresh. Default 1h.
	RefreshInterval Duration `yaml:"refreshInterval,omitempty" json:"refreshInterval,omitempty"`
	// UnknownKIDRefreshInterval is the minimum time between JWKS fetches triggered by an
	// unknown kid. Default 5m.
	UnknownKIDRefreshInterval Duration `yaml:"unknownKidRefreshInterval,omitempty" json:"unknownKidRefreshInterval,omitempty"`
	// Claims maps standard principal fields to claim names when the issuer uses others.
	Claims *ClaimMapping `yaml:"claims,omitempty" json:"claims,omitempty"`
	// RequiredClaims lists claims every token of this issuer must carry (for example oid,
	// or idtyp); a token without one is rejected with reason missing_claim.
	RequiredClaims []string `yaml:"requiredClaims,omitempty" json:"requiredClaims,omitempty"`
	// Entra configures the issuer as a Microsoft Entra ID tenant (v1 and/or v2 tokens).
	Entra *EntraIssuer `yaml:"entra,omitempty" json:"entra,omitempty"`
}

// ClaimMapping names the claims that hold the principal's fields. Empty fields keep the
// defaults.
type ClaimMapping struct {
	// Subject is the claim holding the user id. Default sub (for Entra consider oid, which is
	// stable across apps of a tenant).
	Subject string `yaml:"subject,omitempty" json:"subject,omitempty"`
	// Email is the claim holding the e-mail address. Default: the first of email,
	// preferred_username and upn that is present.
	Email string `yaml:"email,omitempty" json:"email,omitempty"`
	// Name is the claim holding the display name. Default name.
	Name string `yaml:"name,omitempty" json:"name,omitempty"`
	// Groups is the claim holding group names or ids (an array or a single string).
	// Default groups.
	Groups string `yaml:"groups,omitempty" json:"groups,omitempty"`
	// Roles is the claim holding app roles. Default roles.
	Roles string `yaml:"roles,omitempty" json:"roles,omitempty"`
	// Scopes is the claim holding the granted scopes (a space-separated string or an array).
	// Default: scope, then scp.
	Scopes string `yaml:"scopes,omitempty" json:"scopes,omitempty"`
	// ClientID is the claim holding the OAuth client id. Default: the first of client_id,
	// azp and appid that is present.
	ClientID string `yaml:"clientId,omitempty" json:"clientId,omitempty"`
}

// EntraIssuer is the Entra ID preset.
type EntraIssuer struct {
	// Tenant is a tenant GUID, or "organizations"/"common" for multi-tenant apps (then
	// allowedTenants is required).
	Tenant string `yaml:"tenant" json:"tenant"`
	// AllowedTenants lists tenant GUIDs accepted by a multi-tenant app.
	AllowedTenants []string `yaml:"allowedTenants,omitempty" json:"allowedTenants,omitempty"`
	// Versions of access tokens accepted: [1], [2] or [1, 2] (default both).
	Versions []int `yaml:"versions,omitempty" json:"versions,omitempty"`
	// ClientID is the API app's client id (GUID): the v2 audience.
	ClientID string `yaml:"clientId,omitempty" json:"clientId,omitempty"`
	// AppIDURI is the API's App ID URI (api://...): the v1 audience.
	AppIDURI string `yaml:"appIdUri,omitempty" json:"appIdUri,omitempty"`
	// Authority is the login host. Default https://login.microsoftonline.com; point it at
	// the emulator to test offline.
	Authority string `yaml:"authority,omitempty" json:"authority,omitempty"`
}
