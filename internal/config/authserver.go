package config

import (
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/mcpgate/mcpgate/internal/loopback"
)

// AuthServer configures mcpgate's own OAuth 2.1 / OpenID Connect authorization server
// (docs/authserver.md). Its endpoints are served on the gateway's listener: /authorize,
// /token, /register, /jwks, /userinfo, /introspect, /revoke, /end_session,
// /device_authorization, /device, /login, /consent and the two /.well-known documents.
type AuthServer struct {
	// Issuer is the issuer URL (scheme://host[:port], no path). Default: publicURL.
	Issuer string `yaml:"issuer,omitempty" json:"issuer,omitempty"`
	// SigningAlgorithm signs tokens: ES256 (default) or RS256. Keys are kept in the store.
	SigningAlgorithm string `yaml:"signingAlgorithm,omitempty" json:"signingAlgorithm,omitempty" jsonschema:"enum=ES256,enum=RS256"`
	// KeyRotation is how long a signing key signs before its successor takes over. Default 720h (30 days).
	KeyRotation Duration `yaml:"keyRotation,omitempty" json:"keyRotation,omitempty"`
	// KeyOverlap is how long a new key is published before it signs (and an old one kept
	// after its last token expired). Default 1h.
	KeyOverlap Duration `yaml:"keyOverlap,omitempty" json:"keyOverlap,omitempty"`
	// AccessTokenLifetime of the JWT access tokens. Default 1h.
	AccessTokenLifetime Duration `yaml:"accessTokenLifetime,omitempty" json:"accessTokenLifetime,omitempty"`
	// RefreshTokenLifetime bounds a sign-in: rotation never extends it. Default 720h (30 days).
	RefreshTokenLifetime Duration `yaml:"refreshTokenLifetime,omitempty" json:"refreshTokenLifetime,omitempty"`
	// AuthRequestLifetime is how long a user has to sign in and consent. Default 10m.
	AuthRequestLifetime Duration `yaml:"authRequestLifetime,omitempty" json:"authRequestLifetime,omitempty"`
	// DeviceCodeLifetime is how long a device code can be approved. Default 10m.
	DeviceCodeLifetime Duration `yaml:"deviceCodeLifetime,omitempty" json:"deviceCodeLifetime,omitempty"`
	// SessionLifetime is how long a browser stays signed in. Default 12h.
	SessionLifetime Duration `yaml:"sessionLifetime,omitempty" json:"sessionLifetime,omitempty"`
	// ConsentLifetime is how long a consent is remembered. Default: forever.
	ConsentLifetime Duration `yaml:"consentLifetime,omitempty" json:"consentLifetime,omitempty"`
	// Scopes the server accepts besides openid, profile, email and offline_access (usually
	// the scopes your routes require). Empty: any scope.
	Scopes []string `yaml:"scopes,omitempty" json:"scopes,omitempty"`
	// Clients are pre-registered OAuth clients.
	Clients []AuthServerClient `yaml:"clients,omitempty" json:"clients,omitempty"`
	// Registration configures dynamic client registration (RFC 7591).
	Registration AuthServerRegistration `yaml:"registration,omitempty" json:"registration,omitempty"`
	// ClientMetadataDocuments configures clients identified by an https URL (client ID
	// metadata documents).
	ClientMetadataDocuments AuthServerCIMD `yaml:"clientMetadataDocuments,omitempty" json:"clientMetadataDocuments,omitempty"`
	// Users are local users defined here (in addition to those managed with `mcpgate users`).
	Users []AuthServerUser `yaml:"users,omitempty" json:"users,omitempty"`
	// TrustedClients are client IDs (or metadata document URLs) that skip the consent page.
	TrustedClients []string `yaml:"trustedClients,omitempty" json:"trustedClients,omitempty"`
	// LoginRateLimit limits failed sign-ins.
	LoginRateLimit AuthServerLoginRateLimit `yaml:"loginRateLimit,omitempty" json:"loginRateLimit,omitempty"`
	// AllowInsecureHTTP allows an http:// issuer. For local development only.
	AllowInsecureHTTP bool `yaml:"allowInsecureHTTP,omitempty" json:"allowInsecureHTTP,omitempty"`
	// Branding is the operator's name and logo on every page (sign-in, consent, device,
	// connections, errors, the landing page at /). Default: "mcpgate" and a plain mark.
	Branding *AuthServerBranding `yaml:"branding,omitempty" json:"branding,omitempty"`
	// AdminGroups are the groups whose members may use the admin console at /admin
	// (routes, the policy simulator). Empty: the console is off.
	AdminGroups []string `yaml:"adminGroups,omitempty" json:"adminGroups,omitempty"`
	// Connectors sign users in at another identity provider (Entra ID, Keycloak, Okta, any
	// OpenID Connect provider) instead of, or besides, local users: federation, bridge
	// mode (docs/federation.md). The redirect URI to register at the provider is
	// {issuer}/login/callback.
	Connectors []AuthServerConnector `yaml:"connectors,omitempty" json:"connectors,omitempty"`
	// LocalLogin shows the username/password form besides the connectors. Default: true
	// without connectors; with connectors only when users are defined here (set it to true
	// for users managed with `mcpgate users`).
	LocalLogin *bool `yaml:"localLogin,omitempty" json:"localLogin,omitempty"`
	// EnterpriseIdPs are the enterprise identity providers whose ID-JAGs this server
	// exchanges for access tokens (enterprise-managed authorization, authserver_idjag.go).
	EnterpriseIdPs []AuthServerEnterpriseIdP `yaml:"enterpriseIdPs,omitempty" json:"enterpriseIdPs,omitempty"`
	// IDJAG makes this server an enterprise IdP that issues ID-JAGs (authserver_idjag.go).
	IDJAG *AuthServerIDJAG `yaml:"idJag,omitempty" json:"idJag,omitempty"`
}

// AuthServerClient is a pre-registered client.
type AuthServerClient struct {
	// ID is the client_id.
	ID string `yaml:"id" json:"id"`
	// Name is shown on the consent page. Default: the id.
	Name string `yaml:"name,omitempty" json:"name,omitempty"`
	// Secret makes the client confidential. Write it as ${ENV_VAR}.
	Secret string `yaml:"secret,omitempty" json:"secret,omitempty"`
	// RedirectURIs must be https, or http on a loopback address; matched exactly.
	RedirectURIs []string `yaml:"redirectURIs,omitempty" json:"redirectURIs,omitempty"`
	// GrantTypes default to authorization_code and refresh_token (plus client_credentials
	// with a secret).
	GrantTypes []string `yaml:"grantTypes,omitempty" json:"grantTypes,omitempty" jsonschema:"enum=authorization_code,enum=refresh_token,enum=client_credentials,enum=urn:ietf:params:oauth:grant-type:device_code,enum=urn:ietf:params:oauth:grant-type:token-exchange,enum=urn:ietf:params:oauth:grant-type:jwt-bearer"`
	// Scopes limits what the client may request. Empty: any scope the server accepts.
	Scopes []string `yaml:"scopes,omitempty" json:"scopes,omitempty"`
	// Trusted skips the consent page.
	Trusted bool `yaml:"trusted,omitempty" json:"trusted,omitempty"`
}

// AuthServerRegistration configures dynamic client registration.
type AuthServerRegistration struct {
	// Policy is open (default: anyone may register https or loopback redirect URIs),
	// allowedHosts (only redirect URIs on allowedHosts, plus loopback) or off.
	Policy string `yaml:"policy,omitempty" json:"policy,omitempty" jsonschema:"enum=open,enum=allowedHosts,enum=off"`
	// AllowedHosts are the redirect hosts allowed with policy allowedHosts.
	AllowedHosts []string `yaml:"allowedHosts,omitempty" json:"allowedHosts,omitempty"`
	// ClientLifetime expires registered clients after this long. Default: never.
	ClientLifetime Duration `yaml:"clientLifetime,omitempty" json:"clientLifetime,omitempty"`
	// MaxPerIPPerHour limits registrations from one client IP. Default 30.
	MaxPerIPPerHour int `yaml:"maxPerIPPerHour,omitempty" json:"maxPerIPPerHour,omitempty"`
	// MaxPerLoopbackPerHour limits registrations from a loopback address (the developer's
	// own machine, every sign-in of a local client may register anew). Default 1000; -1
	// means no limit.
	MaxPerLoopbackPerHour int `yaml:"maxPerLoopbackPerHour,omitempty" json:"maxPerLoopbackPerHour,omitempty"`
}

// AuthServerCIMD configures client ID metadata documents.
type AuthServerCIMD struct {
	// Disabled turns them off.
	Disabled bool `yaml:"disabled,omitempty" json:"disabled,omitempty"`
	// AllowPrivateAddresses allows fetching from loopback/private addresses and over http.
	// For local development only (it disables the SSRF guard).
	AllowPrivateAddresses bool `yaml:"allowPrivateAddresses,omitempty" json:"allowPrivateAddresses,omitempty"`
	// MaxSize of a document. Default 64KiB.
	MaxSize ByteSize `yaml:"maxSize,omitempty" json:"maxSize,omitempty"`
	// Timeout of a fetch. Default 5s.
	Timeout Duration `yaml:"timeout,omitempty" json:"timeout,omitempty"`
	// CacheTTL is how long a fetched document is used. Default 10m.
	CacheTTL Duration `yaml:"cacheTTL,omitempty" json:"cacheTTL,omitempty"`
}

// AuthServerUser is a local user defined in the config file.
type AuthServerUser struct {
	// Username signs in (case-insensitive). The token subject is config:<username>.
	Username string `yaml:"username" json:"username"`
	// PasswordHash is an argon2id ($argon2id$...) or bcrypt ($2b$...) hash; make one with
	// `mcpgate users hash`. Never a plain password.
	PasswordHash string   `yaml:"passwordHash" json:"passwordHash"`
	Email        string   `yaml:"email,omitempty" json:"email,omitempty"`
	Name         string   `yaml:"name,omitempty" json:"name,omitempty"`
	Groups       []string `yaml:"groups,omitempty" json:"groups,omitempty"`
}

// AuthServerLoginRateLimit limits failed sign-ins; a user or IP over the limit is locked
// until the window ends.
type AuthServerLoginRateLimit struct {
	// MaxFailuresPerUser within window. Default 5.
	MaxFailuresPerUser int `yaml:"maxFailuresPerUser,omitempty" json:"maxFailuresPerUser,omitempty"`
	// MaxFailuresPerIP within window. Default 20.
	MaxFailuresPerIP int `yaml:"maxFailuresPerIP,omitempty" json:"maxFailuresPerIP,omitempty"`
	// Window of the counters and length of a lockout. Default 15m.
	Window Duration `yaml:"window,omitempty" json:"window,omitempty"`
}

// authServerPaths are the paths the authorization server serves (routes must avoid them).
var authServerPaths = []string{"/authorize", "/token", "/register", "/jwks", "/userinfo", "/introspect", "/revoke",
	"/end_session", "/device_authorization", "/device", "/login", "/login/", "/consent", "/authserver/",
	"/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"}

func init() { extensionValidators = append(extensionValidators, validateAuthServer) }

func validateAuthServer(c *Config, p *Problems) {
	a := c.AuthServer
	if a == nil {
		return
	}
	issuer := a.Issuer
	if issuer == "" {
		issuer = c.PublicURL
	}
	if issuer == "" {
		p.Add("authServer.issuer", "is required (or set publicURL): it is the https URL clients reach mcpgate at, e.g. https://mcp.example.com")
	} else if u, err := url.Parse(issuer); err != nil || !u.IsAbs() || u.Host == "" {
		p.Add("authServer.issuer", "%q is not an absolute URL such as https://mcp.example.com", issuer)
	} else {
		if strings.Trim(u.Path, "/") != "" {
			p.Add("authServer.issuer", "%q must not have a path; the authorization server is served at the root", issuer)
		}
		if u.Scheme != "https" && !a.AllowInsecureHTTP {
			p.Add("authServer.issuer", "%q must be https; set authServer.allowInsecureHTTP: true only for local development", issuer)
		}
	}
	if b := a.Branding; b != nil && b.LogoURL != "" &&
		!(strings.HasPrefix(b.LogoURL, "/") && !strings.HasPrefix(b.LogoURL, "//")) && !strings.HasPrefix(b.LogoURL, "data:image/") {
		p.Add("authServer.branding.logoURL", "%q must be a path on this server (/logo.svg) or a data:image/ URL: the pages only load images from their own origin", b.LogoURL)
	}
	if a.AllowInsecureHTTP {
		p.Warn("authServer.allowInsecureHTTP", "is on: cookies are not Secure; use only for local development")
	}
	switch a.SigningAlgorithm {
	case "", "ES256", "RS256":
	default:
		p.Add("authServer.signingAlgorithm", "%q is not supported; use ES256 or RS256", a.SigningAlgorithm)
	}
	switch a.Registration.Policy {
	case "", "open", "off":
	case "allowedHosts":
		if len(a.Registration.AllowedHosts) == 0 {
			p.Add("authServer.registration.allowedHosts", "is empty: with policy allowedHosts list the redirect hosts clients may register (loopback is always allowed)")
		}
	default:
		p.Add("authServer.registration.policy", "%q is not one of open, allowedHosts, off", a.Registration.Policy)
	}
	if a.ClientMetadataDocuments.AllowPrivateAddresses {
		p.Warn("authServer.clientMetadataDocuments.allowPrivateAddresses", "is on: the SSRF guard is off; use only for local development")
	}
	ids := map[string]bool{}
	for i, cl := range a.Clients {
		path := "authServer.clients[" + strconv.Itoa(i) + "]"
		if cl.ID == "" {
			p.Add(path+".id", "is required")
		} else if ids[cl.ID] {
			p.Add(path+".id", "%q is defined twice", cl.ID)
		}
		ids[cl.ID] = true
		for j, r := range cl.RedirectURIs {
			if msg := checkRedirectURI(r); msg != "" {
				p.Add(path+".redirectURIs["+strconv.Itoa(j)+"]", "%s", msg)
			}
		}
		for j, g := range cl.GrantTypes {
			switch g {
			case "authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:device_code", "urn:ietf:params:oauth:grant-type:token-exchange":
			case "client_credentials", "urn:ietf:params:oauth:grant-type:jwt-bearer":
				if cl.Secret == "" {
					p.Add(path+".grantTypes["+strconv.Itoa(j)+"]", "%s needs a secret", g)
				}
			default:
				p.Add(path+".grantTypes["+strconv.Itoa(j)+"]", "%q is not supported", g)
			}
		}
		if (len(cl.GrantTypes) == 0 || slices.Contains(cl.GrantTypes, "authorization_code")) && len(cl.RedirectURIs) == 0 {
			p.Add(path+".redirectURIs", "is required for the authorization_code grant")
		}
	}
	names := map[string]bool{}
	for i, u := range a.Users {
		path := "authServer.users[" + strconv.Itoa(i) + "]"
		if u.Username == "" {
			p.Add(path+".username", "is required")
		}
		if names[strings.ToLower(u.Username)] {
			p.Add(path+".username", "%q is defined twice", u.Username)
		}
		names[strings.ToLower(u.Username)] = true
		if !strings.HasPrefix(u.PasswordHash, "$argon2id$") && !strings.HasPrefix(u.PasswordHash, "$2a$") && !strings.HasPrefix(u.PasswordHash, "$2b$") && !strings.HasPrefix(u.PasswordHash, "$2y$") {
			p.Add(path+".passwordHash", "must be an argon2id or bcrypt hash (make one with `mcpgate users hash`), never a plain password")
		}
	}
	for i, r := range c.Routes {
		for _, ap := range authServerPaths {
			if r.Path == strings.TrimSuffix(ap, "/") || (strings.HasSuffix(ap, "/") && strings.HasPrefix(r.Path, ap)) {
				p.Add("routes["+strconv.Itoa(i)+"].path", "%q collides with the authorization server's %s endpoint; choose another path", r.Path, ap)
			}
		}
	}
}

func checkRedirectURI(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" {
		return "is not an absolute URL"
	}
	if u.Fragment != "" {
		return "must not have a fragment"
	}
	loop := loopback.Host(u.Hostname())
	if u.Scheme != "https" && !(u.Scheme == "http" && loop) {
		return "must be https, or http on a loopback address"
	}
	return ""
}

// AuthServerBranding names the operator on the pages people see.
type AuthServerBranding struct {
	// Name replaces "mcpgate" in page headers and titles, e.g. "Contoso AI gateway".
	Name string `yaml:"name,omitempty" json:"name,omitempty"`
	// LogoURL is an image shown before the name: a path on this server or a data: URL
	// (the pages' Content-Security-Policy allows no other origin).
	LogoURL string `yaml:"logoURL,omitempty" json:"logoURL,omitempty"`
}
