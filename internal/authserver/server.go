package authserver

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
	"golang.org/x/text/language"

	"github.com/mcpgate/mcpgate/internal/store"
)

// Server is the authorization server. Build it with New and mount Handler.
type Server struct {
	opts     Options
	log      *slog.Logger
	store    store.Store
	issuer   string
	secure   bool
	provider *op.Provider
	keys     *keyManager
	clients  *clientRegistry
	secret   []byte // HMAC key for session, CSRF and federation cookies (shared through the store)
	pages    *pages
	limiter  *loginLimiter
	mux      *http.ServeMux
	// revocations is the in-memory access-token revocation list (revocation.go).
	revocations *revocationList
	idjag       *idjagState // trusted enterprise IdPs (idjag.go); nil without any

	// jwksCache holds private_key_jwt clients' key sets from their jwks_uri
	// (client_assertion_jwks.go).
	jwksCache jwksCache
}

// New builds a Server: it loads (or creates) signing keys and upserts static clients.
func New(ctx context.Context, opts Options) (*Server, error) {
	opts.defaults()
	if opts.Store == nil {
		return nil, errors.New("authserver: Options.Store is required")
	}
	iss, err := url.Parse(opts.Issuer)
	if err != nil || !iss.IsAbs() || iss.Host == "" {
		return nil, fmt.Errorf("authserver: issuer %q must be an absolute URL such as https://gateway.example.com", opts.Issuer)
	}
	if strings.Trim(iss.Path, "/") != "" {
		return nil, fmt.Errorf("authserver: issuer %q must not have a path (the server is mounted at the root)", opts.Issuer)
	}
	if iss.Scheme != "https" && !opts.AllowInsecureHTTP {
		return nil, fmt.Errorf("authserver: issuer %q must be https (set allowInsecureHTTP only for local development)", opts.Issuer)
	}
	alg := jose.SignatureAlgorithm(opts.SigningAlgorithm)
	if alg != jose.ES256 && alg != jose.RS256 {
		return nil, fmt.Errorf("authserver: signing algorithm %q is not supported; use ES256 or RS256", opts.SigningAlgorithm)
	}
	switch opts.Registration {
	case RegistrationOpen, RegistrationAllowedHosts, RegistrationOff:
	default:
		return nil, fmt.Errorf("authserver: registration policy %q is unknown; use open, allowedHosts or off", opts.Registration)
	}
	s := &Server{
		opts:   opts,
		log:    opts.Logger,
		store:  opts.Store,
		issuer: strings.TrimRight(iss.String(), "/"),
		secure: iss.Scheme == "https",
	}
	if s.secret, err = loadCookieSecret(ctx, opts.Store); err != nil {
		return nil, fmt.Errorf("authserver: %w", err)
	}
	s.keys = &keyManager{store: opts.Store, alg: alg, rotation: opts.KeyRotation, overlap: opts.KeyOverlap,
		keepAfter: max(opts.AccessTokenLifetime, time.Hour /* ID tokens */) + opts.KeyOverlap, now: opts.Now, log: s.log}
	if _, err := s.keys.load(ctx, true); err != nil {
		return nil, fmt.Errorf("authserver: %w", err)
	}
	s.revocations = newRevocationList(opts.Store, s.log, opts.RevocationPollInterval, opts.Now)
	if err := s.revocations.poll(ctx); err != nil {
		return nil, fmt.Errorf("authserver: loading the access-token revocation list: %w", err)
	}
	s.clients, err = newClientRegistry(ctx, s)
	if err != nil {
		return nil, fmt.Errorf("authserver: %w", err)
	}
	if len(s.opts.Connectors) == 0 {
		s.opts.Connectors = []Connector{NewLocalConnector(opts.Store, opts.Users)}
	}
	if err := s.initIDJAG(ctx); err != nil {
		return nil, fmt.Errorf("authserver: %w", err)
	}
	s.limiter = &loginLimiter{store: opts.Store, cfg: opts.LoginRateLimit, now: opts.Now, log: s.log}
	s.pages, err = newPages()
	if err != nil {
		return nil, err
	}

	// The op library's CryptoKey stays per process: it only encrypts the authorization
	// request ID into the code (a random-looking string we store and look up by SHA-256,
	// never decrypt) and would encrypt opaque access tokens, which we never issue (every
	// client gets JWTs; userinfo, introspection and revocation fall back to verifying the JWT
	// with the shared signing keys). A code minted by one replica is redeemed on another
	// through the store.
	var cryptoKey [32]byte
	rand.Read(cryptoKey[:])
	cfg := &op.Config{
		CryptoKey:      cryptoKey,
		CodeMethodS256: true,
		// Without a post_logout_redirect_uri, signing out ends on mcpgate's own page.
		DefaultLogoutRedirectURI: s.issuer + PathSignedOut,
		AuthMethodPost:           true,
		GrantTypeRefreshToken:    true,
		SupportedUILocales:       []language.Tag{language.English},
		SupportedScopes:          s.supportedScopes(),
		SupportedClaims:          []string{"sub", "iss", "aud", "exp", "iat", "jti", "email", "name", "groups", "scope", "client_id", "auth_time", "amr"},
		DeviceAuthorization: op.DeviceAuthorizationConfig{
			Lifetime:     opts.DeviceCodeLifetime,
			PollInterval: 5 * time.Second,
			UserFormPath: PathDevice,
			UserCode:     op.UserCodeBase20,
		},
	}
	popts := []op.Option{
		op.WithCustomAuthEndpoint(op.NewEndpoint(PathAuthorize)),
		op.WithCustomTokenEndpoint(op.NewEndpoint(PathToken)),
		op.WithCustomIntrospectionEndpoint(op.NewEndpoint(PathIntrospect)),
		op.WithCustomUserinfoEndpoint(op.NewEndpoint(PathUserinfo)),
		op.WithCustomRevocationEndpoint(op.NewEndpoint(PathRevoke)),
		op.WithCustomEndSessionEndpoint(op.NewEndpoint(PathEndSession)),
		op.WithCustomKeysEndpoint(op.NewEndpoint(PathJWKS)),
		op.WithCustomDeviceAuthorizationEndpoint(op.NewEndpoint(PathDeviceAuthorization)),
		op.WithLogger(s.log),
	}
	if !s.secure {
		popts = append(popts, op.WithAllowInsecure())
	}
	s.provider, err = op.NewProvider(cfg, &opStorage{s: s}, op.StaticIssuer(s.issuer), popts...)
	if err != nil {
		return nil, fmt.Errorf("authserver: building the OpenID provider: %w", err)
	}
	s.routes()
	s.log.Info("authorization server ready", "issuer", s.issuer, "alg", alg, "registration", opts.Registration, "cimd", !opts.CIMD.Disabled)
	return s, nil
}

func (s *Server) routes() {
	mux := http.NewServeMux()
	protocol := s.captureParams(s.sanitized(s.provider))
	for _, p := range []string{PathAuthorizeCallback, PathDeviceAuthorization, PathJWKS} {
		mux.Handle(p, protocol)
	}
	mux.Handle(PathIntrospect, s.assertionAuth(PathIntrospect, protocol)) // client_assertion_endpoints.go
	mux.Handle(PathRevoke, s.assertionAuth(PathRevoke, protocol))
	mux.Handle(PathAuthorize, s.authorizePage(protocol))
	mux.Handle(PathUserinfo, s.checkUserinfoToken(protocol))
	mux.Handle(PathToken, s.captureParams(s.observeToken(http.HandlerFunc(s.handleToken))))
	mux.HandleFunc(PathEndSession, s.handleEndSession)
	mux.HandleFunc(PathOAuthMetadata, s.handleMetadata)
	mux.HandleFunc(PathOIDCDiscovery, s.handleMetadata)
	mux.HandleFunc(PathRegister, s.handleRegister)
	mux.HandleFunc(PathLogin, s.handleLogin)
	mux.HandleFunc(PathConsent, s.handleConsent)
	mux.HandleFunc(PathFederatedLogin, s.handleFederatedLogin)
	mux.HandleFunc(PathFederatedCallback, s.handleFederatedCallback)
	mux.HandleFunc(PathBackchannelLogout, s.handleBackchannelLogout)
	mux.HandleFunc(PathSignedOut, s.handleSignedOut)
	mux.HandleFunc(PathDevice, s.handleDevice)
	mux.Handle(PathStatic, http.StripPrefix(PathStatic, staticHandler()))
	s.mux = mux
}

// Handler serves every authorization-server path (see Paths). Mount it at the root.
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		if !limitBody(w, r) {
			return
		}
		s.mux.ServeHTTP(w, r)
	})
}

// Issuer returns the issuer URL (the iss of every token).
func (s *Server) Issuer() string { return s.issuer }

// PublicKeys returns the JSON Web Key Set of the published signing keys (what /jwks
// serves), for an in-process verifier.
func (s *Server) PublicKeys(ctx context.Context) (jose.JSONWebKeySet, error) { return s.keys.jwks(ctx) }

// JWKS returns PublicKeys as JSON.
func (s *Server) JWKS(ctx context.Context) ([]byte, error) {
	set, err := s.keys.jwks(ctx)
	if err != nil {
		return nil, err
	}
	return json.Marshal(set)
}

// Store returns the server's store (the CLI and tests use it).
func (s *Server) Store() store.Store { return s.store }

func (s *Server) supportedScopes() []string {
	out := []string{oidc.ScopeOpenID, oidc.ScopeProfile, oidc.ScopeEmail, oidc.ScopeOfflineAccess}
	for _, sc := range s.opts.Scopes {
		if !contains(out, sc) {
			out = append(out, sc)
		}
	}
	return out
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func hashToken(v string) string {
	sum := sha256.Sum256([]byte(v))
	return hex.EncodeToString(sum[:])
}

func randomToken(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return strings.TrimRight(base64URL(b), "=")
}

// cookieSecretName names the store's server secret that keys s.mac.
const cookieSecretName = "authserver/cookie-hmac"

// loadCookieSecret gets the cookie and CSRF key from the store, creating it on first start,
// so that every replica on the store (and the next process after a restart) signs and
// checks sessions and forms with the same key.
func loadCookieSecret(ctx context.Context, st store.Store) ([]byte, error) {
	secret, err := st.GetOrCreateSecret(ctx, cookieSecretName, func() ([]byte, error) {
		b := make([]byte, 32)
		_, err := rand.Read(b)
		return b, err
	})
	if err != nil {
		return nil, fmt.Errorf("loading the cookie signing secret %q from the store: %w", cookieSecretName, err)
	}
	if len(secret) < 32 {
		return nil, fmt.Errorf("the cookie signing secret %q in the store is %d bytes, want at least 32; delete it (table server_secrets) and restart every replica to generate a new one", cookieSecretName, len(secret))
	}
	return secret, nil
}

func (s *Server) mac(parts ...string) string {
	m := hmac.New(sha256.New, s.secret)
	for _, p := range parts {
		m.Write([]byte(p))
		m.Write([]byte{0})
	}
	return base64URL(m.Sum(nil))
}

func writeOAuthError(w http.ResponseWriter, status int, code, description string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": description})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// clientIP is the peer address. (X-Forwarded-For is the gateway's business: it rewrites
// RemoteAddr for trusted proxies before calling us.)
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// RunJanitor deletes expired store rows (auth requests, codes, refresh tokens, device
// codes, revoked-token entries, old keys, login counters) every interval until ctx ends.
// Call it once per process: go srv.RunJanitor(ctx, 5*time.Minute).
func (s *Server) RunJanitor(ctx context.Context, interval time.Duration) {
	store.RunJanitor(ctx, s.store, interval, s.log)
}
