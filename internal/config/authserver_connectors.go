package config

import (
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Connector types.
const (
	ConnectorEntra    = "entra"
	ConnectorKeycloak = "keycloak"
	ConnectorOkta     = "okta"
	ConnectorOIDC     = "oidc"
)

// AuthServerConnector signs users in at an upstream identity provider with the OpenID
// Connect authorization code flow and PKCE (docs/federation.md).
type AuthServerConnector struct {
	// ID names the connector in subjects (<id>:<user key>), logs and URLs: lower-case
	// letters, digits and dashes. Changing it changes every user's subject.
	ID string `yaml:"id" json:"id"`
	// Name is shown on the login page ("Sign in with <name>"). Default: the type's name.
	Name string `yaml:"name,omitempty" json:"name,omitempty"`
	// Type is the preset: entra, keycloak, okta or oidc.
	Type string `yaml:"type" json:"type" jsonschema:"enum=entra,enum=keycloak,enum=okta,enum=oidc"`
	// Issuer is the provider's issuer URL (oidc, okta: https://<org>.okta.com/oauth2/default;
	// keycloak: https://<host>/realms/<realm>). Endpoints are discovered at
	// {issuer}/.well-known/openid-configuration unless given below.
	Issuer string `yaml:"issuer,omitempty" json:"issuer,omitempty"`
	// ClientID is mcpgate's client id at the provider (Entra: the Application (client) ID).
	ClientID string `yaml:"clientId" json:"clientId"`
	// ClientSecret makes mcpgate a confidential client (client_secret_post). Write it as
	// ${ENV_VAR}. Empty: a public client (PKCE only).
	ClientSecret string `yaml:"clientSecret,omitempty" json:"clientSecret,omitempty"`
	// Scopes requested besides openid, profile, email and offline_access. For entra, bare
	// names are qualified with appIdUri (access_as_user -> api://mcpgate/access_as_user).
	Scopes []string `yaml:"scopes,omitempty" json:"scopes,omitempty"`
	// AuthorizationURL is the provider's authorization endpoint. AuthorizationURL, tokenURL
	// and jwksURL replace discovery when all three are set.
	AuthorizationURL string `yaml:"authorizationURL,omitempty" json:"authorizationURL,omitempty"`
	// TokenURL is the provider's token endpoint (with authorizationURL and jwksURL).
	TokenURL string `yaml:"tokenURL,omitempty" json:"tokenURL,omitempty"`
	// JWKSURL is the provider's key set, which verifies id_tokens (with authorizationURL and tokenURL).
	JWKSURL string `yaml:"jwksURL,omitempty" json:"jwksURL,omitempty"`
	// AuthParams are extra authorization request parameters (domain_hint, kc_idp_hint ...).
	AuthParams map[string]string `yaml:"authParams,omitempty" json:"authParams,omitempty"`
	// Entra configures the entra preset.
	Entra *EntraConnector `yaml:"entra,omitempty" json:"entra,omitempty"`
	// Claims names the id_token claims that make the mcpgate user. Dotted paths reach into
	// objects (realm_access.roles).
	Claims ConnectorClaims `yaml:"claims,omitempty" json:"claims,omitempty"`
	// GroupMapping maps upstream groups or roles (names or Entra object ids) to mcpgate
	// groups, which policies and routes use.
	GroupMapping map[string][]string `yaml:"groupMapping,omitempty" json:"groupMapping,omitempty"`
	// DropUnmappedGroups keeps only groups listed in groupMapping.
	DropUnmappedGroups bool `yaml:"dropUnmappedGroups,omitempty" json:"dropUnmappedGroups,omitempty"`
	// AllowPrivateAddresses lets mcpgate reach the provider on loopback/private addresses
	// and over http (the SSRF guard is off). For local development and tests only.
	AllowPrivateAddresses bool `yaml:"allowPrivateAddresses,omitempty" json:"allowPrivateAddresses,omitempty"`
	// RevalidateAfter bounds how long a user's access outlives their sign-in at the provider
	// (offboarding): a refresh of mcpgate's tokens later than this after the last check asks
	// the provider again (the user's provider refresh token is redeemed, or userinfo is read
	// when there is none), re-reads claims and groups, and is refused — the sign-in and its
	// access tokens revoked — when the provider says the user or session is gone. Default 5m.
	RevalidateAfter Duration `yaml:"revalidateAfter,omitempty" json:"revalidateAfter,omitempty"`
	// RevalidateGrace: while the provider cannot be reached (network error, 5xx), refreshes
	// keep working until the last successful check is older than revalidateAfter +
	// revalidateGrace; then they are refused until the provider answers. Default 15m.
	RevalidateGrace Duration `yaml:"revalidateGrace,omitempty" json:"revalidateGrace,omitempty"`
	// CAFile is a PEM file of CA certificates trusted, besides the system roots, when
	// mcpgate talks to this provider (discovery, keys, token endpoint): a provider behind a
	// private CA, without SSL_CERT_FILE for the whole process.
	CAFile string `yaml:"caFile,omitempty" json:"caFile,omitempty"`
	// EndSessionURL is the provider's end_session_endpoint (OIDC RP-Initiated Logout), for
	// connectors whose endpoints are given above rather than discovered. Discovered and
	// entra connectors find it themselves.
	EndSessionURL string `yaml:"endSessionURL,omitempty" json:"endSessionURL,omitempty"`
	// SignOutAtProvider: signing out of mcpgate (its end_session endpoint) also ends the
	// user's session at the provider — the browser goes to the provider's
	// end_session_endpoint with the user's id_token as hint and comes back to
	// {issuer}/login/signed-out, which must be registered at the provider as a post-logout
	// redirect URI. The provider tokens mcpgate kept for the user are deleted either way.
	// Default true; false keeps the provider session (only mcpgate's ends).
	SignOutAtProvider *bool `yaml:"signOutAtProvider,omitempty" json:"signOutAtProvider,omitempty"`
}

// Defaults of AuthServerConnector.RevalidateAfter and RevalidateGrace.
const (
	DefaultRevalidateAfter = 5 * time.Minute
	DefaultRevalidateGrace = 15 * time.Minute
)

// EntraConnector is the Entra ID preset of a connector.
type EntraConnector struct {
	// Tenant is the Directory (tenant) ID (GUID), or "organizations" for a multi-tenant
	// app (then allowedTenants is required).
	Tenant string `yaml:"tenant" json:"tenant"`
	// AllowedTenants lists the tenant ids users may come from with tenant organizations.
	AllowedTenants []string `yaml:"allowedTenants,omitempty" json:"allowedTenants,omitempty"`
	// Authority is the login host. Default https://login.microsoftonline.com; point it at
	// the emulator to test offline.
	Authority string `yaml:"authority,omitempty" json:"authority,omitempty"`
	// AppIDURI is mcpgate's Application ID URI (api://mcpgate): bare scopes are qualified
	// with it, and it replaces an MCP client's resource parameter, which Entra would refuse.
	AppIDURI string `yaml:"appIdUri,omitempty" json:"appIdUri,omitempty"`
	// GraphGroupLookup resolves group overage: when the id_token carries the overage
	// indicator (_claim_names.groups, more groups than fit in a token) instead of groups,
	// mcpgate redeems the user's refresh token for a Microsoft Graph token with the delegated
	// permission User.Read and calls POST {graphURL}/v1.0/me/getMemberObjects. Off: the user
	// signs in without groups and a warning is logged.
	GraphGroupLookup bool `yaml:"graphGroupLookup,omitempty" json:"graphGroupLookup,omitempty"`
	// GraphURL is the Microsoft Graph endpoint of the lookup. Default https://graph.microsoft.com;
	// the Entra emulator serves it at its own base URL (the authority).
	GraphURL string `yaml:"graphURL,omitempty" json:"graphURL,omitempty"`
}

// ConnectorClaims names claims. Empty fields keep the preset's defaults.
type ConnectorClaims struct {
	// Subject is the stable user key. Default: entra tid+oid; others sub.
	Subject string `yaml:"subject,omitempty" json:"subject,omitempty"`
	// Username. Default preferred_username (entra: preferred_username, then upn).
	Username string `yaml:"username,omitempty" json:"username,omitempty"`
	// Email. Default email (entra: email, then preferred_username, then upn).
	Email string `yaml:"email,omitempty" json:"email,omitempty"`
	// Name. Default name.
	Name string `yaml:"name,omitempty" json:"name,omitempty"`
	// Groups. Default groups.
	Groups string `yaml:"groups,omitempty" json:"groups,omitempty"`
	// Roles are added to the groups. Default roles (keycloak: realm_access.roles).
	Roles string `yaml:"roles,omitempty" json:"roles,omitempty"`
}

var connectorIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,39}$`)

func init() { extensionValidators = append(extensionValidators, validateConnectors) }

func validateConnectors(c *Config, p *Problems) {
	if c.AuthServer == nil {
		return
	}
	ids := map[string]bool{}
	for i, cn := range c.AuthServer.Connectors {
		path := "authServer.connectors[" + strconv.Itoa(i) + "]"
		switch {
		case cn.ID == "":
			p.Add(path+".id", "is required (for example entra or keycloak); it prefixes every user's subject")
		case !connectorIDPattern.MatchString(cn.ID):
			p.Add(path+".id", "%q must be lower-case letters, digits and dashes (at most 40)", cn.ID)
		case cn.ID == "local" || cn.ID == "config":
			p.Add(path+".id", "%q is reserved for local users; choose another id", cn.ID)
		case ids[cn.ID]:
			p.Add(path+".id", "%q is defined twice", cn.ID)
		}
		ids[cn.ID] = true
		if cn.ClientID == "" {
			p.Add(path+".clientId", "is required: mcpgate's client id registered at the identity provider")
		}
		checkURL := func(field, v string) {
			if v == "" {
				return
			}
			u, err := url.Parse(v)
			if err != nil || !u.IsAbs() || u.Host == "" {
				p.Add(path+"."+field, "%q is not an absolute URL", v)
				return
			}
			if u.Scheme != "https" && !cn.AllowPrivateAddresses {
				p.Add(path+"."+field, "%q must be https (set allowPrivateAddresses: true only for local development)", v)
			}
		}
		checkURL("issuer", cn.Issuer)
		checkURL("authorizationURL", cn.AuthorizationURL)
		checkURL("tokenURL", cn.TokenURL)
		checkURL("jwksURL", cn.JWKSURL)
		checkURL("endSessionURL", cn.EndSessionURL)
		if cn.RevalidateAfter < 0 {
			p.Add(path+".revalidateAfter", "must not be negative (default 5m: how long access outlives the sign-in at the provider)")
		}
		if cn.RevalidateGrace < 0 {
			p.Add(path+".revalidateGrace", "must not be negative (default 15m)")
		}
		explicit := cn.AuthorizationURL != "" || cn.TokenURL != "" || cn.JWKSURL != ""
		if explicit && (cn.AuthorizationURL == "" || cn.TokenURL == "" || cn.JWKSURL == "") {
			p.Add(path, "give all of authorizationURL, tokenURL and jwksURL, or none (then they are discovered from the issuer)")
		}
		if cn.EndSessionURL != "" && !explicit {
			p.Add(path+".endSessionURL", "is only read with authorizationURL, tokenURL and jwksURL; a discovered provider's end_session_endpoint comes from its discovery document")
		}
		switch cn.Type {
		case ConnectorEntra:
			if cn.Entra == nil || cn.Entra.Tenant == "" {
				p.Add(path+".entra.tenant", "is required for type entra: the Directory (tenant) ID, or organizations for a multi-tenant app")
				break
			}
			t := strings.ToLower(cn.Entra.Tenant)
			if t != "organizations" && !IsGUID(t) {
				p.Add(path+".entra.tenant", "%q is not a tenant id: use the Directory (tenant) ID GUID (Entra ID > Overview), or organizations with allowedTenants for a multi-tenant app", cn.Entra.Tenant)
			}
			for j, at := range cn.Entra.AllowedTenants {
				if !IsGUID(at) {
					p.Add(path+".entra.allowedTenants["+strconv.Itoa(j)+"]", "%q is not a tenant id (GUID)", at)
				}
			}
			if t == "organizations" && len(cn.Entra.AllowedTenants) == 0 {
				p.Add(path+".entra.allowedTenants", "is required with tenant organizations: list the tenant ids whose users may sign in")
			}
			checkURL("entra.authority", cn.Entra.Authority)
			checkURL("entra.graphURL", cn.Entra.GraphURL)
			if cn.Entra.GraphURL != "" && !cn.Entra.GraphGroupLookup {
				p.Warn(path+".entra.graphURL", "is set but graphGroupLookup is off: set graphGroupLookup: true to look up the groups of users with group overage")
			}
			if cn.Entra.AppIDURI == "" {
				for _, s := range cn.Scopes {
					if !strings.Contains(s, "/") && !IsStandardScope(s) {
						p.Add(path+".entra.appIdUri", "is required to qualify the scope %q (Entra needs api://<app>/%s)", s, s)
						break
					}
				}
			}
		case ConnectorKeycloak, ConnectorOkta, ConnectorOIDC:
			if cn.Entra != nil {
				p.Add(path+".entra", "is only for type entra")
			}
			if cn.Issuer == "" {
				p.Add(path+".issuer", "is required for type %s (%s)", cn.Type, map[string]string{
					ConnectorKeycloak: "https://<host>/realms/<realm>",
					ConnectorOkta:     "https://<org>.okta.com/oauth2/default",
					ConnectorOIDC:     "the provider's issuer URL"}[cn.Type])
			}
			if cn.Type == ConnectorOkta && cn.Issuer != "" && !strings.Contains(cn.Issuer, "/oauth2/") {
				p.Warn(path+".issuer", "%q is Okta's org authorization server: sign-in works, but its access tokens can be validated only by Okta, so token exchange and direct mode need a custom authorization server (https://<org>.okta.com/oauth2/default)", cn.Issuer)
			}
		case "":
			p.Add(path+".type", "is required: entra, keycloak, okta or oidc")
		default:
			p.Add(path+".type", "%q is not one of entra, keycloak, okta, oidc", cn.Type)
		}
		if cn.AllowPrivateAddresses {
			p.Warn(path+".allowPrivateAddresses", "is on: the SSRF guard is off for this provider; use only for local development")
		}
		for g, to := range cn.GroupMapping {
			if g == "" || len(to) == 0 {
				p.Add(path+".groupMapping", "entry %q must map a non-empty group to at least one mcpgate group", g)
			}
		}
	}
}

// IsStandardScope reports whether s is openid, profile, email or offline_access.
func IsStandardScope(s string) bool {
	switch s {
	case "openid", "profile", "email", "offline_access":
		return true
	}
	return false
}
