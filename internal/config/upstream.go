package config

import (
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/mcpgate/mcpgate/internal/loopback"
)

// UpstreamAuth says how mcpgate obtains the credential it sends upstream. Set exactly one
// mode. See docs/upstream.md.
type UpstreamAuth struct {
	// Passthrough forwards the caller's own token upstream. The MCP specification forbids
	// this; it is here only for upstreams that cannot be changed, and config validate
	// warns about it.
	Passthrough bool `yaml:"passthrough,omitempty" json:"passthrough,omitempty"`
	// OBO exchanges the caller's Entra token for one to the upstream's API (Entra
	// On-Behalf-Of). The caller's token must be issued for mcpgate's own app.
	OBO *OBOAuth `yaml:"obo,omitempty" json:"obo,omitempty"`
	// TokenExchange exchanges the caller's token at an RFC 8693 token endpoint (Keycloak,
	// Okta, mcpgate's own authorization server).
	TokenExchange *TokenExchangeAuth `yaml:"tokenExchange,omitempty" json:"tokenExchange,omitempty"`
	// ClientCredentials calls the upstream as mcpgate's own app (not as the user).
	ClientCredentials *ClientCredentialsAuth `yaml:"clientCredentials,omitempty" json:"clientCredentials,omitempty"`
	// GatewayJWT sends a short-lived JWT signed by mcpgate stating the user; the upstream
	// verifies it with mcpgate's published JWKS.
	GatewayJWT *GatewayJWTAuth `yaml:"gatewayJWT,omitempty" json:"gatewayJWT,omitempty"`
	// Static sends a fixed header (an API key of the upstream).
	Static *StaticAuth `yaml:"static,omitempty" json:"static,omitempty"`
	// Connection sends the user's own token at a third-party service, from the account
	// the user linked on the connections page.
	Connection *ConnectionAuth `yaml:"connection,omitempty" json:"connection,omitempty"`
}

// OBOAuth configures Entra On-Behalf-Of.
type OBOAuth struct {
	// Tenant is the tenant GUID (or organizations). Not common: OBO needs a tenant.
	Tenant string `yaml:"tenant,omitempty" json:"tenant,omitempty"`
	// Authority is the login host. Default https://login.microsoftonline.com.
	Authority string `yaml:"authority,omitempty" json:"authority,omitempty"`
	// TokenURL overrides authority/tenant (for the emulator or a sovereign cloud).
	TokenURL string `yaml:"tokenURL,omitempty" json:"tokenURL,omitempty"`
	// ClientID is mcpgate's Application (client) ID: the audience of callers' tokens.
	ClientID string `yaml:"clientId" json:"clientId"`
	// ClientSecret of mcpgate's app (use ${ENV}). Give this or certificate.
	ClientSecret string `yaml:"clientSecret,omitempty" json:"clientSecret,omitempty"`
	// Certificate authenticates with a certificate instead of a secret.
	Certificate *ClientCertificate `yaml:"certificate,omitempty" json:"certificate,omitempty"`
	// Scope requested for the upstream, space-separated, all of ONE resource, e.g.
	// api://weather-api/.default.
	Scope string `yaml:"scope" json:"scope"`
}

// ClientCertificate is a certificate credential (PEM files).
type ClientCertificate struct {
	// CertFile is the PEM certificate registered on the app.
	CertFile string `yaml:"certFile" json:"certFile"`
	// KeyFile is its PEM private key (RSA).
	KeyFile string `yaml:"keyFile" json:"keyFile"`
	// Algorithm of the client assertion: PS256 (default) or RS256.
	Algorithm string `yaml:"algorithm,omitempty" json:"algorithm,omitempty" jsonschema:"enum=PS256,enum=RS256"`
}

// TokenExchangeAuth configures RFC 8693 token exchange.
type TokenExchangeAuth struct {
	// TokenURL of the authorization server doing the exchange.
	TokenURL string `yaml:"tokenURL" json:"tokenURL"`
	// ClientID of mcpgate at that server (empty: no client authentication).
	ClientID     string `yaml:"clientId,omitempty" json:"clientId,omitempty"`
	ClientSecret string `yaml:"clientSecret,omitempty" json:"clientSecret,omitempty"`
	// ClientAuthMethod is client_secret_basic (default) or client_secret_post.
	ClientAuthMethod string `yaml:"clientAuthMethod,omitempty" json:"clientAuthMethod,omitempty" jsonschema:"enum=client_secret_basic,enum=client_secret_post"`
	// Audience names the target service (logical name).
	Audience string `yaml:"audience,omitempty" json:"audience,omitempty"`
	// Resource names the target by URI (RFC 8707).
	Resource []string `yaml:"resource,omitempty" json:"resource,omitempty"`
	// Scopes requested.
	Scopes []string `yaml:"scopes,omitempty" json:"scopes,omitempty"`
	// SubjectTokenType of the caller's token. Default urn:ietf:params:oauth:token-type:access_token.
	SubjectTokenType string `yaml:"subjectTokenType,omitempty" json:"subjectTokenType,omitempty"`
	// RequestedTokenType, optional.
	RequestedTokenType string `yaml:"requestedTokenType,omitempty" json:"requestedTokenType,omitempty"`
	// ActorToken adds mcpgate as the actor (delegation, the act claim): clientCredentials
	// (a token for mcpgate's client from the same server) or gatewayJWT (signed by mcpgate).
	ActorToken string `yaml:"actorToken,omitempty" json:"actorToken,omitempty" jsonschema:"enum=clientCredentials,enum=gatewayJWT"`
}

// ClientCredentialsAuth configures the client credentials grant.
type ClientCredentialsAuth struct {
	TokenURL     string `yaml:"tokenURL" json:"tokenURL"`
	ClientID     string `yaml:"clientId" json:"clientId"`
	ClientSecret string `yaml:"clientSecret,omitempty" json:"clientSecret,omitempty"`
	// Certificate authenticates with a certificate instead of a secret.
	Certificate *ClientCertificate `yaml:"certificate,omitempty" json:"certificate,omitempty"`
	// ClientAuthMethod is client_secret_basic (default) or client_secret_post.
	ClientAuthMethod string `yaml:"clientAuthMethod,omitempty" json:"clientAuthMethod,omitempty" jsonschema:"enum=client_secret_basic,enum=client_secret_post"`
	// Scopes requested (Entra: api://<app>/.default).
	Scopes []string `yaml:"scopes,omitempty" json:"scopes,omitempty"`
	// Resource is sent as the RFC 8707 resource parameter.
	Resource []string `yaml:"resource,omitempty" json:"resource,omitempty"`
}

// GatewayJWTAuth configures the identity token mcpgate signs for one upstream.
type GatewayJWTAuth struct {
	// Audience is the upstream's identifier (aud claim). Default: the upstream URL.
	Audience string `yaml:"audience,omitempty" json:"audience,omitempty"`
	// Lifetime of each token. Default 60s, at most 10m.
	Lifetime Duration `yaml:"lifetime,omitempty" json:"lifetime,omitempty"`
	// Header carrying the token. Default Authorization (as Bearer).
	Header string `yaml:"header,omitempty" json:"header,omitempty"`
}

// StaticAuth sends a fixed header value.
type StaticAuth struct {
	// Header name. Default Authorization.
	Header string `yaml:"header,omitempty" json:"header,omitempty"`
	// Value of the header (use ${ENV}; never write a secret into the file).
	Value string `yaml:"value,omitempty" json:"value,omitempty"`
	// ValueFile holds the value (re-read on every call, so rotation needs no restart).
	ValueFile string `yaml:"valueFile,omitempty" json:"valueFile,omitempty"`
	// Prefix is prepended to the value, e.g. "Bearer ".
	Prefix string `yaml:"prefix,omitempty" json:"prefix,omitempty"`
}

// ConnectionAuth uses the user's linked account at a third-party service.
type ConnectionAuth struct {
	// Provider names an entry of upstreamCredentials.connections.
	Provider string `yaml:"provider" json:"provider"`
}

// UpstreamCredentials holds what upstream credential modes share: the keys that seal
// stored tokens, mcpgate's signing key for gatewayJWT, the exchanged-token cache, and the
// third-party services users can connect.
type UpstreamCredentials struct {
	// Secrets are the AES-256-GCM keys that seal stored connection tokens.
	Secrets *SecretKeys `yaml:"secrets,omitempty" json:"secrets,omitempty"`
	// GatewayJWT configures the key mode gatewayJWT signs with.
	GatewayJWT *GatewayJWTSigning `yaml:"gatewayJWT,omitempty" json:"gatewayJWT,omitempty"`
	// Cache tunes the exchanged-token cache.
	Cache *ExchangeCache `yaml:"cache,omitempty" json:"cache,omitempty"`
	// ConnectionsPath is where the connection pages are served. Default /connections.
	ConnectionsPath string `yaml:"connectionsPath,omitempty" json:"connectionsPath,omitempty"`
	// RefreshSkew refreshes a connection's token this long before it expires. Default 60s.
	RefreshSkew Duration `yaml:"refreshSkew,omitempty" json:"refreshSkew,omitempty"`
	// Connections are the third-party services users can link their accounts to.
	Connections []ConnectionProvider `yaml:"connections,omitempty" json:"connections,omitempty"`
}

// SecretKeys says where the sealing keys come from: id:base64key entries (32 random
// bytes each; `openssl rand -base64 32`), the first being the primary unless named.
type SecretKeys struct {
	// KeysEnv names the environment variable holding the keys. Default MCPGATE_SECRET_KEYS.
	KeysEnv string `yaml:"keysEnv,omitempty" json:"keysEnv,omitempty"`
	// KeysFile holds the keys, one per line (mode 0600). Takes precedence over keysEnv.
	KeysFile string `yaml:"keysFile,omitempty" json:"keysFile,omitempty"`
	// Primary names the key new values are sealed with. Default: the first.
	Primary string `yaml:"primary,omitempty" json:"primary,omitempty"`
}

// SealingKeys returns upstreamCredentials.secrets with its default filled in (keysEnv
// MCPGATE_SECRET_KEYS): where the keys that seal stored tokens come from.
func (c *Config) SealingKeys() SecretKeys {
	var sk SecretKeys
	if c.UpstreamCredentials != nil && c.UpstreamCredentials.Secrets != nil {
		sk = *c.UpstreamCredentials.Secrets
	}
	if sk.KeysEnv == "" {
		sk.KeysEnv = DefaultSecretKeysEnv
	}
	return sk
}

// GatewayJWTSigning configures mcpgate's signing key for gatewayJWT.
type GatewayJWTSigning struct {
	// Issuer (iss claim). Default publicURL.
	Issuer string `yaml:"issuer,omitempty" json:"issuer,omitempty"`
	// KeyFiles are PEM private keys (RSA 2048+ or EC P-256); the first signs, all are
	// published. Without keys an ephemeral key is generated (tokens stop verifying at
	// restart; a warning is logged).
	KeyFiles []string `yaml:"keyFiles,omitempty" json:"keyFiles,omitempty"`
	// JWKSPath serves the public keys. Default /.well-known/mcpgate-upstream-jwks.json.
	JWKSPath string `yaml:"jwksPath,omitempty" json:"jwksPath,omitempty"`
}

// ExchangeCache tunes the exchanged-token cache.
type ExchangeCache struct {
	// MaxEntries bounds the in-memory cache. Default 10000.
	MaxEntries int `yaml:"maxEntries,omitempty" json:"maxEntries,omitempty"`
	// Skew: a cached token is replaced this long before it expires. Default 60s.
	Skew Duration `yaml:"skew,omitempty" json:"skew,omitempty"`
}

// ConnectionProvider is a third-party service (its own OAuth authorization server) that
// users link their accounts to.
type ConnectionProvider struct {
	// Name is used in URLs and by routes (connection.provider).
	Name string `yaml:"name" json:"name"`
	// DisplayName is shown on pages. Default name.
	DisplayName  string `yaml:"displayName,omitempty" json:"displayName,omitempty"`
	AuthorizeURL string `yaml:"authorizeURL" json:"authorizeURL"`
	TokenURL     string `yaml:"tokenURL" json:"tokenURL"`
	// RevocationURL (RFC 7009) is called on disconnect when set.
	RevocationURL string `yaml:"revocationURL,omitempty" json:"revocationURL,omitempty"`
	ClientID      string `yaml:"clientId" json:"clientId"`
	ClientSecret  string `yaml:"clientSecret,omitempty" json:"clientSecret,omitempty"`
	// ClientAuthMethod is client_secret_post (default) or client_secret_basic.
	ClientAuthMethod string `yaml:"clientAuthMethod,omitempty" json:"clientAuthMethod,omitempty" jsonschema:"enum=client_secret_post,enum=client_secret_basic"`
	// Scopes requested (include offline_access or the service's equivalent to get a
	// refresh token).
	Scopes []string `yaml:"scopes,omitempty" json:"scopes,omitempty"`
	// Resource is sent on authorize, code exchange and every refresh (RFC 8707).
	Resource string `yaml:"resource,omitempty" json:"resource,omitempty"`
	// AuthParams are extra authorize parameters, e.g. {prompt: consent}.
	AuthParams map[string]string `yaml:"authParams,omitempty" json:"authParams,omitempty"`
	// MCPServer is the URL of a third-party MCP server with its own OAuth: instead of
	// authorizeURL, tokenURL and resource, mcpgate discovers its protected resource
	// metadata (RFC 9728) and authorization server (RFC 8414 or OpenID Connect), and,
	// without clientId, registers itself there (its client ID metadata document at
	// <publicURL><connectionsPath>/<name>/client-metadata.json, else dynamic client
	// registration). Scopes default to the server's scopes_supported.
	MCPServer string `yaml:"mcpServer,omitempty" json:"mcpServer,omitempty"`
	// MetadataHosts are the only hosts discovery, registration and token requests of an
	// mcpServer connection may reach (default: mcpServer's host). Addresses that are
	// loopback or private are refused unless listed here as an IP address or localhost.
	MetadataHosts []string `yaml:"metadataHosts,omitempty" json:"metadataHosts,omitempty"`
	// OfferTo offers the connection only to users in one of these groups (the groups
	// claim): others neither see nor link it, and are told it is not offered to them.
	// Default: everyone.
	OfferTo []string `yaml:"offerTo,omitempty" json:"offerTo,omitempty"`
	// RequiredFor are groups whose users must link the connection: until they do, a route
	// that uses it asks them to on every request (initialize and lists included), not only
	// on the calls that need it, and the connections page marks it required.
	RequiredFor []string `yaml:"requiredFor,omitempty" json:"requiredFor,omitempty"`
}

// Defaults of the upstream credential settings.
const (
	DefaultSecretKeysEnv   = "MCPGATE_SECRET_KEYS"
	DefaultConnectionsPath = "/connections"
	DefaultGatewayJWKSPath = "/.well-known/mcpgate-upstream-jwks.json"
)

// Modes returns the names of the modes set (for "exactly one" checks and audit).
func (u *UpstreamAuth) Modes() []string {
	if u == nil {
		return nil
	}
	var m []string
	if u.Passthrough {
		m = append(m, "passthrough")
	}
	for _, x := range []struct {
		name string
		set  bool
	}{{"obo", u.OBO != nil}, {"tokenExchange", u.TokenExchange != nil}, {"clientCredentials", u.ClientCredentials != nil},
		{"gatewayJWT", u.GatewayJWT != nil}, {"static", u.Static != nil}, {"connection", u.Connection != nil}} {
		if x.set {
			m = append(m, x.name)
		}
	}
	return m
}

// OBOTokenURL returns the token endpoint of an OBO configuration.
func (o *OBOAuth) OBOTokenURL() string {
	if o.TokenURL != "" {
		return o.TokenURL
	}
	a := strings.TrimRight(o.Authority, "/")
	if a == "" {
		a = "https://login.microsoftonline.com"
	}
	return a + "/" + o.Tenant + "/oauth2/v2.0/token"
}

func init() { extensionValidators = append(extensionValidators, validateUpstreamCredentials) }

func validateUpstreamCredentials(c *Config, p *Problems) {
	uc := c.UpstreamCredentials
	providers := map[string]bool{}
	if uc != nil {
		if uc.Secrets != nil && uc.Secrets.KeysFile != "" {
			if _, err := os.Stat(uc.Secrets.KeysFile); err != nil {
				p.Add("upstreamCredentials.secrets.keysFile", "cannot read %s: %v", uc.Secrets.KeysFile, err)
			}
		}
		if g := uc.GatewayJWT; g != nil {
			if g.Issuer != "" && !absHTTPURL(g.Issuer) {
				p.Add("upstreamCredentials.gatewayJWT.issuer", "%q is not an absolute http(s) URL", g.Issuer)
			}
			for i, f := range g.KeyFiles {
				if _, err := os.Stat(f); err != nil {
					p.Add(fmt.Sprintf("upstreamCredentials.gatewayJWT.keyFiles[%d]", i), "cannot read %s: %v", f, err)
				}
			}
			if g.JWKSPath != "" && !strings.HasPrefix(g.JWKSPath, "/") {
				p.Add("upstreamCredentials.gatewayJWT.jwksPath", "%q must start with /", g.JWKSPath)
			}
		}
		if uc.Cache != nil && uc.Cache.MaxEntries < 0 {
			p.Add("upstreamCredentials.cache.maxEntries", "must not be negative")
		}
		if uc.ConnectionsPath != "" && (!strings.HasPrefix(uc.ConnectionsPath, "/") || strings.HasSuffix(uc.ConnectionsPath, "/")) {
			p.Add("upstreamCredentials.connectionsPath", "%q must start with / and not end with / (for example /connections)", uc.ConnectionsPath)
		}
		for i, cp := range uc.Connections {
			path := fmt.Sprintf("upstreamCredentials.connections[%d]", i)
			if cp.Name != "" {
				path = fmt.Sprintf("upstreamCredentials.connections[%d] (%s)", i, cp.Name)
			}
			switch {
			case cp.Name == "":
				p.Add(path+".name", "is required (routes refer to it as connection.provider)")
			case providers[cp.Name]:
				p.Add(path+".name", "%q is used by another connection", cp.Name)
			case strings.ContainsAny(cp.Name, "/?#% "):
				p.Add(path+".name", "%q may not contain / ? # %% or spaces: it is part of URLs", cp.Name)
			}
			providers[cp.Name] = true
			if cp.MCPServer != "" {
				validateDiscoveredConnection(p, path, &cp)
			} else {
				checkURL(p, path+".authorizeURL", cp.AuthorizeURL, true)
				checkURL(p, path+".tokenURL", cp.TokenURL, true)
				if cp.ClientID == "" {
					p.Add(path+".clientId", "is required: register mcpgate as an OAuth app at %s with redirect URI <publicURL>%s/%s/callback (or give mcpServer to discover the service and register automatically)", orDefault(cp.DisplayName, "the service"), orDefault(uc.ConnectionsPath, DefaultConnectionsPath), cp.Name)
				}
				if len(cp.MetadataHosts) > 0 {
					p.Add(path+".metadataHosts", "is for an mcpServer connection (discovery)")
				}
			}
			checkURL(p, path+".revocationURL", cp.RevocationURL, false)
			for _, g := range cp.RequiredFor {
				if len(cp.OfferTo) > 0 && !slices.Contains(cp.OfferTo, g) {
					p.Add(path+".requiredFor", "group %q is required to link %s, which is offered only to %s: add it to offerTo", g, cp.Name, strings.Join(cp.OfferTo, ", "))
				}
			}
			if cp.Resource != "" && !absURI(cp.Resource) {
				p.Add(path+".resource", "%q is not an absolute URI", cp.Resource)
			}
			checkAuthMethod(p, path+".clientAuthMethod", cp.ClientAuthMethod, "client_secret_post", "client_secret_basic")
		}
		if len(uc.Connections) > 0 {
			if c.PublicURL == "" {
				p.Add("publicURL", "is required when upstreamCredentials.connections are configured: third-party services redirect users back to <publicURL>%s/<name>/callback", orDefault(uc.ConnectionsPath, DefaultConnectionsPath))
			}
		}
	}
	for i := range c.Routes {
		r := &c.Routes[i]
		path := fmt.Sprintf("routes[%d]", i)
		if r.Name != "" {
			path = fmt.Sprintf("routes[%d] (%s)", i, r.Name)
		}
		if r.UpstreamAuth != nil {
			validateUpstreamAuth(p, c, providers, path+".upstreamAuth", r, r.UpstreamAuth)
		}
		for j := range r.Upstreams {
			if ua := r.Upstreams[j].UpstreamAuth; ua != nil {
				validateUpstreamAuth(p, c, providers, fmt.Sprintf("%s.upstreams[%d].upstreamAuth", path, j), r, ua)
			}
		}
	}
}

// validateUpstreamAuth checks one upstreamAuth: a route's, or one upstream's of an
// aggregating route.
func validateUpstreamAuth(p *Problems, c *Config, providers map[string]bool, path string, r *Route, u *UpstreamAuth) {
	uc := c.UpstreamCredentials
	{
		modes := u.Modes()
		switch len(modes) {
		case 0:
			p.Add(path, "choose one mode: obo, tokenExchange, clientCredentials, gatewayJWT, static, connection or passthrough (or remove upstreamAuth to send no credential)")
			return
		case 1:
		default:
			p.Add(path, "sets %s: choose exactly one mode per route", strings.Join(modes, " and "))
			return
		}
		if u.OBO != nil || u.TokenExchange != nil || u.GatewayJWT != nil || u.Connection != nil {
			if r.Auth.Mode != "" && r.Auth.Mode != "strict" {
				p.Add(path, "mode %s acts as the signed-in user, so the route needs auth.mode strict (it is %s)", modes[0], r.Auth.Mode)
			}
		}
		switch {
		case u.OBO != nil:
			validateOBO(p, path+".obo", u.OBO)
		case u.TokenExchange != nil:
			te := u.TokenExchange
			checkURL(p, path+".tokenExchange.tokenURL", te.TokenURL, true)
			if te.Audience == "" && len(te.Resource) == 0 && len(te.Scopes) == 0 {
				p.Add(path+".tokenExchange", "name the target with audience, resource or scopes")
			}
			for j, res := range te.Resource {
				if !absURI(res) {
					p.Add(fmt.Sprintf("%s.tokenExchange.resource[%d]", path, j), "%q is not an absolute URI (RFC 8707)", res)
				}
			}
			if te.ClientSecret != "" && te.ClientID == "" {
				p.Add(path+".tokenExchange.clientId", "is required with clientSecret")
			}
			checkAuthMethod(p, path+".tokenExchange.clientAuthMethod", te.ClientAuthMethod, "client_secret_basic", "client_secret_post")
			for _, tt := range []struct{ k, v string }{{"subjectTokenType", te.SubjectTokenType}, {"requestedTokenType", te.RequestedTokenType}} {
				if tt.v != "" && !strings.HasPrefix(tt.v, "urn:") {
					p.Add(path+".tokenExchange."+tt.k, "%q is not a token type URI such as urn:ietf:params:oauth:token-type:access_token", tt.v)
				}
			}
			switch te.ActorToken {
			case "":
			case "clientCredentials":
				if te.ClientID == "" {
					p.Add(path+".tokenExchange.actorToken", "clientCredentials needs clientId and clientSecret")
				}
			case "gatewayJWT":
			default:
				p.Add(path+".tokenExchange.actorToken", "%q is not clientCredentials or gatewayJWT", te.ActorToken)
			}
		case u.ClientCredentials != nil:
			cc := u.ClientCredentials
			checkURL(p, path+".clientCredentials.tokenURL", cc.TokenURL, true)
			if cc.ClientID == "" {
				p.Add(path+".clientCredentials.clientId", "is required")
			}
			if (cc.ClientSecret == "") == (cc.Certificate == nil) {
				p.Add(path+".clientCredentials", "give exactly one of clientSecret or certificate")
			}
			validateCert(p, path+".clientCredentials.certificate", cc.Certificate)
			checkAuthMethod(p, path+".clientCredentials.clientAuthMethod", cc.ClientAuthMethod, "client_secret_basic", "client_secret_post")
			for j, res := range cc.Resource {
				if !absURI(res) {
					p.Add(fmt.Sprintf("%s.clientCredentials.resource[%d]", path, j), "%q is not an absolute URI (RFC 8707)", res)
				}
			}
		case u.GatewayJWT != nil:
			g := u.GatewayJWT
			if c.PublicURL == "" && (uc == nil || uc.GatewayJWT == nil || uc.GatewayJWT.Issuer == "") {
				p.Add(path+".gatewayJWT", "needs an issuer: set publicURL or upstreamCredentials.gatewayJWT.issuer")
			}
			if g.Lifetime < 0 || g.Lifetime.D() > 10*time.Minute {
				p.Add(path+".gatewayJWT.lifetime", "%s is out of range: use up to 10m (short-lived is the point; default 60s)", g.Lifetime.D())
			}
		case u.Static != nil:
			s := u.Static
			if (s.Value == "") == (s.ValueFile == "") {
				p.Add(path+".static", "give exactly one of value (use ${ENV}) or valueFile")
			}
			if s.ValueFile != "" {
				if _, err := os.Stat(s.ValueFile); err != nil {
					p.Add(path+".static.valueFile", "cannot read %s: %v", s.ValueFile, err)
				}
			}
			if s.Header != "" && strings.ContainsAny(s.Header, " :\r\n") {
				p.Add(path+".static.header", "%q is not a header name", s.Header)
			}
		case u.Connection != nil:
			name := u.Connection.Provider
			switch {
			case name == "":
				p.Add(path+".connection.provider", "is required: name an entry of upstreamCredentials.connections")
			case !providers[name]:
				known := make([]string, 0, len(providers))
				for n := range providers {
					known = append(known, n)
				}
				slices.Sort(known)
				msg := fmt.Sprintf("%q is not defined under upstreamCredentials.connections", name)
				if s := closest(name, known); s != "" {
					msg += fmt.Sprintf(" (did you mean %q?)", s)
				} else if len(known) > 0 {
					msg += " (defined: " + strings.Join(known, ", ") + ")"
				}
				p.Add(path+".connection.provider", "%s", msg)
			}
		}
	}
}

func validateOBO(p *Problems, path string, o *OBOAuth) {
	if o.TokenURL != "" {
		checkURL(p, path+".tokenURL", o.TokenURL, true)
	} else {
		switch {
		case o.Tenant == "":
			p.Add(path+".tenant", "is required (the tenant GUID), unless tokenURL is given")
		case o.Tenant == "common" || o.Tenant == "consumers":
			p.Add(path+".tenant", "%q cannot be used for On-Behalf-Of: use the tenant GUID or organizations", o.Tenant)
		case o.Tenant != "organizations" && !IsGUID(o.Tenant) && !strings.Contains(o.Tenant, "."):
			p.Add(path+".tenant", "%q is not a tenant GUID or domain", o.Tenant)
		}
		if o.Authority != "" && !absHTTPURL(o.Authority) {
			p.Add(path+".authority", "%q is not an absolute URL such as https://login.microsoftonline.com", o.Authority)
		}
	}
	if strings.Contains(o.TokenURL, "/common/") {
		p.Add(path+".tokenURL", "the /common authority cannot be used for On-Behalf-Of: use the tenant GUID or organizations")
	}
	if o.ClientID == "" {
		p.Add(path+".clientId", "is required: mcpgate's Application (client) ID")
	}
	if (o.ClientSecret == "") == (o.Certificate == nil) {
		p.Add(path, "give exactly one of clientSecret or certificate")
	}
	validateCert(p, path+".certificate", o.Certificate)
	scopes := strings.Fields(o.Scope)
	if len(scopes) == 0 {
		p.Add(path+".scope", "is required, for example api://weather-api/.default")
		return
	}
	resources := map[string]bool{}
	hasDefault := false
	for _, s := range scopes {
		if strings.HasSuffix(s, "/.default") {
			hasDefault = true
		}
		if s == "offline_access" || s == "openid" || s == "profile" || s == "email" {
			continue
		}
		res := "https://graph.microsoft.com" // bare scopes such as User.Read mean Graph
		if i := strings.LastIndex(s, "/"); i > 0 && strings.Contains(s, ":") {
			res = s[:i]
		}
		resources[res] = true
	}
	if len(resources) > 1 {
		keys := make([]string, 0, len(resources))
		for k := range resources {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		p.Add(path+".scope", "names several resources (%s); one token covers one resource (Entra AADSTS70011/28000): use one route per resource", strings.Join(keys, ", "))
	}
	if hasDefault && len(scopes) > 1 {
		p.Add(path+".scope", "/.default cannot be combined with other scopes (Entra AADSTS70011)")
	}
}

func validateCert(p *Problems, path string, c *ClientCertificate) {
	if c == nil {
		return
	}
	for _, f := range []struct{ k, v string }{{"certFile", c.CertFile}, {"keyFile", c.KeyFile}} {
		if f.v == "" {
			p.Add(path+"."+f.k, "is required")
		} else if _, err := os.Stat(f.v); err != nil {
			p.Add(path+"."+f.k, "cannot read %s: %v", f.v, err)
		}
	}
	if c.Algorithm != "" && c.Algorithm != "PS256" && c.Algorithm != "RS256" {
		p.Add(path+".algorithm", "%q is not PS256 or RS256", c.Algorithm)
	}
}

func checkAuthMethod(p *Problems, path, v string, allowed ...string) {
	if v != "" && !slices.Contains(allowed, v) {
		p.Add(path, "%q is not %s", v, strings.Join(allowed, " or "))
	}
}

func checkURL(p *Problems, path, v string, required bool) {
	if v == "" {
		if required {
			p.Add(path, "is required")
		}
		return
	}
	if !absHTTPURL(v) {
		p.Add(path, "%q is not an absolute http(s) URL", v)
	}
}

func absHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

func absURI(s string) bool {
	u, err := url.Parse(s)
	return err == nil && u.Scheme != "" && u.Fragment == ""
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// validateDiscoveredConnection checks a connection whose endpoints are discovered from
// its MCP server (mcpServer).
func validateDiscoveredConnection(p *Problems, path string, cp *ConnectionProvider) {
	u, err := url.Parse(cp.MCPServer)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Fragment != "" {
		p.Add(path+".mcpServer", "%q is not an absolute http(s) URL of an MCP endpoint", cp.MCPServer)
		return
	}
	for _, k := range []struct{ name, v string }{{"authorizeURL", cp.AuthorizeURL}, {"tokenURL", cp.TokenURL}, {"resource", cp.Resource}} {
		if k.v != "" {
			p.Add(path+"."+k.name, "is discovered from mcpServer: remove it (or remove mcpServer and configure the endpoints by hand)")
		}
	}
	if cp.ClientSecret != "" && cp.ClientID == "" {
		p.Add(path+".clientId", "is required with clientSecret (a client registered by hand at the service)")
	}
	for i, h := range cp.MetadataHosts {
		if h == "" || strings.ContainsAny(h, "/:?#@ ") && !strings.HasPrefix(h, "[") {
			p.Add(fmt.Sprintf("%s.metadataHosts[%d]", path, i), "%q is not a host name (example: auth.example.com, *.example.com, 127.0.0.1)", h)
		}
	}
	if len(cp.MetadataHosts) == 0 && internalHost(u.Hostname()) {
		p.Add(path+".metadataHosts", "mcpServer %s is on a loopback or private address: list %q here to allow discovery there (refused by default: SSRF guard)", cp.MCPServer, u.Hostname())
	}
	if u.Scheme == "http" && !internalHost(u.Hostname()) {
		p.Add(path+".mcpServer", "%q: discovery needs https (http only on an address listed in metadataHosts)", cp.MCPServer)
	}
}

// internalHost reports whether host is localhost or a loopback or private IP address.
func internalHost(host string) bool {
	if loopback.Host(host) {
		return true
	}
	ip, err := netip.ParseAddr(strings.Trim(host, "[]"))
	if err != nil {
		return false
	}
	ip = ip.Unmap()
	return ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsUnspecified()
}
