package upstream

import (
	"time"

	"github.com/mcpgate/mcpgate/internal/secrets"
)

// Options are what Build needs to know of every route's upstream credential. Defaults
// are the caller's to fill in (internal/app maps the configuration, with its defaults).
type Options struct {
	// PublicURL is mcpgate's external base URL: connect pages live under it, and it is the
	// gatewayJWT issuer unless Signer names another.
	PublicURL string
	// ConnectionsPath is where the connection pages are served.
	ConnectionsPath string
	// JWKSPath is where the gatewayJWT key set is served.
	JWKSPath string
	// CacheMaxEntries bounds the in-memory exchanged-token cache (0: NewMemoryCache's
	// default). Unused when BuildOptions.Cache is set.
	CacheMaxEntries int
	// CacheSkew stops using an exchanged token this long before it expires (0: the
	// default).
	CacheSkew time.Duration
	// RefreshSkew refreshes a connection's token this long before it expires.
	RefreshSkew time.Duration
	// Secrets says where the keys that seal stored tokens come from, when
	// BuildOptions.Keys is nil.
	Secrets secrets.Source
	// Signer configures the gatewayJWT signer (nil: PublicURL as issuer, an ephemeral key).
	Signer *SignerOptions
	// Connections are the third-party OAuth apps users link accounts with.
	Connections []OAuthApp
	// Routes are the routes that send a credential upstream.
	Routes []RouteAuth
}

// SignerOptions configure the gatewayJWT signer.
type SignerOptions struct {
	// Issuer of the JWTs ("" = Options.PublicURL).
	Issuer string
	// KeyFiles are PEM signing keys, the first one signing (none: an ephemeral key).
	KeyFiles []string
}

// RouteAuth is how one route obtains its upstream credential. The first mode set, in
// the order of the fields, applies.
type RouteAuth struct {
	// Route is the route's name.
	Route string
	// Mode names the mode for audit and Set.Mode ("obo", "tokenExchange", ...).
	Mode string
	// UpstreamURL is the route's upstream (the default gatewayJWT audience).
	UpstreamURL       string
	Passthrough       bool
	OBO               *OBOAuth
	TokenExchange     *TokenExchangeAuth
	ClientCredentials *ClientCredentialsAuth
	GatewayJWT        *GatewayJWTAuth
	Static            *StaticConfig
	// Connection names one of Options.Connections.
	Connection string
}

// ClientCertificate is a certificate credential (private_key_jwt with x5t).
type ClientCertificate struct {
	CertFile, KeyFile, Algorithm string
}

// OBOAuth is an Entra On-Behalf-Of exchange.
type OBOAuth struct {
	TokenURL     string
	ClientID     string
	ClientSecret string
	Certificate  *ClientCertificate
	// Scope is space-separated.
	Scope string
}

// TokenExchangeAuth is an RFC 8693 token exchange.
type TokenExchangeAuth struct {
	TokenURL         string
	ClientID         string
	ClientSecret     string
	ClientAuthMethod string // default client_secret_basic
	Audience         string
	Resource         []string
	Scopes           []string
	SubjectTokenType string
	// RequestedTokenType is asked for ("" = the server's choice).
	RequestedTokenType string
	// ActorToken is "clientCredentials", "gatewayJWT" or "" (none).
	ActorToken string
}

// ClientCredentialsAuth is the gateway's own app identity (RFC 6749 §4.4).
type ClientCredentialsAuth struct {
	TokenURL         string
	ClientID         string
	ClientSecret     string
	Certificate      *ClientCertificate
	ClientAuthMethod string // default client_secret_basic
	Scopes           []string
	Resource         []string
}

// GatewayJWTAuth is a JWT signed by mcpgate stating the user.
type GatewayJWTAuth struct {
	// Audience ("" = the route's upstream URL).
	Audience string
	Lifetime time.Duration
	Header   string
}
