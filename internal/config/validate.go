package config

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/mcpgate/mcpgate/internal/gctune"
	"github.com/mcpgate/mcpgate/internal/guid"
)

// Problems collects validation problems, each prefixed with the config path it concerns.
type Problems struct {
	list     []string
	warnings []string
}

// Add records a problem at path.
func (p *Problems) Add(path, format string, args ...any) {
	p.list = append(p.list, path+": "+fmt.Sprintf(format, args...))
}

// Warn records a warning at path.
func (p *Problems) Warn(path, format string, args ...any) {
	p.warnings = append(p.warnings, path+": "+fmt.Sprintf(format, args...))
}

// SetDefaults fills in every default. It is idempotent.
func (c *Config) SetDefaults() {
	if c.Listen == "" {
		c.Listen = "127.0.0.1:8080"
	}
	if c.Log.Format == "" {
		c.Log.Format = "json"
	}
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = Duration(30 * time.Second)
	}
	if c.Runtime.GCMinHeap == nil {
		v := ByteSize(gctune.DefaultMinHeap)
		c.Runtime.GCMinHeap = &v
	}
	if c.Admin.Listen == "" {
		c.Admin.Listen = "127.0.0.1:9090"
	}
	if c.Admin.DrainDelay == nil {
		d := Duration(5 * time.Second)
		c.Admin.DrainDelay = &d
	}
	c.PublicURL = strings.TrimRight(c.PublicURL, "/")
	for i := range c.Issuers {
		c.Issuers[i].setDefaults()
	}
	for i := range c.Routes {
		c.Routes[i].setDefaults()
	}
}

func (is *Issuer) setDefaults() {
	if len(is.Algorithms) == 0 {
		is.Algorithms = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
	}
	if is.ClockSkew == 0 {
		is.ClockSkew = Duration(60 * time.Second)
	}
	if is.RefreshInterval == 0 {
		is.RefreshInterval = Duration(time.Hour)
	}
	if is.UnknownKIDRefreshInterval == 0 {
		is.UnknownKIDRefreshInterval = Duration(5 * time.Minute)
	}
	if is.Entra != nil {
		if len(is.Entra.Versions) == 0 {
			is.Entra.Versions = []int{1, 2}
		}
		if is.Entra.Authority == "" {
			is.Entra.Authority = "https://login.microsoftonline.com"
		}
		is.Entra.Authority = strings.TrimRight(is.Entra.Authority, "/")
	}
}

func (r *Route) setDefaults() {
	if r.Auth.Mode == "" {
		r.Auth.Mode = "strict"
	}
	if r.Upstream.ConnectTimeout == 0 {
		r.Upstream.ConnectTimeout = Duration(5 * time.Second)
	}
	if r.Upstream.ResponseTimeout == 0 {
		r.Upstream.ResponseTimeout = Duration(60 * time.Second)
	}
	if r.Limits.MaxRequestBytes == 0 {
		r.Limits.MaxRequestBytes = 4 << 20
	}
	if r.CORS != nil && r.CORS.MaxAge == 0 {
		r.CORS.MaxAge = Duration(10 * time.Minute)
	}
}

// Validate checks the whole configuration and reports every problem at once (as *Errors).
// Warnings describe accepted but risky settings.
func (c *Config) Validate() (warnings []string, err error) {
	var p Problems
	if _, _, e := net.SplitHostPort(c.Listen); e != nil {
		p.Add("listen", "%q is not host:port (for example 127.0.0.1:8080 or :8443)", c.Listen)
	}
	if c.PublicURL != "" {
		if u, e := url.Parse(c.PublicURL); e != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			p.Add("publicURL", "%q is not an absolute http(s) URL such as https://mcp.example.com", c.PublicURL)
		} else if u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.Fragment != "" {
			p.Add("publicURL", "%q must be scheme://host[:port] only, with no path, query or fragment", c.PublicURL)
		}
	}
	for i, tp := range c.TrustedProxies {
		if _, e := netip.ParsePrefix(tp); e != nil {
			if _, e2 := netip.ParseAddr(tp); e2 != nil {
				p.Add(fmt.Sprintf("trustedProxies[%d]", i), "%q is neither an IP address nor a CIDR such as 10.0.0.0/8", tp)
			}
		}
	}
	if c.TLS != nil {
		for _, f := range []struct{ key, path string }{{"certFile", c.TLS.CertFile}, {"keyFile", c.TLS.KeyFile}} {
			if f.path == "" {
				p.Add("tls."+f.key, "is required when tls is set")
			} else if _, e := os.Stat(f.path); e != nil {
				p.Add("tls."+f.key, "cannot read %s: %v", f.path, e)
			}
		}
	}
	if v := c.Runtime.GCMinHeap; v != nil && *v > 0 && *v < gctune.MinFloor {
		p.Add("runtime.gcMinHeap", "%d bytes is below 4MiB, the collector's own minimum, and would change nothing: write 0 to turn the floor off, or a size of at least 4MiB such as 64MiB", int64(*v))
	}
	if l := c.Admin.Listen; l != "" && l != "off" {
		if _, _, e := net.SplitHostPort(l); e != nil {
			p.Add("admin.listen", "%q is not host:port (for example 127.0.0.1:9090) or off", l)
		} else if l == c.Listen {
			p.Add("admin.listen", "%q is also listen: the admin listener needs a port of its own", l)
		}
	}
	if o := c.Otel; o != nil {
		if o.SampleRatio < 0 || o.SampleRatio > 1 {
			p.Add("otel.sampleRatio", "%v is not between 0 and 1", o.SampleRatio)
		}
		if o.Endpoint != "" {
			if u, e := url.Parse(o.Endpoint); e != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				p.Add("otel.endpoint", "%q is not an http(s) URL such as http://otel-collector:4318/v1/traces", o.Endpoint)
			}
		}
	}
	if d := c.Admin.DrainDelay; d != nil && *d < 0 {
		p.Add("admin.drainDelay", "must not be negative")
	}
	if c.Limits.BodyReadTimeout < 0 || c.Limits.BodyMinRate < 0 || c.Limits.SessionIdleTimeout < 0 {
		p.Add("limits", "bodyReadTimeout, bodyMinRate and sessionIdleTimeout must not be negative (leave them out for the defaults)")
	}
	if !slices.Contains([]string{"json", "text"}, c.Log.Format) {
		p.Add("log.format", "%q is not json or text", c.Log.Format)
	}
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, c.Log.Level) {
		p.Add("log.level", "%q is not debug, info, warn or error", c.Log.Level)
	}
	c.Store.validate(&p)

	issuerNames := map[string]bool{}
	for i := range c.Issuers {
		path := fmt.Sprintf("issuers[%d]", i)
		is := &c.Issuers[i]
		if is.Name != "" {
			path = fmt.Sprintf("issuers[%d] (%s)", i, is.Name)
			if issuerNames[is.Name] {
				p.Add(path+".name", "%q is used by another issuer; names must be unique", is.Name)
			}
			issuerNames[is.Name] = true
		}
		is.validate(path, &p)
	}

	if len(c.Routes) == 0 {
		p.Add("routes", "at least one route is required: map a public path such as /weather/mcp to an upstream url")
	}
	names, paths := map[string]bool{}, map[string]bool{}
	for i := range c.Routes {
		r := &c.Routes[i]
		path := fmt.Sprintf("routes[%d]", i)
		if r.Name != "" {
			path = fmt.Sprintf("routes[%d] (%s)", i, r.Name)
		}
		if r.Name == "" {
			p.Add(path+".name", "is required")
		} else if names[r.Name] {
			p.Add(path+".name", "%q is used by another route; names must be unique", r.Name)
		}
		names[r.Name] = true
		if r.Path != "" {
			if paths[r.Path] {
				p.Add(path+".path", "%q is used by another route", r.Path)
			}
			paths[r.Path] = true
		}
		r.validate(path, c, issuerNames, &p)
	}
	c.validateExtensions(&p)
	if len(p.list) > 0 {
		return p.warnings, &Errors{Problems: p.list}
	}
	return p.warnings, nil
}

// extensionValidators are validation hooks registered by subsystem files (authserver.go,
// policy.go, ...) so that each section validates itself.
var extensionValidators []func(*Config, *Problems)

func (c *Config) validateExtensions(p *Problems) {
	for _, v := range extensionValidators {
		v(c, p)
	}
}

func (s *Store) validate(p *Problems) {
	n := 0
	if s.SQLite != nil {
		n++
		if s.SQLite.Path == "" {
			p.Add("store.sqlite.path", "is required (for example ./data/mcpgate.db)")
		}
	}
	if s.Postgres != nil {
		n++
		if s.Postgres.DSN == "" {
			p.Add("store.postgres.dsn", "is required (for example postgres://user@127.0.0.1:5432/mcpgate)")
		}
	}
	if s.Memory != nil {
		n++
	}
	if n > 1 {
		p.Add("store", "choose one of sqlite, postgres or memory")
	}
	if s.Redis != nil && s.Redis.Addr == "" {
		p.Add("store.redis.addr", "is required (for example 127.0.0.1:6379)")
	}
}

var allowedAlgs = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

func (is *Issuer) validate(path string, p *Problems) {
	if is.Name == "" {
		p.Add(path+".name", "is required: routes refer to issuers by name")
	}
	sources := 0
	for _, s := range []string{is.JWKSURL, is.JWKSFile, is.JWKS} {
		if s != "" {
			sources++
		}
	}
	if sources > 1 {
		p.Add(path, "give at most one of jwksURL, jwksFile and jwks")
	}
	if is.Entra == nil && is.Issuer == "" {
		p.Add(path+".issuer", "is required (the exact iss claim of the tokens), unless entra is set")
	}
	if is.Issuer != "" {
		if u, e := url.Parse(is.Issuer); e != nil || u.Scheme == "" || u.Host == "" {
			p.Add(path+".issuer", "%q is not an absolute URL", is.Issuer)
		}
	}
	if is.Entra == nil {
		entraPlainWarning(path, is.Issuer, p)
	}
	if is.JWKSURL != "" {
		if u, e := url.Parse(is.JWKSURL); e != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			p.Add(path+".jwksURL", "%q is not an absolute http(s) URL", is.JWKSURL)
		}
	}
	if is.JWKSFile != "" {
		if _, e := os.Stat(is.JWKSFile); e != nil {
			p.Add(path+".jwksFile", "cannot read %s: %v", is.JWKSFile, e)
		}
	}
	if is.CAFile != "" {
		if _, e := os.Stat(is.CAFile); e != nil {
			p.Add(path+".caFile", "cannot read %s: %v", is.CAFile, e)
		} else if b, e := os.ReadFile(is.CAFile); e != nil {
			p.Add(path+".caFile", "cannot read %s: %v", is.CAFile, e)
		} else if !strings.Contains(string(b), "-----BEGIN CERTIFICATE-----") {
			p.Add(path+".caFile", "%s holds no PEM certificate (-----BEGIN CERTIFICATE-----)", is.CAFile)
		}
	}
	for _, a := range is.Algorithms {
		switch {
		case strings.EqualFold(a, "none"):
			p.Add(path+".algorithms", `"none" is never allowed: unsigned tokens prove nothing`)
		case strings.HasPrefix(strings.ToUpper(a), "HS"):
			p.Add(path+".algorithms", "%q is refused: HMAC with a published key lets anyone forge tokens; use RS256, PS256 or ES256", a)
		case !slices.Contains(allowedAlgs, a):
			p.Add(path+".algorithms", "%q is not supported (supported: %s)", a, strings.Join(allowedAlgs, ", "))
		}
	}
	if e := is.Entra; e != nil {
		ep := path + ".entra"
		if e.Tenant == "" {
			p.Add(ep+".tenant", "is required: a tenant GUID, or organizations/common for a multi-tenant app")
		} else if e.Tenant == "common" || e.Tenant == "organizations" {
			if len(e.AllowedTenants) == 0 {
				p.Add(ep+".allowedTenants", "is required for a multi-tenant (%s) issuer: list the tenant GUIDs whose users may sign in", e.Tenant)
			}
		} else if !IsGUID(e.Tenant) {
			p.Add(ep+".tenant", "%q is not a tenant GUID (find it under Entra ID > Overview > Tenant ID) nor organizations/common", e.Tenant)
		}
		for _, t := range e.AllowedTenants {
			if !IsGUID(t) {
				p.Add(ep+".allowedTenants", "%q is not a tenant GUID", t)
			}
		}
		for _, v := range e.Versions {
			if v != 1 && v != 2 {
				p.Add(ep+".versions", "%d is not a token version: use 1, 2 or both", v)
			}
		}
		if e.ClientID != "" && !IsGUID(e.ClientID) {
			p.Add(ep+".clientId", "%q is not a GUID: use the Application (client) ID of the API app", e.ClientID)
		}
		if e.AppIDURI != "" && !strings.Contains(e.AppIDURI, "://") {
			p.Add(ep+".appIdUri", "%q is not a URI such as api://<client-id>", e.AppIDURI)
		}
		if e.ClientID == "" && e.AppIDURI == "" && len(is.Audiences) == 0 {
			p.Add(ep, "set clientId (v2 audience) and/or appIdUri (v1 audience) so that tokens for your API are recognised")
		}
	}
}

// IsGUID reports whether s looks like 8-4-4-4-12 hex (guid.Valid).
func IsGUID(s string) bool { return guid.Valid(s) }

func (r *Route) validate(path string, c *Config, issuers map[string]bool, p *Problems) {
	switch {
	case r.Path == "":
		p.Add(path+".path", "is required (for example /weather/mcp)")
	case !strings.HasPrefix(r.Path, "/"):
		p.Add(path+".path", "%q must start with /", r.Path)
	case strings.HasPrefix(r.Path, "/.well-known/"):
		p.Add(path+".path", "%q is reserved for metadata", r.Path)
	case strings.ContainsAny(r.Path, "?#"):
		p.Add(path+".path", "%q must not contain a query or fragment", r.Path)
	}
	for _, as := range r.Auth.AuthorizationServers {
		if strings.HasPrefix(strings.ToLower(as), "https://sts.windows.net/") {
			p.Warn(path+".auth.authorizationServers", "%s is the Entra v1 token issuer, not an authorization server: clients find no sign-in there. Publish the v2 authority https://login.microsoftonline.com/<tenant>/v2.0, or remove authorizationServers (mcpgate derives it from the issuer)", as)
		}
	}
	if len(r.Upstreams) > 0 {
		r.validateUpstreams(path, p)
	} else if r.Upstream.URL == "" {
		p.Add(path+".upstream.url", "is required (for example http://127.0.0.1:9001/mcp), or list upstreams for a virtual server")
	} else if u, e := url.Parse(r.Upstream.URL); e != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		p.Add(path+".upstream.url", "%q is not an absolute http(s) URL", r.Upstream.URL)
	}
	if !slices.Contains([]string{"strict", "optional", "permissive"}, r.Auth.Mode) {
		p.Add(path+".auth.mode", "%q is not strict, optional or permissive", r.Auth.Mode)
	}
	for _, name := range r.Auth.Issuers {
		if !issuers[name] {
			known := make([]string, 0, len(issuers))
			for n := range issuers {
				known = append(known, n)
			}
			msg := fmt.Sprintf("%q is not defined under issuers", name)
			if s := closest(name, known); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			p.Add(path+".auth.issuers", "%s", msg)
		}
	}
	if len(r.Auth.Issuers) == 0 && c.AuthServer == nil && r.Auth.Mode != "permissive" {
		if len(c.Issuers) == 0 {
			p.Add(path+".auth.issuers", "no token issuer: define issuers (or authServer) so that tokens can be verified")
		} else {
			p.Add(path+".auth.issuers", "name the issuers whose tokens this route accepts (defined: %s)", issuerList(c))
		}
	}
	for i, s := range r.Auth.Scopes {
		if s == "" || strings.ContainsAny(s, " \"\\") {
			p.Add(fmt.Sprintf("%s.auth.scopes[%d]", path, i), "%q is not a valid scope token", s)
		}
	}
	for i, o := range r.AllowedOrigins {
		if o != "*" && !validOrigin(o) {
			p.Add(fmt.Sprintf("%s.allowedOrigins[%d]", path, i), "%q is not an origin such as https://app.example.com", o)
		}
	}
	if r.CORS != nil {
		if len(r.CORS.AllowOrigins) == 0 {
			p.Add(path+".cors.allowOrigins", "is required when cors is set")
		}
		for i, o := range r.CORS.AllowOrigins {
			if o != "*" && !validOrigin(o) {
				p.Add(fmt.Sprintf("%s.cors.allowOrigins[%d]", path, i), "%q is not an origin such as https://app.example.com", o)
			}
		}
	}
	if r.UpstreamAuth != nil && r.UpstreamAuth.Passthrough {
		p.Warn(path+".upstreamAuth.passthrough", "the caller's token is forwarded upstream; the MCP specification forbids token passthrough (it defeats audience checks, audit and rate limits); prefer obo, tokenExchange or gatewayJWT")
	}
	if r.Limits.MaxRequestBytes < 0 {
		p.Add(path+".limits.maxRequestBytes", "must be positive")
	}
	r.validateGateway(path, p)
}

func issuerList(c *Config) string {
	var names []string
	for _, is := range c.Issuers {
		names = append(names, is.Name)
	}
	return strings.Join(names, ", ")
}

func validOrigin(o string) bool {
	u, err := url.Parse(o)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && (u.Path == "" || u.Path == "/")
}

// entraPlainWarning warns about a plain issuer in one of Entra's two forms: it accepts one
// token version only, which the API app's accessTokenAcceptedVersion decides.
func entraPlainWarning(path, iss string, p *Problems) {
	const v1Prefix, v2Prefix = "https://sts.windows.net/", "https://login.microsoftonline.com/"
	if rest, ok := strings.CutPrefix(iss, v1Prefix); ok && IsGUID(strings.TrimSuffix(rest, "/")) {
		tid := strings.TrimSuffix(rest, "/")
		p.Warn(path+".issuer", "%s is the Entra v1 token issuer: only v1 access tokens (ver 1.0) match, which Entra issues while the API app's accessTokenAcceptedVersion is null or 1; "+
			"with 2 its tokens carry iss %s%s/v2.0 and are refused. Use the entra: preset instead (entra: {tenant: %s, clientId: <API app id>, appIdUri: <App ID URI>}): it accepts both versions, checks the tenant and publishes the v2 authority to clients", iss, v2Prefix, tid, tid)
		return
	}
	if rest, ok := strings.CutPrefix(iss, v2Prefix); ok {
		if tid, ok := strings.CutSuffix(strings.TrimSuffix(rest, "/"), "/v2.0"); ok && IsGUID(tid) {
			p.Warn(path+".issuer", "%s is the Entra v2 token issuer: only v2 access tokens (ver 2.0) match, which Entra issues only when the API app's accessTokenAcceptedVersion is 2; "+
				"with null or 1 its tokens carry iss %s%s/ and are refused. Use the entra: preset instead (entra: {tenant: %s, clientId: <API app id>, appIdUri: <App ID URI>}): it accepts both versions and checks the tenant", iss, v1Prefix, tid, tid)
		}
	}
}
