package entraemulator

import (
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/mcpgate/mcpgate/internal/config"
)

// Options configure an Emulator.
type Options struct {
	// Config is the directory: tenants, app registrations, users. Required. Defaults are
	// applied to a copy.
	Config *config.Entra
	// BaseURL is the emulator's external base URL, the "https://login.microsoftonline.com"
	// of this emulator (scheme://host[:port][/prefix]). Issuers, metadata endpoints and
	// client_assertion audiences are built from it. Empty: derived from each request (scheme
	// from TLS, host from the Host header) — fine for tests, set it when behind a proxy.
	BaseURL string
	// SigningKey signs tokens. Default: Config.SigningKeyFile, else a fresh 2048-bit key.
	SigningKey *rsa.PrivateKey
	// Logger receives one line per refused request and per issued token (ids and hashes,
	// never tokens or secrets). Nil discards.
	Logger *slog.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Emulator is an Entra ID compatible authority. Create it with New and serve Handler.
type Emulator struct {
	cfg  config.Entra
	opts Options
	dir  *directory
	sig  *signer
	log  *slog.Logger
	now  func() time.Time
	mux  *http.ServeMux

	mu       sync.Mutex
	codes    map[string]*authCode
	refresh  map[string]*grantRecord
	devices  map[string]*deviceGrant // by device_code
	pending  map[string]*pendingAuth // login form contexts
	sessions map[string]*ssoSession  // by session cookie
	inserts  int
}

// New builds an emulator from the options.
func New(o Options) (*Emulator, error) {
	if o.Config == nil {
		return nil, errors.New("entra: Options.Config is required")
	}
	cfg := *o.Config
	cfg.Apps = append([]config.EntraApp(nil), o.Config.Apps...)
	cfg.SetDefaults()
	dir, err := newDirectory(&cfg)
	if err != nil {
		return nil, fmt.Errorf("entra: %w", err)
	}
	sig, err := newSigner(o.SigningKey, cfg.SigningKeyFile)
	if err != nil {
		return nil, fmt.Errorf("entra: %w", err)
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	now := o.Now
	if now == nil {
		now = time.Now
	}
	o.BaseURL = strings.TrimRight(o.BaseURL, "/")
	em := &Emulator{cfg: cfg, opts: o, dir: dir, sig: sig, log: log, now: now,
		codes: map[string]*authCode{}, refresh: map[string]*grantRecord{},
		devices: map[string]*deviceGrant{}, pending: map[string]*pendingAuth{},
		sessions: map[string]*ssoSession{}}
	for _, a := range dir.sameRegistrationApps() {
		log.Warn("entra: app is both a single-page client and the API it calls; a canvas and its agent need two app registrations",
			"client_id", a.clientID, "app", a.name)
	}
	em.routes()
	return em, nil
}

func (em *Emulator) routes() {
	m := http.NewServeMux()
	m.HandleFunc("GET /{tenant}/v2.0/.well-known/openid-configuration", em.handleMetadata(2))
	m.HandleFunc("GET /{tenant}/.well-known/openid-configuration", em.handleMetadata(1))
	m.HandleFunc("GET /{tenant}/discovery/v2.0/keys", em.handleKeys(2))
	m.HandleFunc("GET /{tenant}/discovery/keys", em.handleKeys(1))
	m.HandleFunc("GET /{tenant}/discovery/instance", em.handleInstanceDiscovery)
	m.HandleFunc("GET /{tenant}/oauth2/v2.0/authorize", em.handleAuthorize(2))
	m.HandleFunc("POST /{tenant}/oauth2/v2.0/authorize", em.handleLogin)
	m.HandleFunc("GET /{tenant}/oauth2/authorize", em.handleAuthorize(1))
	m.HandleFunc("POST /{tenant}/oauth2/authorize", em.handleLogin)
	m.HandleFunc("POST /{tenant}/oauth2/v2.0/token", em.handleToken(2))
	m.HandleFunc("POST /{tenant}/oauth2/token", em.handleToken(1))
	m.HandleFunc("POST /{tenant}/oauth2/v2.0/devicecode", em.handleDeviceCode(2))
	m.HandleFunc("POST /{tenant}/oauth2/devicecode", em.handleDeviceCode(1))
	m.HandleFunc("GET /{tenant}/oauth2/v2.0/logout", em.handleLogout)
	m.HandleFunc("GET /{tenant}/oauth2/logout", em.handleLogout)
	m.HandleFunc("GET /devicelogin", em.handleDeviceLoginPage)
	m.HandleFunc("POST /devicelogin", em.handleDeviceLoginSubmit)
	m.HandleFunc("POST /v1.0/me/getMemberObjects", em.handleGraphMemberObjects(true))
	m.HandleFunc("POST /v1.0/users/{id}/getMemberObjects", em.handleGraphMemberObjects(false))
	m.HandleFunc("GET /v1.0/applications", em.handleGraphApplicationList)
	m.HandleFunc("GET /v1.0/applications/{id}", em.handleGraphApplication)
	m.HandleFunc("GET /v1.0/{key}", em.handleGraphApplication)
	m.HandleFunc("GET /error", em.handleErrorPage)
	m.HandleFunc("GET /{$}", em.handleIndex)
	em.mux = m
}

// Handler serves the emulator. Mount it at the root of its own listener, or under a prefix
// with http.StripPrefix and Options.BaseURL including the prefix.
func (em *Emulator) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		}
		if em.cors(w, r) {
			return
		}
		em.mux.ServeHTTP(w, r)
	})
}

// base is the external base URL for this request.
func (em *Emulator) base(r *http.Request) string {
	if em.opts.BaseURL != "" {
		return em.opts.BaseURL
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// BaseURL is the configured external base URL ("" when derived from requests).
func (em *Emulator) BaseURL() string { return em.opts.BaseURL }

// Authority is the MSAL authority for a tenant (GUID, domain, common or organizations).
func (em *Emulator) Authority(tenant string) string { return em.opts.BaseURL + "/" + tenant }

// V2Issuer is the iss of v2 tokens of tenant tid: {base}/{tid}/v2.0.
func (em *Emulator) V2Issuer(tid string) string { return em.opts.BaseURL + "/" + tid + "/v2.0" }

// V1Issuer is the iss of v1 tokens of tenant tid: https://sts.windows.net/{tid}/, exactly as
// Entra writes it (it is an identifier, never fetched).
func V1Issuer(tid string) string { return "https://sts.windows.net/" + tid + "/" }

// V2IssuerTemplate is the multi-tenant v2 issuer published by common/organizations metadata.
func (em *Emulator) V2IssuerTemplate() string { return em.opts.BaseURL + "/{tenantid}/v2.0" }

// JWKSURL is the v2 keys URL of a tenant segment; JWKSURLv1 the v1 one. Both publish the
// same key.
func (em *Emulator) JWKSURL(tenant string) string {
	return em.opts.BaseURL + "/" + tenant + "/discovery/v2.0/keys"
}

// JWKSURLv1 is the v1 keys URL.
func (em *Emulator) JWKSURLv1(tenant string) string {
	return em.opts.BaseURL + "/" + tenant + "/discovery/keys"
}

// MetadataURL is the OpenID configuration URL of a tenant segment for version 1 or 2.
func (em *Emulator) MetadataURL(tenant string, version int) string {
	if version == 1 {
		return em.opts.BaseURL + "/" + tenant + "/.well-known/openid-configuration"
	}
	return em.opts.BaseURL + "/" + tenant + "/v2.0/.well-known/openid-configuration"
}

// TokenURL is the v2 token endpoint of a tenant segment (the client_assertion audience).
func (em *Emulator) TokenURL(tenant string) string {
	return em.opts.BaseURL + "/" + tenant + "/oauth2/v2.0/token"
}

// PublicKey is the token signing key; KeyID its kid (and x5t).
func (em *Emulator) PublicKey() *rsa.PublicKey { return &em.sig.key.PublicKey }

// KeyID is the kid of the signing key.
func (em *Emulator) KeyID() string { return em.sig.kid }

// GrantConsent records a user's consent for client to the fully qualified scope, as the
// consent screen does. Tests and admin tooling use it.
func (em *Emulator) GrantConsent(tenantID, userObjectID, clientID, scope string) {
	em.dir.grantUserConsent(strings.ToLower(tenantID), strings.ToLower(userObjectID), strings.ToLower(clientID), scope)
}

// Mount serves the emulator on mux under prefix (config.Entra.PathPrefix, default /entra),
// as `mcpgate serve` does next to the gateway. Options.BaseURL must then be
// {publicURL}{prefix}, so that issuers and endpoints carry the prefix.
func (em *Emulator) Mount(mux *http.ServeMux, prefix string) {
	prefix = "/" + strings.Trim(prefix, "/")
	mux.Handle(prefix+"/", http.StripPrefix(prefix, em.Handler()))
}
