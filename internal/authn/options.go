package authn

import "time"

// Issuer is one token issuer whose tokens a route may accept (internal/app maps the
// configuration's issuers, with their defaults, to it).
type Issuer struct {
	// Name is how routes refer to this issuer.
	Name string
	// Issuer is the exact iss value. With no JWKS source given, OIDC discovery at
	// {issuer}/.well-known/openid-configuration finds the jwks_uri.
	Issuer string
	// JWKSURL, JWKSFile and JWKS (inline JSON) are the key sources; at most one is set.
	JWKSURL  string
	JWKSFile string
	JWKS     string
	// CAFile is a PEM bundle of CA certificates trusted, besides the system roots, for this
	// issuer's HTTPS fetches (JWKS, discovery): an issuer behind a private CA.
	CAFile string
	// Audiences accepted for tokens of this issuer (in addition to the route's).
	Audiences []string
	// Algorithms allowed.
	Algorithms []string
	// ClockSkew tolerated on exp/nbf/iat.
	ClockSkew time.Duration
	// RefreshInterval of the JWKS background refresh.
	RefreshInterval time.Duration
	// UnknownKIDRefreshInterval is the minimum time between JWKS fetches triggered by an
	// unknown kid.
	UnknownKIDRefreshInterval time.Duration
	// Claims maps principal fields to claim names when the issuer uses others (nil: the
	// standard names).
	Claims *ClaimMapping
	// RequiredClaims must be in every token of this issuer (reason missing_claim).
	RequiredClaims []string
	// Entra makes the issuer a Microsoft Entra ID tenant (v1 and/or v2 tokens).
	Entra *EntraIssuer
}

// ClaimMapping names the claims principal fields are read from ("" = the standard claim).
type ClaimMapping struct {
	Subject, Email, Name, Groups, Roles, Scopes, ClientID string
}

// EntraIssuer is an Entra ID tenant (or a multi-tenant authority) as a token issuer.
type EntraIssuer struct {
	// Tenant is a tenant GUID, or organizations/common for multi-tenant apps.
	Tenant string
	// AllowedTenants restricts a multi-tenant issuer to these tenant GUIDs.
	AllowedTenants []string
	// Versions are the token versions accepted (1, 2).
	Versions []int
	// ClientID is the v2 audience; AppIDURI the v1 audience.
	ClientID string
	AppIDURI string
	// Authority is the login host ("" = DefaultEntraAuthority).
	Authority string
}
