package app

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/mcpgate/mcpgate/internal/audit"
	"github.com/mcpgate/mcpgate/internal/authn"
	"github.com/mcpgate/mcpgate/internal/authserver/federation"
	"github.com/mcpgate/mcpgate/internal/authz"
	"github.com/mcpgate/mcpgate/internal/config"
	"github.com/mcpgate/mcpgate/internal/gateway"
	"github.com/mcpgate/mcpgate/internal/ratelimit"
	"github.com/mcpgate/mcpgate/internal/routepolicy"
	"github.com/mcpgate/mcpgate/internal/secrets"
	"github.com/mcpgate/mcpgate/internal/store"
	"github.com/mcpgate/mcpgate/internal/upstream"
)

// This file maps the file configuration to the option types of the runtime packages.

// HookDeps are the process-wide parts route hooks need.
type HookDeps struct {
	// Auditor records one event per request (nil = no audit).
	Auditor *audit.Auditor
	// Limiters builds a route's rate limiters from its rateLimit section (nil = in-memory
	// token buckets per route and replica, ratelimit.NewRoute). A shared (Redis) limiter
	// plugs in here.
	Limiters func(route string, rl ratelimit.RouteOptions) *ratelimit.Route
	// DynamicClient reports whether a client registered dynamically (RFC 7591) or through
	// a client ID metadata document, for the rule variable client.dynamic (nil = always
	// false).
	DynamicClient func(ctx context.Context, clientID string) bool
	// UpstreamModes names a route's upstream credential mode for audit ("none" when nil or
	// empty).
	UpstreamModes func(route string) string
	// Journal notes tool calls before they go upstream (nil: none).
	Journal *audit.Journal
	Logger  *slog.Logger
}

// hookDeps are the process-wide parts the route hooks use.
func (a *App) hookDeps() HookDeps {
	d := HookDeps{Auditor: a.auditor, Logger: a.log, Journal: a.journal}
	if a.creds != nil {
		d.UpstreamModes = a.creds.Mode
	}
	if a.as != nil {
		d.DynamicClient = a.as.IsDynamicClient
	}
	if a.redis != nil {
		rdb := a.redis
		d.Limiters = func(route string, rl ratelimit.RouteOptions) *ratelimit.Route {
			return ratelimit.NewRedisRoute(rdb, route, rl, nil)
		}
	}
	return d
}

// RouteHooks builds route i's interceptor (internal/routepolicy: policy, tool
// include/exclude/rename, rate limit) and observer (internal/audit). Both nil when the
// route has nothing configured.
func RouteHooks(cfg *config.Config, i int, deps HookDeps) (gateway.Interceptor, gateway.Observer, error) {
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &cfg.Routes[i]
	var in gateway.Interceptor
	if r.Policy != nil || r.Tools != nil || r.RateLimit != nil {
		o := routepolicy.Options{Route: r.Name, Logger: log.With("route", r.Name)}
		if mentions(cfg, r.Policy, "dynamic") {
			o.DynamicClient = deps.DynamicClient // a store lookup per request: only when a rule may read it
		}
		if r.Policy != nil || r.Tools != nil {
			az, err := authz.NewRoute(authzOptions(cfg, i), log)
			if err != nil {
				return nil, nil, err
			}
			o.Authz = az
		}
		if r.RateLimit != nil {
			rl := rateLimitOptions(r.RateLimit)
			if deps.Limiters != nil {
				o.Limits = deps.Limiters(r.Name, rl)
			} else {
				o.Limits = ratelimit.NewRoute(rl)
			}
			o.PerUser, o.PerRoute = rl.PerUser, rl.PerRoute
		}
		in = routepolicy.New(o)
	}
	var ob gateway.Observer
	if deps.Auditor != nil {
		mode := "none"
		if deps.UpstreamModes != nil {
			if m := deps.UpstreamModes(r.Name); m != "" {
				mode = m
			}
		}
		ob = audit.NewObserver(deps.Auditor, audit.ObserverOptions{Arguments: audit.NewRedactor(redactOptions(r.AuditArguments)),
			UpstreamAuth: mode, UpstreamTool: authz.NewTools(toolsOptions(r.Tools)).Upstream, Journal: deps.Journal})
	}
	return in, ob, nil
}

// mentions reports whether any rule of pol (or of the rule sets it includes) contains word.
func mentions(cfg *config.Config, pol *config.RoutePolicy, word string) bool {
	if pol == nil {
		return false
	}
	rules := slices.Clone(pol.Rules)
	for _, inc := range pol.Include {
		rules = append(rules, cfg.RuleSets[inc]...)
	}
	for _, r := range rules {
		if strings.Contains(r.Condition(), word) {
			return true
		}
	}
	return false
}

// AuthorizationURI is the authorize endpoint named in claims challenges of route i: for
// obo, the token URL's sibling …/oauth2/v2.0/authorize ("" otherwise).
func AuthorizationURI(cfg *config.Config, i int) string {
	ua := cfg.Routes[i].UpstreamAuth
	if ua == nil || ua.OBO == nil {
		return ""
	}
	tu := ua.OBO.OBOTokenURL()
	if strings.HasSuffix(tu, "/token") {
		return strings.TrimSuffix(tu, "/token") + "/authorize"
	}
	return ""
}

// rateLimitOptions maps a route's rateLimit section, applying the configuration's
// defaults (per: 1m, burst: requests).
func rateLimitOptions(rl *config.RateLimit) ratelimit.RouteOptions {
	return ratelimit.RouteOptions{PerUser: rateOf(rl.PerUser), PerRoute: rateOf(rl.PerRoute)}
}

func rateOf(r *config.Rate) *ratelimit.Rate {
	if r == nil {
		return nil
	}
	c := *r
	c.SetDefaults()
	return &ratelimit.Rate{Requests: c.Requests, Per: c.Per.D(), Burst: c.Burst}
}

// authzOptions maps route i's policy and tools sections, with the rule sets they may
// include.
func authzOptions(cfg *config.Config, i int) authz.RouteOptions {
	r := &cfg.Routes[i]
	o := authz.RouteOptions{Name: r.Name, At: fmt.Sprintf("routes[%d].policy", i), Tools: toolsOptions(r.Tools)}
	if p := r.Policy; p != nil {
		o.Policy = &authz.PolicyOptions{Include: p.Include, Rules: rulesOf(p.Rules), Default: p.Default, Refusal: authz.Refusal(p.Refusal),
			ExplainHidden: p.ExplainHidden}
	}
	if len(cfg.RuleSets) > 0 {
		o.RuleSets = make(map[string][]authz.Rule, len(cfg.RuleSets))
		for name, rules := range cfg.RuleSets {
			o.RuleSets[name] = rulesOf(rules)
		}
	}
	return o
}

// rulesOf maps policy rules; a rule without a message shows its description.
func rulesOf(rules []config.Rule) []authz.Rule {
	if rules == nil {
		return nil
	}
	out := make([]authz.Rule, len(rules))
	for i := range rules {
		cr := &rules[i]
		out[i] = authz.Rule{Name: cr.Name, Effect: authz.Effect(cr.Effect()), Condition: cr.Condition(), Scopes: cr.Scopes, Message: cr.Message}
		if out[i].Message == "" {
			out[i].Message = cr.Description
		}
	}
	return out
}

func toolsOptions(tf *config.ToolFilter) *authz.ToolsOptions {
	if tf == nil {
		return nil
	}
	o := &authz.ToolsOptions{Include: tf.Include, Exclude: tf.Exclude}
	if tf.Overrides != nil {
		o.Overrides = make(map[string]authz.ToolOverride, len(tf.Overrides))
		for name, ov := range tf.Overrides {
			o.Overrides[name] = authz.ToolOverride{Name: ov.Name, Description: ov.Description}
		}
	}
	return o
}

func redactOptions(a *config.AuditArguments) *audit.RedactOptions {
	if a == nil {
		return nil
	}
	return &audit.RedactOptions{RedactFields: a.RedactFields, MaxBytes: int64(a.MaxBytes)}
}

// auditSinks maps the audit section, with its defaults (nil: no section, events go to
// stdout).
func auditSinks(a *config.Audit) *audit.SinkOptions {
	if a == nil {
		return &audit.SinkOptions{Stdout: true}
	}
	c := *a
	c.SetDefaults()
	o := &audit.SinkOptions{Stdout: c.Stdout, Store: c.Store, Buffer: c.Buffer}
	if f := c.File; f != nil {
		o.File = &audit.FileOptions{Path: f.Path, MaxSize: int64(f.MaxSize), MaxFiles: f.MaxFiles}
	}
	return o
}

// Federation builds the sign-in connectors of authServer.connectors. d.Issuer defaults
// to authServer.issuer, else publicURL.
func Federation(cfg *config.Config, d federation.Deps) (*federation.Set, error) {
	if cfg.AuthServer == nil {
		return &federation.Set{}, nil
	}
	d.Issuer = cmp.Or(d.Issuer, cfg.AuthServer.Issuer, cfg.PublicURL)
	d.PolicyClaims = federation.PolicyClaims(cfg)
	return federation.NewSet(cfg.AuthServer.Connectors, d)
}

// LocalLogin reports whether the login page should also offer local users
// (authServer.localLogin; default: no connectors, or users defined).
func LocalLogin(cfg *config.Config) bool {
	a := cfg.AuthServer
	if a == nil {
		return true
	}
	if a.LocalLogin != nil {
		return *a.LocalLogin
	}
	return len(a.Connectors) == 0 || len(a.Users) > 0
}

// StoreBackend maps the store section onto store.Open's options (memory, else postgres,
// else sqlite; store.Open's default path when none is set).
func StoreBackend(c config.Store) store.Backend {
	b := store.Backend{Memory: c.Memory != nil}
	if c.Postgres != nil {
		b.PostgresDSN = c.Postgres.DSN
	}
	if c.SQLite != nil {
		b.SQLitePath = c.SQLite.Path
	}
	return b
}

// SealingKeys maps upstreamCredentials.secrets (with its default variable,
// MCPGATE_SECRET_KEYS) onto the source secrets.Load opens.
func SealingKeys(cfg *config.Config) secrets.Source {
	sk := cfg.SealingKeys()
	return secrets.Source{File: sk.KeysFile, Env: sk.KeysEnv, Primary: sk.Primary}
}

// LoadSealingKeys opens the keys that seal stored tokens (connections, federated
// sign-ins, the shared exchanged-token cache). Without a keys file, a missing variable is
// explained with the section that configures it.
func LoadSealingKeys(cfg *config.Config) (*secrets.Keyring, error) {
	src := SealingKeys(cfg)
	kr, err := secrets.Load(src)
	if err != nil && src.File == "" {
		return nil, fmt.Errorf("authServer.connectors keep the users' upstream tokens sealed and need keys (upstreamCredentials.secrets): %w", err)
	}
	return kr, err
}

// UpstreamOptions maps upstreamCredentials and every route's upstreamAuth, with the
// configuration's defaults (connections path, key environment variable, JWKS path).
func UpstreamOptions(cfg *config.Config) upstream.Options {
	uc := cfg.UpstreamCredentials
	if uc == nil {
		uc = &config.UpstreamCredentials{}
	}
	o := upstream.Options{
		PublicURL:       cfg.PublicURL,
		ConnectionsPath: cmp.Or(uc.ConnectionsPath, config.DefaultConnectionsPath),
		JWKSPath:        config.DefaultGatewayJWKSPath,
		RefreshSkew:     uc.RefreshSkew.D(),
		Secrets:         SealingKeys(cfg),
	}
	if c := uc.Cache; c != nil {
		o.CacheMaxEntries, o.CacheSkew = c.MaxEntries, c.Skew.D()
	}
	if g := uc.GatewayJWT; g != nil {
		o.Signer = &upstream.SignerOptions{Issuer: g.Issuer, KeyFiles: g.KeyFiles}
	}
	for _, cp := range uc.Connections {
		o.Connections = append(o.Connections, upstream.OAuthApp{Name: cp.Name, DisplayName: cp.DisplayName, AuthorizeURL: cp.AuthorizeURL, TokenURL: cp.TokenURL,
			RevocationURL: cp.RevocationURL, ClientID: cp.ClientID, ClientSecret: cp.ClientSecret, AuthMethod: cp.ClientAuthMethod,
			Scopes: cp.Scopes, Resource: cp.Resource, AuthParams: cp.AuthParams, MCPServer: cp.MCPServer, MetadataHosts: cp.MetadataHosts,
			OfferTo: cp.OfferTo, RequiredFor: cp.RequiredFor})
	}
	for _, r := range cfg.Routes {
		if u := r.UpstreamAuth; u != nil {
			o.Routes = append(o.Routes, upstreamRoute(r.Name, r.Upstream.URL, u))
		}
		for _, vu := range r.Upstreams {
			if vu.UpstreamAuth != nil {
				o.Routes = append(o.Routes, upstreamRoute(VirtualCredentialRoute(r.Name, vu.Name), vu.URL, vu.UpstreamAuth))
			}
		}
	}
	return o
}

func upstreamRoute(name, upstreamURL string, u *config.UpstreamAuth) upstream.RouteAuth {
	ra := upstream.RouteAuth{Route: name, UpstreamURL: upstreamURL, Passthrough: u.Passthrough}
	if m := u.Modes(); len(m) > 0 {
		ra.Mode = m[0]
	}
	if b := u.OBO; b != nil {
		ra.OBO = &upstream.OBOAuth{TokenURL: b.OBOTokenURL(), ClientID: b.ClientID, ClientSecret: b.ClientSecret, Certificate: certificate(b.Certificate), Scope: b.Scope}
	}
	if te := u.TokenExchange; te != nil {
		ra.TokenExchange = &upstream.TokenExchangeAuth{TokenURL: te.TokenURL, ClientID: te.ClientID, ClientSecret: te.ClientSecret, ClientAuthMethod: te.ClientAuthMethod,
			Audience: te.Audience, Resource: te.Resource, Scopes: te.Scopes, SubjectTokenType: te.SubjectTokenType, RequestedTokenType: te.RequestedTokenType, ActorToken: te.ActorToken}
	}
	if cc := u.ClientCredentials; cc != nil {
		ra.ClientCredentials = &upstream.ClientCredentialsAuth{TokenURL: cc.TokenURL, ClientID: cc.ClientID, ClientSecret: cc.ClientSecret, Certificate: certificate(cc.Certificate),
			ClientAuthMethod: cc.ClientAuthMethod, Scopes: cc.Scopes, Resource: cc.Resource}
	}
	if g := u.GatewayJWT; g != nil {
		ra.GatewayJWT = &upstream.GatewayJWTAuth{Audience: g.Audience, Lifetime: g.Lifetime.D(), Header: g.Header}
	}
	if st := u.Static; st != nil {
		ra.Static = &upstream.StaticConfig{Header: st.Header, Value: st.Value, ValueFile: st.ValueFile, Prefix: st.Prefix}
	}
	if c := u.Connection; c != nil {
		ra.Connection = c.Provider
	}
	return ra
}

func certificate(c *config.ClientCertificate) *upstream.ClientCertificate {
	if c == nil {
		return nil
	}
	return &upstream.ClientCertificate{CertFile: c.CertFile, KeyFile: c.KeyFile, Algorithm: c.Algorithm}
}

// Issuers maps the configuration's token issuers (defaults applied by config.Load).
func Issuers(issuers []config.Issuer) []authn.Issuer {
	if issuers == nil {
		return nil
	}
	out := make([]authn.Issuer, len(issuers))
	for i, is := range issuers {
		out[i] = issuerOf(is)
	}
	return out
}

func issuerOf(is config.Issuer) authn.Issuer {
	o := authn.Issuer{Name: is.Name, Issuer: is.Issuer, JWKSURL: is.JWKSURL, JWKSFile: is.JWKSFile, JWKS: is.JWKS, CAFile: is.CAFile,
		Audiences: is.Audiences, Algorithms: is.Algorithms, ClockSkew: is.ClockSkew.D(), RefreshInterval: is.RefreshInterval.D(),
		UnknownKIDRefreshInterval: is.UnknownKIDRefreshInterval.D(), RequiredClaims: is.RequiredClaims}
	if c := is.Claims; c != nil {
		o.Claims = &authn.ClaimMapping{Subject: c.Subject, Email: c.Email, Name: c.Name, Groups: c.Groups, Roles: c.Roles, Scopes: c.Scopes, ClientID: c.ClientID}
	}
	if e := is.Entra; e != nil {
		o.Entra = &authn.EntraIssuer{Tenant: e.Tenant, AllowedTenants: e.AllowedTenants, Versions: e.Versions, ClientID: e.ClientID, AppIDURI: e.AppIDURI, Authority: e.Authority}
	}
	return o
}

// RequestScopes returns the scopes route i tells clients to request (auth.requestScopes, or
// auth.scopes qualified for an Entra issuer) and the prefix that qualifies bare scope names
// for it (empty when its first issuer is not Entra). See config.Auth.RequestScopes.
func RequestScopes(cfg *config.Config, i int) (prefix string, scopes []string) {
	r := cfg.Routes[i]
	entra := false
	for _, name := range r.Auth.Issuers {
		for _, is := range cfg.Issuers {
			if is.Name != name || entra {
				continue
			}
			if p, ok := authn.EntraScopePrefix(issuerOf(is), r.Auth.Audiences); ok {
				prefix, entra = p, true
			}
		}
	}
	if len(r.Auth.RequestScopes) > 0 {
		return prefix, r.Auth.RequestScopes
	}
	for _, s := range r.Auth.Scopes {
		scopes = append(scopes, authn.QualifyEntraScope(prefix, s))
	}
	return prefix, scopes
}
