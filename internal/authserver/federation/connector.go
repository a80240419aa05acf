package federation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mcpgate/mcpgate/internal/audit"
	"github.com/mcpgate/mcpgate/internal/authn"
	"github.com/mcpgate/mcpgate/internal/authserver"
	"github.com/mcpgate/mcpgate/internal/config"
	"github.com/mcpgate/mcpgate/internal/jsonlimit"
	"github.com/mcpgate/mcpgate/internal/secrets"
	"github.com/mcpgate/mcpgate/internal/upstream"
)

// DefaultEntraAuthority is Entra ID's login host.
const DefaultEntraAuthority = "https://login.microsoftonline.com"

// Options are the runtime dependencies of a Connector.
type Options struct {
	// Config is the connector's configuration (validated). Required.
	Config config.AuthServerConnector
	// Store keeps the sealed upstream tokens and the user's identity. Required. Use the
	// same ConnectionStore as internal/upstream (the store.Store internal/app opened:
	// SQLite or PostgreSQL in production, store.NewMemory for one replica).
	Store upstream.ConnectionStore
	// Keys seal the stored tokens. Required.
	Keys *secrets.Keyring
	// HTTPClient reaches the provider (discovery, JWKS, token endpoint). Default: the
	// authorization server's SSRF-guarded client (loopback and private addresses refused
	// unless Config.AllowPrivateAddresses).
	HTTPClient *http.Client
	// Issuer is mcpgate's issuer; error explanations name {issuer}/login/callback.
	Issuer string
	// PolicyClaims are the identity attributes policy rules read (PolicyClaims(cfg)): a
	// sign-in whose user lacks one is warned about.
	PolicyClaims []string
	// Audit records the sign-ins that lack mapped claims (warnMissingClaims). Optional.
	Audit func(audit.Event)
	// RefreshSkew: a stored access token expiring within it is refreshed. Default 2m.
	RefreshSkew time.Duration
	Logger      *slog.Logger
	Now         func() time.Time
}

// Connector signs users in at one upstream identity provider.
type Connector struct {
	cfg   config.AuthServerConnector
	opts  Options
	log   *slog.Logger
	http  *http.Client
	now   func() time.Time
	name  string
	scope []string

	mu       sync.Mutex
	ep       *endpoints
	registry *authn.Registry
	verifier *authn.JWTVerifier
	// refresh serialises the provider refreshes of a user in this process (striped by
	// subject: a slow or unreachable provider delays one user's requests, not everyone's).
	refresh [64]sync.Mutex
}

type endpoints struct {
	Issuer           string `json:"issuer"`
	AuthorizationURL string `json:"authorization_endpoint"`
	TokenURL         string `json:"token_endpoint"`
	JWKSURL          string `json:"jwks_uri"`
	UserinfoURL      string `json:"userinfo_endpoint"`
	EndSessionURL    string `json:"end_session_endpoint"`
}

// New builds a connector. It does not contact the provider (discovery and keys load on
// the first sign-in), so an unreachable provider does not stop mcpgate from starting.
func New(o Options) (*Connector, error) {
	c := o.Config
	if c.ID == "" || c.ClientID == "" {
		return nil, errors.New("federation: connector id and clientId are required")
	}
	if o.Store == nil || o.Keys == nil {
		return nil, fmt.Errorf("federation: connector %s: a token store and a keyring are required (the upstream tokens are kept sealed)", c.ID)
	}
	if c.Type == config.ConnectorEntra && (c.Entra == nil || c.Entra.Tenant == "") {
		return nil, fmt.Errorf("federation: connector %s: entra.tenant is required", c.ID)
	}
	if c.Type != config.ConnectorEntra && c.Issuer == "" {
		return nil, fmt.Errorf("federation: connector %s: issuer is required", c.ID)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.RefreshSkew == 0 {
		o.RefreshSkew = 2 * time.Minute
	}
	if o.HTTPClient == nil {
		o.HTTPClient = authserver.GuardedHTTPClient(10*time.Second, c.AllowPrivateAddresses)
	}
	if c.CAFile != "" {
		hc, err := authn.WithCAFile(o.HTTPClient, c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("connector %s: %w", c.ID, err)
		}
		o.HTTPClient = hc
	}
	cn := &Connector{cfg: c, opts: o, log: o.Logger.With("connector", c.ID), http: o.HTTPClient, now: o.Now, name: c.Name}
	if cn.name == "" {
		cn.name = map[string]string{config.ConnectorEntra: "Microsoft Entra ID", config.ConnectorKeycloak: "Keycloak",
			config.ConnectorOkta: "Okta", config.ConnectorOIDC: c.Issuer}[c.Type]
	}
	cn.scope = []string{"openid", "profile", "email", "offline_access"}
	if c.Type == config.ConnectorEntra {
		// Entra ignores email for v2 access tokens to APIs but returns it in the id_token.
		cn.scope = []string{"openid", "profile", "email", "offline_access"}
	}
	for _, s := range c.Scopes {
		s = cn.qualify(s)
		if !slices.Contains(cn.scope, s) {
			cn.scope = append(cn.scope, s)
		}
	}
	if c.Type == config.ConnectorEntra {
		a := strings.TrimRight(c.Entra.Authority, "/")
		if a == "" {
			a = DefaultEntraAuthority
		}
		t := c.Entra.Tenant
		cn.ep = &endpoints{Issuer: a + "/" + t + "/v2.0", AuthorizationURL: a + "/" + t + "/oauth2/v2.0/authorize",
			TokenURL: a + "/" + t + "/oauth2/v2.0/token", JWKSURL: a + "/" + t + "/discovery/v2.0/keys",
			EndSessionURL: a + "/" + t + "/oauth2/v2.0/logout"}
	}
	if c.AuthorizationURL != "" && c.TokenURL != "" && c.JWKSURL != "" {
		cn.ep = &endpoints{Issuer: c.Issuer, AuthorizationURL: c.AuthorizationURL, TokenURL: c.TokenURL, JWKSURL: c.JWKSURL, EndSessionURL: c.EndSessionURL}
	}
	return cn, nil
}

// userLock returns the mutex that serialises the provider refreshes of subject.
func (c *Connector) userLock(subject string) *sync.Mutex {
	h := fnv.New32a()
	h.Write([]byte(subject))
	return &c.refresh[h.Sum32()%uint32(len(c.refresh))]
}

// qualify turns a bare Entra scope into api://<app>/<scope>.
func (c *Connector) qualify(s string) string {
	if c.cfg.Type != config.ConnectorEntra || strings.Contains(s, "/") || config.IsStandardScope(s) || c.cfg.Entra.AppIDURI == "" {
		return s
	}
	return strings.TrimRight(c.cfg.Entra.AppIDURI, "/") + "/" + s
}

func (c *Connector) callbackURL() string {
	if c.opts.Issuer == "" {
		return "<mcpgate issuer>" + authserver.PathFederatedCallback
	}
	return strings.TrimRight(c.opts.Issuer, "/") + authserver.PathFederatedCallback
}

// ID implements authserver.Connector.
func (c *Connector) ID() string { return c.cfg.ID }

// Name implements authserver.Connector.
func (c *Connector) Name() string { return c.name }

// Scopes returns the scopes requested at the provider.
func (c *Connector) Scopes() []string { return slices.Clone(c.scope) }

// endpoints returns the provider's endpoints, discovering them once.
func (c *Connector) endpoints(ctx context.Context) (*endpoints, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ep != nil {
		return c.ep, nil
	}
	u := strings.TrimRight(c.cfg.Issuer, "/") + "/.well-known/openid-configuration"
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("discovery %s: %w", u, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 256<<10))
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("discovery %s: HTTP %d", u, resp.StatusCode)
	}
	if err := jsonlimit.Check(body, jsonlimit.Limits{}); err != nil {
		return nil, fmt.Errorf("discovery %s: %w", u, err)
	}
	var ep endpoints
	if err := json.Unmarshal(body, &ep); err != nil {
		return nil, fmt.Errorf("discovery %s: %w", u, err)
	}
	if ep.Issuer != strings.TrimRight(c.cfg.Issuer, "/") && ep.Issuer != c.cfg.Issuer {
		return nil, fmt.Errorf("discovery %s: the document's issuer %q is not the configured issuer %q", u, ep.Issuer, c.cfg.Issuer)
	}
	if ep.AuthorizationURL == "" || ep.TokenURL == "" || ep.JWKSURL == "" {
		return nil, fmt.Errorf("discovery %s: authorization_endpoint, token_endpoint and jwks_uri are required", u)
	}
	c.ep = &ep
	return c.ep, nil
}

// idTokenVerifier builds (once) the id_token verifier on internal/authn.
func (c *Connector) idTokenVerifier(ctx context.Context) (*authn.JWTVerifier, error) {
	ep, err := c.endpoints(ctx)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.verifier != nil {
		return c.verifier, nil
	}
	is := authn.Issuer{Name: c.cfg.ID, Issuer: ep.Issuer, JWKSURL: ep.JWKSURL}
	if c.cfg.Type == config.ConnectorEntra {
		e := c.cfg.Entra
		is = authn.Issuer{Name: c.cfg.ID, Entra: &authn.EntraIssuer{Tenant: e.Tenant, AllowedTenants: e.AllowedTenants,
			Versions: []int{2}, ClientID: c.cfg.ClientID, Authority: strings.TrimRight(e.Authority, "/")}}
		if is.Entra.Authority == "" {
			is.Entra.Authority = DefaultEntraAuthority
		}
	}
	reg, err := authn.NewRegistry(context.WithoutCancel(ctx), []authn.Issuer{is}, authn.Options{Logger: c.log, HTTPClient: c.http, CacheSize: -1, Now: c.now})
	if err != nil {
		return nil, fmt.Errorf("id_token verifier: %w", err)
	}
	v, err := reg.Verifier([]string{c.cfg.ID}, []string{c.cfg.ClientID})
	if err != nil {
		reg.Close()
		return nil, fmt.Errorf("id_token verifier: %w", err)
	}
	c.registry, c.verifier = reg, v
	return v, nil
}

// Close stops the key refresh of the id_token verifier.
func (c *Connector) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.registry != nil {
		return c.registry.Close()
	}
	return nil
}

// AuthCodeURL implements authserver.RedirectConnector. The MCP client's resource
// parameter is not passed on: the provider knows nothing of mcpgate's routes (Entra
// refuses it with AADSTS9010010); the scopes name mcpgate's app instead.
func (c *Connector) AuthCodeURL(ctx context.Context, s authserver.RedirectStart) (string, error) {
	ep, err := c.endpoints(ctx)
	if err != nil {
		return "", err
	}
	q := url.Values{
		"response_type":         {"code"},
		"client_id":             {c.cfg.ClientID},
		"redirect_uri":          {s.RedirectURI},
		"scope":                 {strings.Join(c.scope, " ")},
		"state":                 {s.State},
		"nonce":                 {s.Nonce},
		"code_challenge":        {s.CodeChallenge},
		"code_challenge_method": {"S256"},
	}
	if s.LoginHint != "" {
		q.Set("login_hint", s.LoginHint)
	}
	for _, p := range s.Prompt {
		if p == "login" || p == "select_account" || p == "consent" {
			q.Set("prompt", p)
		}
	}
	for k, v := range c.cfg.AuthParams {
		if q.Get(k) == "" {
			q.Set(k, v)
		}
	}
	sep := "?"
	if strings.Contains(ep.AuthorizationURL, "?") {
		sep = "&"
	}
	return ep.AuthorizationURL + sep + q.Encode(), nil
}

// Exchange implements authserver.RedirectConnector: it redeems the code, verifies the
// id_token (signature, issuer, audience, expiry, nonce), merges the provider's userinfo
// into its claims (withUserinfo: id_token first, userinfo fills the gaps, same sub), maps
// the claims to the mcpgate user and keeps the upstream tokens sealed.
func (c *Connector) Exchange(ctx context.Context, f authserver.RedirectFinish) (authserver.Identity, error) {
	if f.Code == "" {
		return authserver.Identity{}, &authserver.UpstreamError{Code: "invalid_request", Description: "the provider sent neither a code nor an error",
			LogCode: "missing_code", Fix: "Start the sign-in again."}
	}
	ep, err := c.endpoints(ctx)
	if err != nil {
		return authserver.Identity{}, err
	}
	tr, err := c.tokenRequest(ctx, ep.TokenURL, url.Values{"grant_type": {"authorization_code"}, "code": {f.Code},
		"redirect_uri": {f.RedirectURI}, "code_verifier": {f.CodeVerifier}})
	if err != nil {
		return authserver.Identity{}, err
	}
	if tr.IDToken == "" {
		return authserver.Identity{}, &authserver.UpstreamError{Code: "invalid_response", Description: "the token response has no id_token",
			LogCode: "missing_id_token", Fix: "The connector must request the openid scope and the provider must be an OpenID Connect provider."}
	}
	p, err := c.verifyIDToken(ctx, tr.IDToken)
	if err != nil {
		return authserver.Identity{}, fmt.Errorf("id_token refused: %w", err)
	}
	if n, _ := p.Claims["nonce"].(string); n == "" || n != f.Nonce {
		return authserver.Identity{}, errors.New("id_token refused: its nonce does not match the sign-in (replayed or injected response)")
	}
	claims, err := c.withUserinfo(ctx, ep, tr.AccessToken, p.Claims)
	if err != nil {
		return authserver.Identity{}, err
	}
	ident, err := c.identity(ctx, ep.TokenURL, claims, tr.RefreshToken)
	if err != nil {
		return authserver.Identity{}, err
	}
	c.warnMissingClaims(ctx, ident, claims)
	if err := c.save(ctx, ident, tr, record{}); err != nil {
		return authserver.Identity{}, fmt.Errorf("keeping the upstream tokens: %w", err)
	}
	c.log.InfoContext(ctx, "federated sign-in", "sub", ident.UserID, "id_token", authn.HashToken(tr.IDToken)[:16], "refresh_token", tr.RefreshToken != "")
	return ident, nil
}

// identity maps verified id_token claims to the mcpgate user, resolving Entra group
// overage with the refresh token when configured.
func (c *Connector) identity(ctx context.Context, tokenURL string, claims map[string]any, refreshToken string) (authserver.Identity, error) {
	var lookedUp []string
	if c.graphLookup() && overage(claims) {
		g, gerr := c.graphGroups(ctx, tokenURL, refreshToken)
		if gerr != nil {
			// Degrade to no groups from the lookup: the sign-in goes on (policies that need a
			// group deny), and the log says why.
			c.log.ErrorContext(ctx, "Entra group overage: the Microsoft Graph group lookup failed; the user signs in without the groups of the token",
				"oid", claimString(claims, "oid"), "err", gerr)
		}
		lookedUp = g
	}
	return c.mapClaims(claims, lookedUp...)
}

// tokenResponse is an OAuth token response.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	IDToken      string `json:"id_token"`
	ExpiresIn    int64  `json:"expires_in"`
	Scope        string `json:"scope"`
	TokenType    string `json:"token_type"`
}

// tokenRequest posts form to the token endpoint with the client's credentials; provider
// errors come back as *authserver.UpstreamError.
func (c *Connector) tokenRequest(ctx context.Context, tokenURL string, form url.Values) (tokenResponse, error) {
	form.Set("client_id", c.cfg.ClientID)
	if c.cfg.ClientSecret != "" {
		form.Set("client_secret", c.cfg.ClientSecret)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, tokenURL, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return tokenResponse{}, fmt.Errorf("token endpoint %s: %w", tokenURL, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err := jsonlimit.Check(body, jsonlimit.Limits{}); err != nil {
		return tokenResponse{}, fmt.Errorf("token endpoint %s: %w", tokenURL, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		if json.Unmarshal(body, &e) != nil || e.Error == "" {
			return tokenResponse{}, fmt.Errorf("token endpoint %s: HTTP %d", tokenURL, resp.StatusCode)
		}
		logCode, fix := c.ExplainError(e.Error, e.Description)
		return tokenResponse{}, &authserver.UpstreamError{Code: e.Error, Description: firstLine(e.Description), LogCode: logCode, Fix: fix}
	}
	var tr tokenResponse
	if err := json.Unmarshal(body, &tr); err != nil || tr.AccessToken == "" {
		return tokenResponse{}, fmt.Errorf("token endpoint %s: the response has no access_token", tokenURL)
	}
	return tr, nil
}

// firstLine keeps Entra's descriptions short (they end with Trace ID / Correlation ID lines).
func firstLine(s string) string {
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		return s[:i]
	}
	return s
}

var (
	_ authserver.RedirectConnector = (*Connector)(nil)
	_ authserver.IdentityLookup    = (*Connector)(nil)
)
