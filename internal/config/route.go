package config

import "strings"

// Route maps a public path to an upstream MCP server over Streamable HTTP.
type Route struct {
	// Name identifies the route in logs, audit events and error messages.
	Name string `yaml:"name" json:"name"`
	// Path is the public path of the MCP endpoint, e.g. /weather/mcp.
	Path string `yaml:"path" json:"path"`
	// Upstream is the MCP server behind the route. Give this or upstreams.
	Upstream Upstream `yaml:"upstream,omitempty" json:"upstream,omitempty"`
	// Upstreams make the route a virtual server: one endpoint that gathers the tools,
	// prompts and resources of several MCP servers (HTTP or stdio), each under its own
	// prefix or renames and with its own upstreamAuth (see docs/virtual-servers.md).
	// Instead of upstream and upstreamAuth.
	Upstreams []AggregatedUpstream `yaml:"upstreams,omitempty" json:"upstreams,omitempty"`
	// UpstreamsIdleTimeout closes a user's sessions with the upstreams (and stops their
	// stdio processes) after this long without a request. Default 10m.
	UpstreamsIdleTimeout Duration `yaml:"upstreamsIdleTimeout,omitempty" json:"upstreamsIdleTimeout,omitempty"`
	// Auth says which tokens the route accepts and which scopes they need.
	Auth Auth `yaml:"auth,omitempty" json:"auth,omitempty"`
	// UpstreamAuth says how mcpgate obtains the credential it sends upstream. Default: none
	// (the caller's token is stripped and nothing is sent).
	UpstreamAuth *UpstreamAuth `yaml:"upstreamAuth,omitempty" json:"upstreamAuth,omitempty"`
	// ForwardIdentity names request headers that carry the verified identity upstream.
	ForwardIdentity *ForwardIdentity `yaml:"forwardIdentity,omitempty" json:"forwardIdentity,omitempty"`
	// CORS lets browser-based MCP clients call the route from other origins.
	CORS *CORS `yaml:"cors,omitempty" json:"cors,omitempty"`
	// AllowedOrigins are the browser Origins accepted besides the gateway's own (DNS
	// rebinding protection: any other Origin gets 403). "*" accepts any.
	AllowedOrigins []string `yaml:"allowedOrigins,omitempty" json:"allowedOrigins,omitempty"`
	// Limits bound request sizes and stream idle time.
	Limits Limits `yaml:"limits,omitempty" json:"limits,omitempty"`
	// Policy rules for this route (see docs/policy.md).
	Policy *RoutePolicy `yaml:"policy,omitempty" json:"policy,omitempty"`
	// Tools trims, renames and re-describes the upstream's tools.
	Tools *ToolFilter `yaml:"tools,omitempty" json:"tools,omitempty"`
	// RateLimit limits requests per user and per route.
	RateLimit *RateLimit `yaml:"rateLimit,omitempty" json:"rateLimit,omitempty"`
	// AuditArguments records tool arguments in audit events (with redactFields removed).
	AuditArguments *AuditArguments `yaml:"auditArguments,omitempty" json:"auditArguments,omitempty"`
}

// Upstream is the MCP server behind a route.
type Upstream struct {
	// URL of the upstream MCP endpoint (http or https).
	URL string `yaml:"url" json:"url"`
	// ConnectTimeout bounds dialing the upstream. Default 5s.
	ConnectTimeout Duration `yaml:"connectTimeout,omitempty" json:"connectTimeout,omitempty"`
	// ResponseTimeout bounds the wait for the upstream's response headers. Default 60s.
	ResponseTimeout Duration `yaml:"responseTimeout,omitempty" json:"responseTimeout,omitempty"`
	// InsecureSkipVerify disables TLS verification of the upstream (development only).
	InsecureSkipVerify bool `yaml:"insecureSkipVerify,omitempty" json:"insecureSkipVerify,omitempty"`
	// H2C speaks HTTP/2 without TLS (prior knowledge) to an http:// upstream that supports
	// it, so that all requests and streams share a few connections (less memory per idle
	// stream, fewer file descriptors). https upstreams negotiate HTTP/2 by themselves.
	H2C bool `yaml:"h2c,omitempty" json:"h2c,omitempty"`
	// PassCookies lets the upstream's Set-Cookie headers reach clients, each scoped to
	// the route's path, without Domain, and never a __Host- cookie or one named like
	// mcpgate's own. Off by default: the gateway's origin also serves the sign-in pages.
	PassCookies bool `yaml:"passCookies,omitempty" json:"passCookies,omitempty"`
}

// Auth says how callers of a route are authenticated.
type Auth struct {
	// Mode is strict (default: a valid token is required), optional (validated when
	// present; requests without a token pass anonymously) or permissive (never rejects;
	// claims are passed on when valid). Only strict makes MCP clients start sign-in.
	Mode string `yaml:"mode,omitempty" json:"mode,omitempty" jsonschema:"enum=strict,enum=optional,enum=permissive"`
	// Issuers names entries of the top-level issuers list. Empty with an authServer
	// configured means mcpgate's own authorization server.
	Issuers []string `yaml:"issuers,omitempty" json:"issuers,omitempty"`
	// Audiences accepted in the token's aud. Default: the route's resource URL (and, for
	// issuers with their own audiences, those).
	Audiences []string `yaml:"audiences,omitempty" json:"audiences,omitempty"`
	// Scopes every token must carry (403 insufficient_scope otherwise).
	Scopes []string `yaml:"scopes,omitempty" json:"scopes,omitempty"`
	// ScopesSupported is published in the protected resource metadata. Default:
	// requestScopes.
	ScopesSupported []string `yaml:"scopesSupported,omitempty" json:"scopesSupported,omitempty"`
	// RequestScopes are the scopes a client is told to request, in the 401/403 challenge's
	// scope (and, by default, scopes_supported), as opposed to scopes, the values the token
	// must carry. Default: scopes; for an Entra issuer (the entra: preset, or a plain
	// sts.windows.net / login.microsoftonline.com issuer) each bare name qualified with the
	// API's App ID URI (appIdUri, else clientId, else an api:// audience), because Entra
	// writes scp bare (mcp_access) but resolves a bare requested scope against Microsoft
	// Graph (AADSTS650053): scopes [mcp_access] gives requestScopes [api://…/mcp_access].
	RequestScopes []string `yaml:"requestScopes,omitempty" json:"requestScopes,omitempty"`
	// AuthorizationServers published in the protected resource metadata. Default: the
	// route's issuers (or mcpgate's own authorization server).
	AuthorizationServers []string `yaml:"authorizationServers,omitempty" json:"authorizationServers,omitempty"`
}

// ForwardIdentity names headers set on the upstream request from the verified principal.
type ForwardIdentity struct {
	// Subject names the header for the user's subject (sub).
	Subject string `yaml:"subject,omitempty" json:"subject,omitempty"`
	// Email names the header for the user's email.
	Email string `yaml:"email,omitempty" json:"email,omitempty"`
	// Name names the header for the user's display name.
	Name string `yaml:"name,omitempty" json:"name,omitempty"`
	// Groups names the header for the user's groups (comma-separated).
	Groups string `yaml:"groups,omitempty" json:"groups,omitempty"`
	// ClientID names the header for the OAuth client id.
	ClientID string `yaml:"clientId,omitempty" json:"clientId,omitempty"`
}

// CORS configures cross-origin access for browser-based MCP clients.
type CORS struct {
	// AllowOrigins lists allowed origins ("*" for any).
	AllowOrigins []string `yaml:"allowOrigins" json:"allowOrigins"`
	// AllowHeaders adds request headers beyond the MCP defaults.
	AllowHeaders []string `yaml:"allowHeaders,omitempty" json:"allowHeaders,omitempty"`
	// MaxAge caches preflight results. Default 10m.
	MaxAge Duration `yaml:"maxAge,omitempty" json:"maxAge,omitempty"`
}

// ServerLimits bound every request on the listener.
type ServerLimits struct {
	// BodyReadTimeout is the time any request body may take to arrive before
	// bodyMinRate counts (on every path: MCP routes, the authorization server, the
	// Entra profile). A body sent slower is cut with 408. Default 10s.
	BodyReadTimeout Duration `yaml:"bodyReadTimeout,omitempty" json:"bodyReadTimeout,omitempty"`
	// BodyMinRate is the lowest average rate, in bytes per second, a request body must
	// keep after bodyReadTimeout. Default 1KiB.
	BodyMinRate ByteSize `yaml:"bodyMinRate,omitempty" json:"bodyMinRate,omitempty"`
	// SessionIdleTimeout ends the gateway's record of an MCP session nobody used for this
	// long; the client then gets 404 and starts a new session. Default 8h.
	SessionIdleTimeout Duration `yaml:"sessionIdleTimeout,omitempty" json:"sessionIdleTimeout,omitempty"`
}

// Limits bounds requests on a route.
type Limits struct {
	// MaxRequestBytes bounds a request body. Default 4MiB.
	MaxRequestBytes ByteSize `yaml:"maxRequestBytes,omitempty" json:"maxRequestBytes,omitempty"`
	// MaxJSONDepth bounds how deeply a request body's JSON nests (objects and arrays).
	// Deeper bodies are refused with 400 and a JSON-RPC parse error. Default 64.
	MaxJSONDepth int `yaml:"maxJSONDepth,omitempty" json:"maxJSONDepth,omitempty"`
	// MaxJSONValues bounds the number of values (members and elements) in a request
	// body. Default 100000.
	MaxJSONValues int `yaml:"maxJSONValues,omitempty" json:"maxJSONValues,omitempty"`
	// MaxSessionsPerUser caps the MCP sessions one user (per client) holds open on the
	// route; an initialize over it gets 429. Default 100.
	MaxSessionsPerUser int `yaml:"maxSessionsPerUser,omitempty" json:"maxSessionsPerUser,omitempty"`
	// MaxStreamsPerUser caps the open GET (SSE) streams of one user on the route, per
	// replica (429 over it). Default 32.
	MaxStreamsPerUser int `yaml:"maxStreamsPerUser,omitempty" json:"maxStreamsPerUser,omitempty"`
	// MaxStreams caps the open GET (SSE) streams of the whole route, per replica.
	// Default 10000.
	MaxStreams int `yaml:"maxStreams,omitempty" json:"maxStreams,omitempty"`
	// StreamIdleTimeout closes an SSE stream with no event for this long. Default 0 (never):
	// long-lived streams survive idle periods.
	StreamIdleTimeout Duration `yaml:"streamIdleTimeout,omitempty" json:"streamIdleTimeout,omitempty"`
	// ListTTL is the longest time a client may cache a list result (tools, prompts,
	// resources, templates) that the route's policy or tools section filters: its ttlMs is
	// capped to this, and it is marked cacheScope "private". A policy change reaches
	// clients within this time. Default 60s.
	ListTTL Duration `yaml:"listTTL,omitempty" json:"listTTL,omitempty"`
}

// reservedIdentityHeaders cannot carry forwarded identity: the gateway or HTTP itself
// owns them.
var reservedIdentityHeaders = map[string]bool{
	"authorization": true, "host": true, "cookie": true, "content-type": true, "content-length": true,
	"mcp-session-id": true, "mcp-protocol-version": true, "last-event-id": true, "accept": true,
	"connection": true, "transfer-encoding": true, "origin": true, "x-forwarded-for": true,
	"x-forwarded-host": true, "x-forwarded-proto": true, "forwarded": true,
}

// validateGateway checks the route settings the gateway itself consumes.
func (r *Route) validateGateway(path string, p *Problems) {
	if r.Upstream.ConnectTimeout < 0 {
		p.Add(path+".upstream.connectTimeout", "must not be negative")
	}
	if r.Upstream.ResponseTimeout < 0 {
		p.Add(path+".upstream.responseTimeout", "must not be negative")
	}
	if r.Limits.ListTTL < 0 {
		p.Add(path+".limits.listTTL", "must not be negative (0 means the default, 60s)")
	}
	if r.Limits.StreamIdleTimeout < 0 {
		p.Add(path+".limits.streamIdleTimeout", "must not be negative (0 keeps idle streams open)")
	}
	if d := r.Limits.MaxJSONDepth; d < 0 || d > 1000 {
		p.Add(path+".limits.maxJSONDepth", "must be between 1 and 1000 (default 64): decoders recurse once per level")
	}
	for _, l := range []struct {
		key string
		v   int
	}{{"maxJSONValues", r.Limits.MaxJSONValues}, {"maxSessionsPerUser", r.Limits.MaxSessionsPerUser},
		{"maxStreamsPerUser", r.Limits.MaxStreamsPerUser}, {"maxStreams", r.Limits.MaxStreams}} {
		if l.v < 0 {
			p.Add(path+".limits."+l.key, "must not be negative (0 means the default)")
		}
	}
	if fi := r.ForwardIdentity; fi != nil {
		seen := map[string]string{}
		for _, f := range []struct{ key, name string }{
			{"subject", fi.Subject}, {"email", fi.Email}, {"name", fi.Name}, {"groups", fi.Groups}, {"clientId", fi.ClientID},
		} {
			if f.name == "" {
				continue
			}
			fp := path + ".forwardIdentity." + f.key
			lower := strings.ToLower(f.name)
			switch {
			case !validHeaderName(f.name):
				p.Add(fp, "%q is not a valid HTTP header name (letters, digits and - only, e.g. X-User-Email)", f.name)
			case reservedIdentityHeaders[lower], reservedMCPHeader(f.name): // route_protocol.go
				p.Add(fp, "%q is reserved; use a header of your own such as X-User-%s", f.name, strings.ToUpper(f.key[:1])+f.key[1:])
			case seen[lower] != "":
				p.Add(fp, "%q is already used for %s", f.name, seen[lower])
			}
			seen[lower] = f.key
		}
	}
}

func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
