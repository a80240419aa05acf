// Package app assembles a running mcpgate from a validated configuration: the store, the
// authorization server (and Entra profile), token verifiers, upstream credential providers,
// policy and audit hooks, and the gateway in front of it all. It owns wiring only; every
// behaviour lives in the package named for it. `mcpgate serve` and `mcpgate demo` both
// run through here.
package app

import (
	"context"
	"errors"
	"fmt"
	"github.com/mcpgate/mcpgate/internal/routepolicy"
	"github.com/mcpgate/mcpgate/internal/ui"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/mcpgate/mcpgate/internal/audit"
	"github.com/mcpgate/mcpgate/internal/authn"
	"github.com/mcpgate/mcpgate/internal/authserver"
	"github.com/mcpgate/mcpgate/internal/authserver/entraemulator"
	"github.com/mcpgate/mcpgate/internal/authserver/federation"
	"github.com/mcpgate/mcpgate/internal/config"
	"github.com/mcpgate/mcpgate/internal/gateway"
	"github.com/mcpgate/mcpgate/internal/gctune"
	"github.com/mcpgate/mcpgate/internal/httplimit"
	"github.com/mcpgate/mcpgate/internal/jsonlimit"
	"github.com/mcpgate/mcpgate/internal/loopback"
	"github.com/mcpgate/mcpgate/internal/mcpsession"
	"github.com/mcpgate/mcpgate/internal/metrics"
	"github.com/mcpgate/mcpgate/internal/secrets"
	"github.com/mcpgate/mcpgate/internal/store"
	"github.com/mcpgate/mcpgate/internal/tracing"
	"github.com/mcpgate/mcpgate/internal/upstream"
	"github.com/mcpgate/mcpgate/internal/upstream/rediscache"
	"github.com/mcpgate/mcpgate/internal/virtual"
)

// Options are the process-level inputs besides the configuration.
type Options struct {
	// Logger receives logs (nil = discard).
	Logger *slog.Logger
	// AuditOut receives audit events when the audit section asks for stdout (default
	// os.Stdout).
	AuditOut io.Writer
	// Store, when set, is used instead of opening the configured one (demo, tests).
	Store store.Store
	// Mount, when set, adds handlers for paths no route serves (the demo's web canvas).
	Mount func(*http.ServeMux)
	// DisableSSERelay sends every SSE stream through the net/http path
	// (gateway.Options.DisableSSERelay).
	DisableSSERelay bool
}

// App is an assembled mcpgate.
type App struct {
	policies  map[string]*routepolicy.Interceptor
	cfg       *config.Config
	log       *slog.Logger
	base      string
	store     store.Store
	ownsStore bool
	as        *authserver.Server
	emulator  *entraemulator.Emulator
	registry  *authn.Registry
	creds     *upstream.Set
	fed       *federation.Set
	keys      *secrets.Keyring
	auditor   *audit.Auditor
	redis     *redis.Client // store.redis: shared rate limits and exchanged-token cache
	metrics   *metrics.Metrics
	journal   *audit.Journal    // tool calls in flight (audit.journal)
	tracing   *tracing.Provider // nil: tracing off
	adminAddr string
	gw        *gateway.Server
	virtuals  []*virtual.Server // aggregating routes' upstreams
	resources []string
	mount     func(*http.ServeMux)
}

// New assembles everything. On error, whatever was opened is closed again.
func New(ctx context.Context, cfg *config.Config, o Options) (a *App, err error) {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if o.AuditOut == nil {
		o.AuditOut = os.Stdout
	}
	a = &App{cfg: cfg, log: log, base: cfg.BaseURL(), mount: o.Mount}
	a.metrics = a.newMetrics()
	opened := a // `return nil, err` sets a to nil before this deferred cleanup runs
	defer func() {
		if err != nil {
			opened.Close()
			a = nil
		}
	}()
	for _, r := range cfg.Routes {
		a.resources = append(a.resources, a.base+r.Path)
	}

	needStore := cfg.AuthServer != nil || usesConnections(cfg) || o.Store != nil
	if o.Store != nil {
		a.store = o.Store
	} else if needStore {
		b := StoreBackend(cfg.Store)
		b.Observe = a.metrics.StoreQuery
		if a.store, err = store.Open(ctx, b, log); err != nil {
			return nil, fmt.Errorf("opening store: %w", err)
		}
		a.ownsStore = true
	}
	if rs := cfg.Store.Redis; rs != nil {
		a.redis = openRedis(ctx, rs, log)
		a.redis.AddHook(a.metrics.RedisHook())
	}

	if usesConnections(cfg) || usesFederation(cfg) {
		// Connections and federated sign-ins keep their tokens in the store, beside the
		// rest of the state (memory, SQLite or PostgreSQL), sealed with these keys.
		if a.keys, err = LoadSealingKeys(cfg); err != nil {
			return nil, fmt.Errorf("loading the keys that seal stored tokens: %w", err)
		}
	}
	if usesFederation(cfg) {
		if a.fed, err = Federation(cfg, federation.Deps{Store: a.store, Keys: a.keys, Issuer: cfg.AuthServer.Issuer, Logger: log, Audit: a.recordAudit}); err != nil {
			return nil, fmt.Errorf("configuring sign-in connectors: %w", err)
		}
	}

	if cfg.AuthServer != nil {
		opts := authserver.OptionsFromConfig(cfg)
		opts.Store, opts.Logger, opts.Observer = a.store, log, a.metrics
		if opts.Issuer == "" {
			opts.Issuer = a.base
		}
		if strings.HasPrefix(opts.Issuer, "http://") && isLoopbackURL(opts.Issuer) {
			// A loopback issuer over plain http is development by definition.
			opts.AllowInsecureHTTP = true
		}
		resources := slices.Clone(a.resources)
		opts.Resources = func() []string { return resources }
		opts.Scopes = routeScopes(cfg, opts.Scopes)
		if a.fed != nil {
			opts.Connectors = a.fed.AuthConnectors()
			if LocalLogin(cfg) {
				opts.Connectors = append(opts.Connectors, authserver.NewLocalConnector(a.store, opts.Users))
			}
		}
		if a.as, err = authserver.New(ctx, opts); err != nil {
			return nil, fmt.Errorf("starting the authorization server: %w", err)
		}
		a.as.SetResourceDescriber(a.describeResource)
		if b := cfg.AuthServer.Branding; b != nil {
			a.as.SetBranding(ui.Branding{Name: b.Name, LogoURL: b.LogoURL})
		}
	}

	if cfg.Entra != nil {
		if a.emulator, err = entraemulator.New(entraemulator.Options{Config: cfg.Entra, BaseURL: a.base + cfg.Entra.PathPrefix, Logger: log}); err != nil {
			return nil, fmt.Errorf("starting the Entra profile: %w", err)
		}
	}

	if a.registry, err = authn.NewRegistry(ctx, Issuers(cfg.Issuers), authn.Options{Logger: log}); err != nil {
		return nil, fmt.Errorf("loading token issuers: %w", err)
	}

	if a.creds, err = a.buildCredentials(); err != nil {
		return nil, fmt.Errorf("building upstream credentials: %w", err)
	}

	var auditStore audit.Store
	if s, ok := a.store.(audit.Store); ok {
		auditStore = s
	}
	var interrupted []audit.Event
	if p := cfg.JournalPath(); p != "" {
		if a.journal, interrupted, err = audit.OpenJournal(p, audit.JournalOptions{}); err != nil {
			return nil, fmt.Errorf("opening the audit journal (audit.journal): %w", err)
		}
	}
	sinks := auditSinks(cfg.Audit)
	sinks.Journal = a.journal
	if a.auditor, err = audit.Open(sinks, o.AuditOut, auditStore, log); err != nil {
		return nil, fmt.Errorf("opening audit sinks: %w", err)
	}
	if len(interrupted) > 0 {
		log.WarnContext(ctx, "tool calls were in flight when mcpgate last stopped: recorded as interrupted", "calls", len(interrupted))
		for _, e := range interrupted {
			a.auditor.Record(e)
		}
	}

	if o := cfg.Otel; o != nil {
		if a.tracing, err = tracing.Start(ctx, tracing.Options{Enabled: o.Enabled, Endpoint: o.Endpoint, SampleRatio: o.SampleRatio, ServiceName: o.ServiceName}); err != nil {
			return nil, err
		}
	}
	gwOpts, err := a.gatewayOptions()
	if err != nil {
		return nil, err
	}
	gwOpts.DisableSSERelay = o.DisableSSERelay
	if a.gw, err = gateway.New(gwOpts); err != nil {
		return nil, fmt.Errorf("building the gateway: %w", err)
	}
	a.metrics.StreamsFunc(a.gw.OpenStreams)
	return a, nil
}

func isLoopbackURL(u string) bool {
	rest := strings.TrimPrefix(strings.TrimPrefix(u, "http://"), "https://")
	host := rest
	if i := strings.IndexAny(rest, "/"); i >= 0 {
		host = rest[:i]
	}
	return loopback.Host(host)
}

func usesFederation(cfg *config.Config) bool {
	return cfg.AuthServer != nil && len(cfg.AuthServer.Connectors) > 0
}

// usesExchange reports whether a route gets its upstream token from a token endpoint
// (obo, tokenExchange, clientCredentials): those tokens go in the exchanged-token cache.
func usesExchange(cfg *config.Config) bool {
	for _, r := range cfg.Routes {
		if ua := r.UpstreamAuth; ua != nil && (ua.OBO != nil || ua.TokenExchange != nil || ua.ClientCredentials != nil) {
			return true
		}
	}
	return false
}

func usesConnections(cfg *config.Config) bool {
	return cfg.UpstreamCredentials != nil && len(cfg.UpstreamCredentials.Connections) > 0
}

// routeScopes adds every scope the routes require or advertise to the authorization
// server's list (it refuses scopes it does not know).
func routeScopes(cfg *config.Config, scopes []string) []string {
	out := slices.Clone(scopes)
	add := func(s string) {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	for _, r := range cfg.Routes {
		for _, s := range r.Auth.Scopes {
			add(s)
		}
		for _, s := range r.Auth.ScopesSupported {
			add(s)
		}
	}
	return out
}

func (a *App) buildCredentials() (*upstream.Set, error) {
	bo := upstream.BuildOptions{Logger: a.log, Store: a.store, Keys: a.keys, Observer: a.metrics}
	if a.as != nil {
		bo.CurrentUser, bo.LoginURL, bo.UserLabel = a.as.CurrentUser, a.as.LoginURL, a.as.UserLabel
		bo.UserGroups = func(r *http.Request, sub string) []string { // offered and required connections
			id, _ := a.as.FindUser(r.Context(), sub)
			return id.Groups
		}
		bo.Branding = a.as.Branding()
	}
	if a.fed != nil {
		bo.SubjectToken = a.fed.SubjectToken
	}
	if a.redis != nil && usesExchange(a.cfg) {
		// Exchanged tokens shared by every replica, sealed: Redis never holds a token in clear.
		keys := a.keys
		if keys == nil {
			var err error
			if keys, err = LoadSealingKeys(a.cfg); err != nil {
				return nil, fmt.Errorf("store.redis shares exchanged upstream tokens between replicas and keeps them sealed: %w", err)
			}
		}
		bo.Cache = rediscache.New(a.redis, keys, "", a.log)
	}
	return upstream.Build(UpstreamOptions(a.cfg), bo)
}

func (a *App) gatewayOptions() (gateway.Options, error) {
	cfg := a.cfg
	o := gateway.Options{
		PublicURL:       cfg.PublicURL,
		ShutdownTimeout: cfg.ShutdownTimeout.D(),
		Logger:          a.log,
		Fallback:        a.fallback(),
		Body:            httplimit.BodyOptions{Timeout: cfg.Limits.BodyReadTimeout.D(), MinRate: int64(cfg.Limits.BodyMinRate)},
		Sessions:        mcpsession.NewMemory(cfg.Limits.SessionIdleTimeout.D()),
		Observer:        a.metrics,
	}
	// The requestState of the gateway's input requests (connect your account) is sealed with
	// the keys of stored tokens, so every replica opens what another issued.
	o.RequestStateKeys = a.keys
	if a.tracing != nil {
		o.TracerProvider = a.tracing
	}
	if a.redis != nil { // replicas share who owns which session
		o.Sessions = mcpsession.NewRedis(a.redis, "", cfg.Limits.SessionIdleTimeout.D())
	}
	if cfg.TLS != nil {
		o.TLSCertFile, o.TLSKeyFile = cfg.TLS.CertFile, cfg.TLS.KeyFile
	}
	for _, tp := range cfg.TrustedProxies {
		p, err := netip.ParsePrefix(tp)
		if err != nil {
			addr, err2 := netip.ParseAddr(tp)
			if err2 != nil {
				return o, fmt.Errorf("trustedProxies: %q is neither an IP nor a CIDR", tp)
			}
			p = netip.PrefixFrom(addr, addr.BitLen())
		}
		o.TrustedProxies = append(o.TrustedProxies, p)
	}
	var problems []error
	for i := range cfg.Routes {
		ro, err := a.routeOptions(i)
		if err != nil {
			problems = append(problems, err)
			continue
		}
		o.Routes = append(o.Routes, ro)
	}
	return o, errors.Join(problems...)
}

func (a *App) routeOptions(i int) (gateway.RouteOptions, error) {
	r := a.cfg.Routes[i]
	resource := a.base + r.Path
	ro := gateway.RouteOptions{
		Name:                 r.Name,
		Path:                 r.Path,
		Upstream:             r.Upstream.URL,
		ConnectTimeout:       r.Upstream.ConnectTimeout.D(),
		ResponseTimeout:      r.Upstream.ResponseTimeout.D(),
		InsecureSkipVerify:   r.Upstream.InsecureSkipVerify,
		H2C:                  r.Upstream.H2C,
		MaxRequestBytes:      int64(r.Limits.MaxRequestBytes),
		JSONLimits:           jsonlimit.Limits{MaxDepth: r.Limits.MaxJSONDepth, MaxValues: r.Limits.MaxJSONValues},
		MaxSessionsPerUser:   r.Limits.MaxSessionsPerUser,
		MaxStreamsPerUser:    r.Limits.MaxStreamsPerUser,
		MaxStreams:           r.Limits.MaxStreams,
		PassCookies:          r.Upstream.PassCookies,
		StreamIdleTimeout:    r.Limits.StreamIdleTimeout.D(),
		ListTTL:              r.Limits.ListTTL.D(),
		Mode:                 gateway.AuthMode(r.Auth.Mode),
		Scopes:               r.Auth.Scopes,
		RequestScopes:        r.Auth.RequestScopes,
		ScopesSupported:      r.Auth.ScopesSupported,
		AuthorizationServers: r.Auth.AuthorizationServers,
		AllowedOrigins:       r.AllowedOrigins,
	}
	if r.UpstreamAuth != nil {
		ro.Passthrough = r.UpstreamAuth.Passthrough
	}
	if f := r.ForwardIdentity; f != nil {
		ro.Identity = gateway.IdentityHeaders{Subject: f.Subject, Email: f.Email, Name: f.Name, Groups: f.Groups, ClientID: f.ClientID}
	}
	if c := r.CORS; c != nil {
		ro.CORS = &gateway.CORSOptions{AllowOrigins: c.AllowOrigins, AllowHeaders: c.AllowHeaders, MaxAge: c.MaxAge.D()}
	}

	// Who issues the tokens this route accepts.
	switch {
	case len(r.Auth.Issuers) > 0:
		audiences := r.Auth.Audiences
		if len(audiences) == 0 {
			audiences = []string{resource}
		}
		v, err := a.registry.Verifier(r.Auth.Issuers, audiences)
		if err != nil {
			return ro, fmt.Errorf("routes[%d] (%s): %w", i, r.Name, err)
		}
		ro.Verifier = v
		if len(ro.AuthorizationServers) == 0 {
			for _, name := range r.Auth.Issuers {
				for _, is := range a.cfg.Issuers {
					if is.Name == name {
						ro.AuthorizationServers = append(ro.AuthorizationServers, authn.AuthorizationServer(issuerOf(is)))
					}
				}
			}
		}
		ro.ScopePrefix, ro.RequestScopes = RequestScopes(a.cfg, i)
	case a.as != nil:
		ro.Verifier = a.as.Verifier(resource)
		if len(r.Auth.Audiences) > 0 {
			return ro, fmt.Errorf("routes[%d] (%s).auth.audiences: tokens from mcpgate's own authorization server always carry the route URL %s as audience; remove audiences or name an issuer", i, r.Name, resource)
		}
		if len(ro.AuthorizationServers) == 0 {
			ro.AuthorizationServers = []string{a.as.Issuer()}
		}
	}

	if len(r.Upstreams) > 0 {
		vs, err := virtual.New(VirtualOptions(a.cfg, i, a.creds, a.log, nil))
		if err != nil {
			return ro, fmt.Errorf("routes[%d] (%s): %w", i, r.Name, err)
		}
		a.virtuals = append(a.virtuals, vs)
		ro.Handler = vs.Handler()
	}
	if rc, ok := a.creds.Gateway(r.Name); ok {
		// Credential errors (missing connection, consent, claims challenge) reach the client
		// as MCP-visible answers rather than a bare 502.
		ro.Credentials = upstream.CredentialErrors(r.Name, rc, AuthorizationURI(a.cfg, i))
	}
	in, ob, err := RouteHooks(a.cfg, i, a.hookDeps())
	if err != nil {
		return ro, err
	}
	ro.Interceptor, ro.Observer = in, ob
	if ic, ok := in.(*routepolicy.Interceptor); ok {
		if a.policies == nil {
			a.policies = map[string]*routepolicy.Interceptor{}
		}
		a.policies[r.Name] = ic // the admin console's simulator decides through it
	}
	return ro, nil
}

// fallback serves everything that is not a route: the authorization server, the Entra
// profile, connection pages and the gatewayJWT key set.
func (a *App) fallback() http.Handler {
	mux := http.NewServeMux()
	if a.creds != nil {
		a.creds.Mount(mux)
	}
	if a.emulator != nil {
		a.emulator.Mount(mux, a.cfg.Entra.PathPrefix)
	}
	if a.mount != nil {
		a.mount(mux)
	}
	var brand ui.Branding
	if a.as != nil {
		brand = a.as.Branding()
	}
	mux.HandleFunc("GET /{$}", a.landing(brand))
	if a.as != nil {
		con := a.console()
		if a.cfg.AuthServer != nil && len(a.cfg.AuthServer.AdminGroups) > 0 {
			mux.Handle("/admin", con.Admin(brand))
			mux.Handle("/admin/", con.Admin(brand))
		}
		mux.Handle("/account", con.Account(brand))
		mux.Handle("/account/", con.Account(brand))
		mux.Handle("/", a.as.Handler())
	} else {
		mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprintf(w, `{"error":"not_found","error_description":"no route serves %s; MCP endpoints here: %s"}`+"\n",
				jsonEscape(r.URL.Path), jsonEscape(strings.Join(a.routePaths(), ", ")))
		})
	}
	return mux
}

func (a *App) routePaths() []string {
	var out []string
	for _, r := range a.cfg.Routes {
		out = append(out, r.Path)
	}
	return out
}

func jsonEscape(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "<", `\u003c`, ">", `\u003e`)
	return r.Replace(s)
}

// Handler is the whole HTTP surface (gateway routes, metadata, authorization server...).
func (a *App) Handler() http.Handler { return a.gw.Handler() }

// AuthServer returns the embedded authorization server (nil when not configured).
func (a *App) AuthServer() *authserver.Server { return a.as }

// Store returns the store (nil when nothing needs one).
func (a *App) Store() store.Store { return a.store }

// Resources returns the MCP URL of every route.
func (a *App) Resources() []string { return slices.Clone(a.resources) }

// Serve serves on ln until ctx ends, then drains gracefully and closes everything.
func (a *App) Serve(ctx context.Context, ln net.Listener) error {
	if a.as != nil {
		go a.as.RunJanitor(ctx, 5*time.Minute)
		go a.as.RunRevocationSync(ctx, a.redis) // revocations from other replicas: polled, and pushed through Redis when set
	}
	a.log.InfoContext(ctx, "mcpgate listening", "addr", ln.Addr().String(), "base_url", a.base, "routes", len(a.cfg.Routes))
	var floor int64
	if v := a.cfg.Runtime.GCMinHeap; v != nil {
		floor = int64(*v)
	}
	go func() { // beside serving, not before: readiness does not wait for a collection
		// Start-up garbage, and the executable's pages only start-up used, back to the system.
		gctune.Settle()
		if n, err := gctune.ReleaseExecutablePages(); err != nil {
			a.log.DebugContext(ctx, "releasing the executable's start-up pages failed", "err", err)
		} else {
			a.log.DebugContext(ctx, "executable's start-up pages released", "mapped_bytes", n)
		}
		gctune.ReleaseWhenIdle(ctx, gctune.IdleOptions{}, func(r uint64) {
			a.log.DebugContext(ctx, "idle: heap returned to the system", "reclaimable_bytes", r)
		})
	}()
	stopGC, gc := gctune.Start(floor)
	defer stopGC()
	if gc.Active {
		a.log.InfoContext(ctx, "garbage collector floor on", "gc_min_heap_bytes", floor)
	} else {
		a.log.InfoContext(ctx, "garbage collector floor off", "why", gc.Why)
	}
	gwCtx, stopAdmin, err := a.serveAdmin(ctx)
	if err != nil {
		a.Close()
		return err
	}
	err = a.gw.Serve(gwCtx, ln)
	stopAdmin()
	a.Close()
	return err
}

// Close releases everything New opened. It is safe to call more than once.
func (a *App) Close() {
	for _, vs := range a.virtuals {
		_ = vs.Close() // stops the stdio processes
	}
	a.virtuals = nil
	if a.auditor != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		a.auditor.Close(ctx)
		cancel()
		a.auditor = nil
	}
	if a.journal != nil {
		_ = a.journal.Close()
		a.journal = nil
	}
	if a.tracing != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = a.tracing.Shutdown(ctx) // flush the spans still buffered
		cancel()
		a.tracing = nil
	}
	if a.fed != nil {
		a.fed.Close()
		a.fed = nil
	}
	if a.registry != nil {
		a.registry.Close()
		a.registry = nil
	}
	if a.redis != nil {
		_ = a.redis.Close()
		a.redis = nil
	}
	if a.ownsStore && a.store != nil {
		if c, ok := a.store.(io.Closer); ok {
			c.Close()
		}
		a.store = nil
	}
}

// recordAudit records an event that is not an MCP request (a federated sign-in lacking
// mapped claims) once the audit sinks are open; before, it is dropped.
func (a *App) recordAudit(e audit.Event) {
	if au := a.auditor; au != nil {
		au.Record(e)
	}
}
