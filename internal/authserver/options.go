package authserver

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/mcpgate/mcpgate/internal/store"
)

// Paths served by Handler. They never collide with MCP route paths as long as no route
// is mounted on one of them (config validation checks this).
const (
	PathAuthorize           = "/authorize"
	PathAuthorizeCallback   = "/authorize/callback"
	PathToken               = "/token"
	PathRegister            = "/register"
	PathJWKS                = "/jwks"
	PathUserinfo            = "/userinfo"
	PathIntrospect          = "/introspect"
	PathRevoke              = "/revoke"
	PathEndSession          = "/end_session"
	PathDeviceAuthorization = "/device_authorization"
	PathDevice              = "/device"
	PathLogin               = "/login"
	PathConsent             = "/consent"
	// PathFederatedLogin starts a sign-in at a RedirectConnector; PathFederatedCallback is
	// the redirect URI registered at the upstream identity provider.
	PathFederatedLogin    = "/login/federated"
	PathFederatedCallback = "/login/callback"
	// PathBackchannelLogout receives OpenID Connect Back-Channel Logout tokens from the
	// upstream identity providers (register {issuer}/login/backchannel-logout there).
	PathBackchannelLogout = "/login/backchannel-logout"
	// PathSignedOut is where the browser lands after signing out, also coming back from an
	// identity provider's end-session endpoint (register {issuer}/login/signed-out there as
	// a post-logout redirect URI).
	PathSignedOut     = "/login/signed-out"
	PathStatic        = "/authserver/static/"
	PathOAuthMetadata = "/.well-known/oauth-authorization-server"
	PathOIDCDiscovery = "/.well-known/openid-configuration"
)

// Paths lists every path prefix Handler answers, for the caller's route-collision check.
var Paths = []string{PathAuthorize, PathAuthorizeCallback, PathToken, PathRegister, PathJWKS, PathUserinfo,
	PathIntrospect, PathRevoke, PathEndSession, PathDeviceAuthorization, PathDevice, PathLogin, PathConsent,
	PathFederatedLogin, PathFederatedCallback, PathBackchannelLogout, PathSignedOut, PathStatic, PathOAuthMetadata, PathOIDCDiscovery}

// Registration policies for dynamic client registration (RFC 7591).
const (
	RegistrationOpen         = "open"         // anyone may register (redirect URIs must be https or loopback)
	RegistrationAllowedHosts = "allowedHosts" // only redirect URIs on RegistrationAllowedHosts (loopback always allowed)
	RegistrationOff          = "off"          // no registration endpoint
)

// Options configure a Server. Zero values get the documented defaults.
type Options struct {
	// Issuer is the issuer URL (scheme://host[:port], no path). Required.
	Issuer string
	// Store persists everything. Required.
	Store store.Store
	// Observer is told about sign-ins and token responses (metrics). Nil = nobody.
	Observer Observer
	// Logger; nil discards.
	Logger *slog.Logger
	// Resources returns the resource URLs (MCP route URLs) the gateway serves; access
	// tokens can only be issued for these (RFC 8707). Called on every request.
	Resources func() []string
	// Scopes the server advertises and accepts besides openid, profile, email,
	// offline_access. Default: none.
	Scopes []string
	// SigningAlgorithm is ES256 (default) or RS256.
	SigningAlgorithm string
	// KeyRotation is how long a key signs (default 30 days); KeyOverlap is how long a new
	// key is published before it signs and an old one kept after (default 1 hour).
	KeyRotation, KeyOverlap time.Duration
	// AccessTokenLifetime (default 1h), RefreshTokenLifetime (default 30 days),
	// AuthRequestLifetime (default 10m), DeviceCodeLifetime (default 10m),
	// ConsentLifetime (default 0 = never expires), SessionLifetime (default 12h),
	// DynamicClientLifetime (default 0 = never expires).
	AccessTokenLifetime, RefreshTokenLifetime, AuthRequestLifetime, DeviceCodeLifetime time.Duration
	ConsentLifetime, SessionLifetime, DynamicClientLifetime                            time.Duration
	// Clients are static clients (from the config file), upserted on start.
	Clients []StaticClient
	// Registration is the DCR policy: open (default), allowedHosts or off.
	Registration string
	// RegistrationAllowedHosts: redirect hosts allowed under the allowedHosts policy.
	RegistrationAllowedHosts []string
	// RegistrationsPerIPPerHour limits dynamic registrations per client IP (default 30).
	RegistrationsPerIPPerHour int
	// RegistrationsPerLoopbackPerHour limits dynamic registrations from a loopback client
	// address (default 1000; negative: no limit). A developer's local demo registers a new
	// client on many sign-ins (each CLI, IDE, inspector run), so the per-IP limit, kept in
	// the store across restarts, would lock them out of their own server; a loopback caller
	// is the machine's own user, not an anonymous one.
	RegistrationsPerLoopbackPerHour int
	// CIMD configures client ID metadata documents.
	CIMD CIMDOptions
	// Users are users from the config file (merged with the store's users; config wins).
	Users []ConfigUser
	// TrustedClients skip the consent page (client IDs, including CIMD URLs).
	TrustedClients []string
	// LoginRateLimit: at most MaxFailures failed logins per user and per IP within Window
	// (defaults 5 per user, 20 per IP, 15 minutes); then the user or IP is locked until the
	// window ends.
	LoginRateLimit LoginRateLimit
	// AllowInsecureHTTP permits an http:// issuer (development, tests). Cookies are
	// Secure only when the issuer is https.
	AllowInsecureHTTP bool
	// Connectors authenticate users on the login page. Default: the local connector over
	// Store and Users.
	Connectors []Connector
	// RevocationPollInterval is how often the in-memory access-token revocation list is
	// brought up to date from the store (default 5s): a revocation stored by another
	// replica is enforced here at most this long after it was stored, or at once when the
	// replicas share Redis (RunRevocationSync).
	RevocationPollInterval time.Duration
	// Now is the clock (tests). Default time.Now.
	Now func() time.Time
	// HTTPClient fetches client metadata documents. Default: an SSRF-guarded client.
	HTTPClient *http.Client
	// EnterpriseIdPs are trusted to issue ID-JAGs (enterprise-managed authorization, idjag.go).
	EnterpriseIdPs []EnterpriseIdP
	// IDJAG, when set, makes this server an enterprise IdP that issues ID-JAGs.
	IDJAG *IDJAGIssuance
}

// StaticClient is a client defined in the configuration.
type StaticClient struct {
	ID   string
	Name string
	// Secret makes the client confidential (client_secret_basic or client_secret_post).
	Secret       string
	RedirectURIs []string
	// GrantTypes default to authorization_code + refresh_token (+ client_credentials for
	// confidential clients).
	GrantTypes []string
	Scopes     []string
	Trusted    bool
}

// ConfigUser is a user defined in the configuration.
type ConfigUser struct {
	Username     string
	Email        string
	Name         string
	PasswordHash string
	Groups       []string
}

// CIMDOptions configure client ID metadata documents.
type CIMDOptions struct {
	// Disabled turns CIMD off.
	Disabled bool
	// AllowPrivateAddresses lets documents be fetched from loopback/private addresses
	// and over http (development only).
	AllowPrivateAddresses bool
	// MaxBytes (default 64 KiB), Timeout (default 5s), CacheTTL (default 10m).
	MaxBytes int64
	Timeout  time.Duration
	CacheTTL time.Duration
}

// LoginRateLimit limits failed logins.
type LoginRateLimit struct {
	MaxFailuresPerUser int
	MaxFailuresPerIP   int
	Window             time.Duration
}

func (o *Options) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&o.KeyRotation, 30*24*time.Hour)
	def(&o.KeyOverlap, time.Hour)
	def(&o.AccessTokenLifetime, time.Hour)
	def(&o.RefreshTokenLifetime, 30*24*time.Hour)
	def(&o.AuthRequestLifetime, 10*time.Minute)
	def(&o.DeviceCodeLifetime, 10*time.Minute)
	def(&o.SessionLifetime, 12*time.Hour)
	def(&o.CIMD.Timeout, 5*time.Second)
	def(&o.CIMD.CacheTTL, 10*time.Minute)
	def(&o.LoginRateLimit.Window, 15*time.Minute)
	def(&o.RevocationPollInterval, DefaultRevocationPollInterval)
	if o.CIMD.MaxBytes == 0 {
		o.CIMD.MaxBytes = 64 << 10
	}
	if o.LoginRateLimit.MaxFailuresPerUser == 0 {
		o.LoginRateLimit.MaxFailuresPerUser = 5
	}
	if o.LoginRateLimit.MaxFailuresPerIP == 0 {
		o.LoginRateLimit.MaxFailuresPerIP = 20
	}
	if o.RegistrationsPerIPPerHour == 0 {
		o.RegistrationsPerIPPerHour = 30
	}
	if o.RegistrationsPerLoopbackPerHour == 0 {
		o.RegistrationsPerLoopbackPerHour = 1000
	}
	if o.SigningAlgorithm == "" {
		o.SigningAlgorithm = "ES256"
	}
	if o.Registration == "" {
		o.Registration = RegistrationOpen
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Observer is told what the authorization server did, for metrics. Results are short
// identifiers (ok, wrong_password, locked, refused, failed, error...); connector is
// "local" or a connector id; grant types are the form's grant_type, shortened.
type Observer interface {
	SignIn(connector, result string)
	TokenResponse(grantType string, status int)
}

// observe returns the server's observer, or one that does nothing.
func (s *Server) observe() Observer {
	if s.opts.Observer == nil {
		return nopObserver{}
	}
	return s.opts.Observer
}

type nopObserver struct{}

func (nopObserver) SignIn(string, string)     {}
func (nopObserver) TokenResponse(string, int) {}
