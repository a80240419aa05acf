package gateway

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/mcpgate/mcpgate/internal/authn"
	"github.com/mcpgate/mcpgate/internal/httplimit"
	"github.com/mcpgate/mcpgate/internal/jsonlimit"
	"github.com/mcpgate/mcpgate/internal/mcpsession"
	"github.com/mcpgate/mcpgate/internal/secrets"
)

// AuthMode says what a route does with callers' tokens.
type AuthMode string

// Auth modes.
const (
	// ModeStrict requires a valid token (401 challenge otherwise). The default, and the
	// only mode that makes MCP clients start sign-in.
	ModeStrict AuthMode = "strict"
	// ModeOptional validates a token when one is sent (401/403 if it is bad) and lets
	// requests without a token through anonymously.
	ModeOptional AuthMode = "optional"
	// ModePermissive never rejects: a valid token's principal is passed on, anything else
	// goes through anonymously.
	ModePermissive AuthMode = "permissive"
)

// Options configure a Server. Zero values mean the documented defaults.
type Options struct {
	// Routes, at least one. Paths must be unique.
	Routes []RouteOptions
	// PublicURL is the canonical external base URL (scheme://host[:port]). When empty the
	// base is derived from each request (X-Forwarded-Proto/Host only from TrustedProxies).
	PublicURL string
	// TrustedProxies are the peers whose X-Forwarded-* headers are believed.
	TrustedProxies []netip.Prefix
	// AllowedHosts are Host header values accepted on a loopback listener besides
	// localhost names, loopback IPs and PublicURL's host (DNS rebinding protection).
	AllowedHosts []string
	// TLSCertFile and TLSKeyFile make Serve terminate TLS.
	TLSCertFile, TLSKeyFile string
	// TLSConfig, when set, is used as the base TLS configuration.
	TLSConfig *tls.Config
	// ShutdownTimeout bounds how long Serve drains in-flight requests and streams when
	// its context ends. Default 30s.
	ShutdownTimeout time.Duration
	// ReadHeaderTimeout bounds reading request headers. Default 10s. (There is no write
	// timeout: streams may stay open and idle for as long as the client wants.)
	ReadHeaderTimeout time.Duration
	// IdleTimeout closes idle keep-alive connections. Default 120s.
	IdleTimeout time.Duration
	// Logger receives the access log and errors (nil = discard).
	Logger *slog.Logger
	// Fallback, when set, serves every path the gateway does not own (for example the
	// authorization server's endpoints).
	Fallback http.Handler
	// Sessions records which principal owns each MCP session, for every route (nil: in
	// this process, bindings idle for mcpsession.DefaultIdleTimeout expire). Replicas
	// behind one load balancer share a mcpsession.Redis.
	Sessions mcpsession.Store
	// Body bounds how slowly a request body may arrive (httplimit).
	Body httplimit.BodyOptions
	// Observer is told about every route's finished requests, after the route's own
	// Observer (metrics). Nil = nobody.
	Observer Observer
	// TracerProvider, when set, traces every request (trace.go). Nil = no tracing.
	TracerProvider trace.TracerProvider
	// DisableSSERelay sends every SSE stream through the net/http path. By default idle
	// HTTP/1.1 GET streams are relayed outside net/http (relay.go), at about 7 KB per
	// stream instead of 57 KB; this is the operator's escape hatch (`mcpgate serve` reads
	// MCPGATE_SSE_RELAY=off).
	DisableSSERelay bool
	// RequestStateKeys seal the requestState of the input-required results the gateway
	// itself answers on 2026-07-28 (requeststate.go): every replica behind one balancer
	// needs the same keys, as for stored tokens. Nil: a random key of this process, so a
	// client's retry must reach the same replica.
	RequestStateKeys *secrets.Keyring
	// RequestStateTTL is how long such a requestState stays valid: the time a user has to
	// finish what was asked (connect an account) before the client retries. Default 15m.
	RequestStateTTL time.Duration
	// InputWait is how long a retry whose user accepted the gateway's input request waits
	// for it to be done (the account connected) before being asked again: clients retry as
	// soon as the browser opened, and 2026-07-28 lets the server hold the retry until the
	// interaction completes. Checked every 2s. Default 30s; negative: no wait.
	InputWait time.Duration
}

// RouteOptions configure one route.
type RouteOptions struct {
	// Name identifies the route in logs, errors and audit.
	Name string
	// Path is the public path of the MCP endpoint, e.g. /weather/mcp.
	Path string
	// Upstream is the upstream MCP endpoint URL (http or https).
	Upstream string
	// ConnectTimeout bounds dialing the upstream. Default 5s.
	ConnectTimeout time.Duration
	// ResponseTimeout bounds the wait for the upstream's response headers. Default 60s.
	ResponseTimeout time.Duration
	// StreamIdleTimeout ends a response stream on which nothing arrived for this long.
	// Default 0: never (long-lived streams survive idle periods).
	StreamIdleTimeout time.Duration
	// InsecureSkipVerify disables TLS verification of the upstream.
	InsecureSkipVerify bool
	// H2C speaks HTTP/2 without TLS ("prior knowledge") to an http:// upstream, so that all
	// requests and streams share a few connections. The upstream must support it. (https
	// upstreams negotiate HTTP/2 by themselves.)
	H2C bool
	// Transport overrides the upstream transport (tests, custom TLS).
	Transport http.RoundTripper
	// Handler, when set, is the route's upstream, served in this process instead of over
	// the network (an aggregating route's virtual server). Every step before the upstream
	// (authentication, policy, sessions, audit) is unchanged; the request the handler gets
	// carries the caller (CallerFromContext). Upstream may then be empty.
	Handler http.Handler
	// MaxRequestBytes bounds a request body. Default 4 MiB.
	MaxRequestBytes int64
	// JSONLimits bound the nesting depth and number of values of a request body (zero
	// fields: jsonlimit's defaults, 64 levels and 100,000 values). A body over them is
	// refused with 400 and a JSON-RPC parse error naming the limit.
	JSONLimits jsonlimit.Limits
	// MaxSessionsPerUser caps the live MCP sessions one user holds on the route (an
	// initialize over it gets 429). Default 100.
	MaxSessionsPerUser int
	// MaxStreamsPerUser and MaxStreams cap the open GET streams of one user and of the
	// whole route, per gateway process (429 over them). Defaults 32 and 10,000.
	MaxStreamsPerUser, MaxStreams int
	// ListTTL caps the ttlMs of the list results the interceptor filters or rewrites
	// (they are also marked cacheScope "private"): a policy change reaches clients'
	// caches within this time. Default 60s.
	ListTTL time.Duration
	// PassCookies lets the upstream's Set-Cookie headers reach the client, scoped to the
	// route's path. Off by default: the gateway's origin also serves the sign-in pages,
	// whose cookies an upstream must not be able to set or shadow.
	PassCookies bool

	// Mode is the auth mode. Default strict.
	Mode AuthMode
	// Verifier checks bearer tokens. Required unless Mode is permissive (a permissive route
	// without a verifier treats every caller as anonymous).
	Verifier authn.Verifier
	// Scopes every token must carry (403 insufficient_scope otherwise).
	Scopes []string
	// RequestScopes are the scopes the challenge tells a client to request. Default Scopes.
	// They differ from Scopes for Entra, where the token's scp is bare (mcp_access) but the
	// client must request the qualified name (api://app/mcp_access).
	RequestScopes []string
	// ScopePrefix qualifies the bare scopes a token already holds when a 403 challenge asks
	// for them again beside RequestScopes (the App ID URI for Entra; empty: as granted).
	ScopePrefix string
	// ScopesSupported is published in the metadata. Default RequestScopes.
	ScopesSupported []string
	// AuthorizationServers are published in the metadata (issuer URLs).
	AuthorizationServers []string
	// ResourceName is published as resource_name. Default Name.
	ResourceName string

	// Passthrough forwards the caller's Authorization header upstream (forbidden by the
	// MCP specification; for upstreams that cannot be changed).
	Passthrough bool
	// Identity names headers set upstream from the verified principal.
	Identity IdentityHeaders
	// Credentials supplies the upstream credential (nil = none).
	Credentials UpstreamCredentials

	// CORS enables cross-origin access for browser clients (nil = no CORS headers).
	CORS *CORSOptions
	// AllowedOrigins are Origins accepted besides the gateway's own; "*" accepts any.
	AllowedOrigins []string

	// Interceptor sees each request before the upstream and may refuse it or rewrite
	// responses (policy, tool filtering). Nil = allow everything.
	Interceptor Interceptor
	// Observer is told about each finished request (audit). Nil = nobody.
	Observer Observer
}

// IdentityHeaders name the upstream request headers carrying the verified identity. An
// empty name disables that header. Incoming headers with these names are always removed
// first, so clients cannot spoof them.
type IdentityHeaders struct {
	Subject, Email, Name, Groups, ClientID string
}

func (h IdentityHeaders) names() []string {
	var out []string
	for _, n := range []string{h.Subject, h.Email, h.Name, h.Groups, h.ClientID} {
		if n != "" {
			out = append(out, http.CanonicalHeaderKey(n))
		}
	}
	return out
}

// CORSOptions configure cross-origin access.
type CORSOptions struct {
	// AllowOrigins lists allowed origins ("*" for any).
	AllowOrigins []string
	// AllowHeaders adds request headers beyond the MCP defaults.
	AllowHeaders []string
	// MaxAge caches preflight results. Default 10m.
	MaxAge time.Duration
}

// UpstreamCredentials supplies the credential mcpgate presents to a route's upstream on
// behalf of a principal (token exchange, OBO, client credentials, static secret...).
// It returns headers to set on the upstream request (typically Authorization). A non-nil
// error fails the request with 502 naming the route; the error text is logged, not sent.
type UpstreamCredentials interface {
	UpstreamHeaders(ctx context.Context, p *authn.Principal, r *http.Request) (http.Header, error)
}

// UpstreamChallenger is an optional ability of UpstreamCredentials: told that the
// upstream refused the credential with HTTP 401 or 403 and a WWW-Authenticate challenge
// (say insufficient_scope), it returns what to answer instead — a CredentialError such
// as a prompt to connect the account again with more scopes — or nil to pass the
// upstream's answer on.
type UpstreamChallenger interface {
	UpstreamChallenge(ctx context.Context, p *authn.Principal, r *http.Request, status int, wwwAuthenticate string) error
}

// UpstreamCredentialsFunc adapts a function to UpstreamCredentials.
type UpstreamCredentialsFunc func(ctx context.Context, p *authn.Principal, r *http.Request) (http.Header, error)

// UpstreamHeaders calls f.
func (f UpstreamCredentialsFunc) UpstreamHeaders(ctx context.Context, p *authn.Principal, r *http.Request) (http.Header, error) {
	return f(ctx, p, r)
}

// canonicalURL lower-cases scheme and host, drops default ports and a trailing slash.
func canonicalURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", err
	}
	if u.Scheme != "http" && u.Scheme != "https" && !strings.EqualFold(u.Scheme, "http") && !strings.EqualFold(u.Scheme, "https") {
		return "", fmt.Errorf("%q is not an http(s) URL", raw)
	}
	if u.Host == "" {
		return "", fmt.Errorf("%q has no host", raw)
	}
	u.Scheme = strings.ToLower(u.Scheme)
	u.Host = canonicalHost(u.Scheme, u.Host)
	u.Fragment, u.RawFragment = "", ""
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u.String(), nil
}

func canonicalHost(scheme, host string) string {
	host = strings.ToLower(host)
	switch {
	case scheme == "https" && strings.HasSuffix(host, ":443"):
		host = strings.TrimSuffix(host, ":443")
	case scheme == "http" && strings.HasSuffix(host, ":80"):
		host = strings.TrimSuffix(host, ":80")
	}
	return host
}
