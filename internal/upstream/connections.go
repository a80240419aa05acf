package upstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/mcpgate/mcpgate/internal/ui"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/mcpgate/mcpgate/internal/secrets"
	"github.com/mcpgate/mcpgate/internal/store"
)

// OAuthApp is a third-party service users connect their accounts to: mcpgate is an OAuth
// client there (authorization code + PKCE, refresh tokens).
type OAuthApp struct {
	// Name is the id used in URLs and config (e.g. "github").
	Name string
	// DisplayName is shown on pages (default Name).
	DisplayName  string
	AuthorizeURL string
	TokenURL     string
	// RevocationURL (RFC 7009), used on disconnect when set.
	RevocationURL string
	ClientID      string
	ClientSecret  string
	// AuthMethod is client_secret_post (default) or client_secret_basic.
	AuthMethod string
	Scopes     []string
	// Resource is sent as the RFC 8707 resource on authorize, code exchange and refresh.
	Resource string
	// AuthParams are extra authorize parameters (e.g. prompt=consent, access_type=offline).
	AuthParams map[string]string
	// Issuer, when known, is the authorization server's issuer: a callback's RFC 9207 iss
	// must equal it (otherwise only its host must match AuthorizeURL's).
	Issuer string

	// MCPServer, when set, makes the connection discovered: it is the URL of the MCP
	// server the tokens are for, whose protected resource metadata (RFC 9728) names the
	// authorization server, whose metadata (RFC 8414 or OpenID Connect) gives the
	// endpoints. AuthorizeURL, TokenURL, RevocationURL and Resource are then discovered,
	// Scopes default to the server's scopes_supported, and without ClientID mcpgate
	// registers itself (client ID metadata document, else dynamic registration).
	MCPServer string
	// MetadataHosts is the allow-list of hosts discovery, registration and token requests
	// of a discovered connection may reach (default: MCPServer's host). Private and
	// loopback addresses are refused unless listed as IP addresses or localhost.
	MetadataHosts []string
	// DiscoveryTimeout bounds each discovery request (default DefaultDiscoveryTimeout).
	DiscoveryTimeout time.Duration

	// OfferTo, when set, offers the connection only to users in one of these groups:
	// others do not see it on their connections page, cannot link it, and are told it is
	// not offered to them instead of being asked to link it. Empty: offered to everyone.
	OfferTo []string
	// RequiredFor are groups whose users must link the connection: until they do, every
	// request on a route that uses it (initialize and lists included) asks them to, rather
	// than only the calls that need it; the connections page marks it as required.
	RequiredFor []string
}

// offered reports whether the app is offered to a user in groups.
func (a OAuthApp) offered(groups []string) bool {
	return len(a.OfferTo) == 0 || intersects(a.OfferTo, groups)
}

// required reports whether a user in groups must link the app.
func (a OAuthApp) required(groups []string) bool {
	return intersects(a.RequiredFor, groups)
}

func intersects(a, b []string) bool {
	for _, x := range a {
		if slices.Contains(b, x) {
			return true
		}
	}
	return false
}

func (a OAuthApp) display() string {
	if a.DisplayName != "" {
		return a.DisplayName
	}
	return a.Name
}

func (a OAuthApp) clientAuth() ClientAuth {
	if a.ClientSecret == "" {
		return PublicClient{ID: a.ClientID}
	}
	if a.AuthMethod == "client_secret_basic" {
		return ClientSecretBasic{ID: a.ClientID, Secret: a.ClientSecret}
	}
	return ClientSecretPost{ID: a.ClientID, Secret: a.ClientSecret}
}

// ConnectionsConfig configures per-user connections.
type ConnectionsConfig struct {
	Apps  []OAuthApp
	Store ConnectionStore
	Keys  *secrets.Keyring
	// BaseURL is the absolute public URL the handler is mounted at, e.g.
	// https://mcp.example.com/connections (callbacks are BaseURL/{app}/callback).
	BaseURL string
	// CurrentUser returns the signed-in user of a browser request (the authorization
	// server's session). Required for the pages.
	CurrentUser func(r *http.Request) (subject string, ok bool)
	// LoginURL, when set, is where an anonymous visitor is sent (with the page to return
	// to); otherwise the page answers 401 with instructions.
	LoginURL func(returnTo string) string
	// UserLabel, when set, names the signed-in user on the pages (a name or email)
	// instead of the internal subject id.
	UserLabel func(r *http.Request, subject string) string
	// UserGroups, when set, returns the signed-in user's groups, for the connections
	// offered to or required of some groups only (OAuthApp.OfferTo, RequiredFor).
	// Without it, the pages show every connection and mark none required.
	UserGroups func(r *http.Request, subject string) []string
	// Branding is the operator's name and logo in the page header.
	Branding ui.Branding
	// RefreshSkew: refresh when the access token expires within this. Default 60s.
	RefreshSkew time.Duration
	// LeaseTTL bounds how long one replica may hold the refresh lease. Default 30s.
	LeaseTTL time.Duration
	HTTP     *http.Client
	Logger   *slog.Logger
	Now      func() time.Time
}

// Connections manages per-user OAuth connections: the provider for routes in mode
// connection, and the connect / callback / list / disconnect pages.
type Connections struct {
	c    ConnectionsConfig
	apps map[string]*connApp
	sf   singleflight.Group
	log  *slog.Logger
}

type connApp struct {
	OAuthApp
	tc *tokenClient
	// resolved caches a discovered app's endpoints (MCPServer set).
	resolved atomic.Pointer[resolvedApp]
}

// NewConnections validates the configuration and returns the manager.
func NewConnections(c ConnectionsConfig) (*Connections, error) {
	if c.Store == nil || c.Keys == nil {
		return nil, errors.New("connections: a store and a secrets keyring are required")
	}
	u, err := url.Parse(c.BaseURL)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("connections: baseURL %q is not an absolute URL such as https://mcp.example.com/connections", c.BaseURL)
	}
	c.BaseURL = strings.TrimRight(c.BaseURL, "/")
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.RefreshSkew <= 0 {
		c.RefreshSkew = 60 * time.Second
	}
	if c.LeaseTTL <= 0 {
		c.LeaseTTL = 30 * time.Second
	}
	cs := &Connections{c: c, apps: map[string]*connApp{}, log: c.Logger}
	for _, a := range c.Apps {
		switch {
		case a.MCPServer != "":
			if _, err := canonicalResource(a.MCPServer); err != nil || a.Name == "" {
				return nil, fmt.Errorf("connections: app %q needs a name and an absolute http(s) mcpServer URL", a.Name)
			}
			if u, _ := url.Parse(a.MCPServer); len(a.MetadataHosts) == 0 && internalHost(u.Hostname()) {
				return nil, fmt.Errorf("connections: app %q: mcpServer %s is on a loopback or private address: list its host in metadataHosts to allow discovery there", a.Name, u.Host)
			}
		case a.Name == "" || a.AuthorizeURL == "" || a.TokenURL == "" || a.ClientID == "":
			return nil, fmt.Errorf("connections: app %q needs name, authorizeURL, tokenURL and clientId (or mcpServer to discover them)", a.Name)
		}
		if _, dup := cs.apps[a.Name]; dup {
			return nil, fmt.Errorf("connections: app %q is configured twice", a.Name)
		}
		ca := &connApp{OAuthApp: a}
		if a.MCPServer == "" {
			ca.tc = newTokenClient(ModeConnection, a.TokenURL, a.clientAuth(), c.HTTP, c.Logger, c.Now)
		}
		cs.apps[a.Name] = ca
	}
	return cs, nil
}

// ConnectURL is the page where the user links app (what NeedsUserAction carries).
func (cs *Connections) ConnectURL(app string) string {
	return cs.c.BaseURL + "/" + url.PathEscape(app) + "/connect"
}

// sealedTokens is the sealed part of a connection.
type sealedTokens struct {
	AccessToken  string `json:"at"`
	RefreshToken string `json:"rt,omitempty"`
}

func aad(subject, app string) []byte {
	return []byte("mcpgate-connection\x00" + subject + "\x00" + app)
}

func (cs *Connections) seal(subject, app string, t sealedTokens) (string, error) {
	b, _ := json.Marshal(t)
	return cs.c.Keys.Seal(b, aad(subject, app))
}

func (cs *Connections) open(rec store.Connection) (sealedTokens, error) {
	b, err := cs.c.Keys.Open(rec.Sealed, aad(rec.Subject, rec.Provider))
	if err != nil {
		return sealedTokens{}, err
	}
	var t sealedTokens
	err = json.Unmarshal(b, &t)
	return t, err
}

// Provider returns the route provider for app (mode connection).
func (cs *Connections) Provider(app string) (Provider, error) {
	a, ok := cs.apps[app]
	if !ok {
		return nil, fmt.Errorf("connection: provider %q is not configured under upstreamCredentials.connections", app)
	}
	return connectionProvider{cs: cs, a: a}, nil
}

// connectionProvider is the provider of one connection: the user's linked token, and a
// reconnect prompt when the upstream refuses it (Challenger).
type connectionProvider struct {
	cs *Connections
	a  *connApp
}

// Credential implements Provider.
func (p connectionProvider) Credential(ctx context.Context, req Request) (Credential, error) {
	cs, a := p.cs, p.a
	sub := req.subject()
	if sub == "" {
		return Credential{}, &Failure{Mode: ModeConnection, Reason: ReasonNoPrincipal, Permanent: true,
			Description: "connections belong to a signed-in user, but the request is anonymous: use auth mode strict on the route"}
	}
	var groups []string
	if req.Principal != nil {
		groups = req.Principal.Groups
	}
	if !a.offered(groups) {
		return Credential{}, &Failure{Mode: ModeConnection, Reason: ReasonNotOffered, Permanent: true,
			Description: fmt.Sprintf("%s is not offered to you: your administrator offers it to the groups %s", a.display(), strings.Join(a.OfferTo, ", "))}
	}
	c, err := cs.credential(ctx, a, sub)
	var nua *NeedsUserAction
	if errors.As(err, &nua) && (safeReturn(req.ReturnURL) != "" || a.required(groups)) {
		cp := *nua // the error may be shared by concurrent callers
		if r := safeReturn(req.ReturnURL); r != "" {
			cp.URL = addQuery(cp.URL, "return", r)
		}
		if a.required(groups) {
			cp.Required = true
			cp.Message = fmt.Sprintf("your administrator requires your %s account to be connected: %s", a.display(), cp.Message)
		}
		return c, &cp
	}
	return c, err
}

// addQuery adds one query parameter to u.
func addQuery(u, k, v string) string {
	sep := "?"
	if strings.Contains(u, "?") {
		sep = "&"
	}
	return u + sep + url.QueryEscape(k) + "=" + url.QueryEscape(v)
}

func (cs *Connections) needsAction(a *connApp, reason, msg string) *NeedsUserAction {
	return &NeedsUserAction{Provider: a.Name, URL: cs.ConnectURL(a.Name), Reason: reason, Message: msg}
}

func (cs *Connections) fresh(rec store.Connection) bool {
	return rec.ExpiresAt.IsZero() || cs.c.Now().Add(cs.c.RefreshSkew).Before(rec.ExpiresAt)
}

func (cs *Connections) credential(ctx context.Context, a *connApp, sub string) (Credential, error) {
	// Local callers for the same connection share one attempt; replicas coordinate
	// through the store's lease.
	ch := cs.sf.DoChan(sub+"\x00"+a.Name, func() (any, error) {
		return cs.credentialOnce(context.WithoutCancel(ctx), a, sub)
	})
	select {
	case <-ctx.Done():
		return Credential{}, &Failure{Mode: ModeConnection, Reason: ReasonIdPUnreachable, Description: "request cancelled while waiting for the connection refresh", Err: ctx.Err()}
	case r := <-ch:
		if r.Err != nil {
			return Credential{}, r.Err
		}
		return r.Val.(Credential), nil
	}
}

func (cs *Connections) credentialOnce(ctx context.Context, a *connApp, sub string) (Credential, error) {
	deadline := time.Now().Add(cs.c.LeaseTTL + 5*time.Second)
	for attempt := 0; time.Now().Before(deadline); attempt++ {
		rec, err := cs.c.Store.GetConnection(ctx, sub, a.Name)
		if errors.Is(err, store.ErrNotFound) {
			return Credential{}, cs.needsAction(a, "connection_missing",
				fmt.Sprintf("connect your %s account to mcpgate first", a.display()))
		}
		if err != nil {
			return Credential{}, &Failure{Mode: ModeConnection, Reason: ReasonStore, Description: "reading the connection: " + err.Error()}
		}
		if rec.Status == StatusBroken {
			return Credential{}, cs.needsAction(a, "connection_broken",
				fmt.Sprintf("your %s connection stopped working (%s); connect it again", a.display(), rec.Reason))
		}
		toks, err := cs.open(rec)
		if err != nil {
			cs.log.ErrorContext(ctx, "connection does not unseal", "provider", a.Name, "subject", sub, "err", err)
			return Credential{}, &Failure{Mode: ModeConnection, Reason: ReasonStore, Permanent: true,
				Description: "the stored connection cannot be decrypted with the configured keys (was a secrets key removed?): " + err.Error()}
		}
		if cs.fresh(rec) {
			return Credential{Header: bearer(toks.AccessToken), Mode: ModeConnection, ExpiresAt: rec.ExpiresAt}, nil
		}
		now := cs.c.Now()
		if now.Before(rec.LeaseUntil) {
			// Another replica is refreshing: wait for its result.
			if err := sleepCtx(ctx, 50*time.Millisecond); err != nil {
				return Credential{}, err
			}
			continue
		}
		if toks.RefreshToken == "" {
			if now.Before(rec.ExpiresAt) {
				return Credential{Header: bearer(toks.AccessToken), Mode: ModeConnection, ExpiresAt: rec.ExpiresAt}, nil
			}
			return Credential{}, cs.needsAction(a, "connection_expired",
				fmt.Sprintf("your %s connection expired and %s gave no refresh token; connect it again", a.display(), a.display()))
		}
		// Take the lease (CAS), refresh, write the result (CAS).
		leased := rec
		leased.Version = rec.Version + 1
		leased.LeaseUntil = now.Add(cs.c.LeaseTTL)
		if err := cs.c.Store.CompareAndSwapConnection(ctx, rec.Version, leased); err != nil {
			if errors.Is(err, store.ErrConflict) {
				continue
			}
			return Credential{}, &Failure{Mode: ModeConnection, Reason: ReasonStore, Description: "taking the refresh lease: " + err.Error()}
		}
		c, err := cs.refresh(ctx, a, leased, toks)
		if errors.Is(err, errLeaseLost) {
			continue // someone relinked or disconnected meanwhile: look again
		}
		return c, err
	}
	return Credential{}, &Failure{Mode: ModeConnection, Reason: ReasonIdPUnreachable, Description: "timed out waiting for another replica to refresh the connection"}
}

func (cs *Connections) refresh(ctx context.Context, a *connApp, leased store.Connection, toks sealedTokens) (Credential, error) {
	ra, err := cs.resolve(ctx, a)
	if err != nil {
		// Discovery failed (transient): release the lease, use the token while it lasts.
		next := leased
		next.Version, next.LeaseUntil = leased.Version+1, time.Time{}
		if cerr := cs.c.Store.CompareAndSwapConnection(ctx, leased.Version, next); cerr != nil {
			cs.log.WarnContext(ctx, "releasing refresh lease failed", "provider", a.Name, "err", cerr)
		}
		if cs.c.Now().Before(leased.ExpiresAt) {
			return Credential{Header: bearer(toks.AccessToken), Mode: ModeConnection, ExpiresAt: leased.ExpiresAt}, nil
		}
		return Credential{}, err
	}
	a = ra
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {toks.RefreshToken}}
	if a.Resource != "" {
		form.Set("resource", a.Resource) // x/oauth2 omits it on refresh (docker/mcp-gateway#563)
	}
	t, _, err := a.tc.exchange(ctx, form, strings.Join(a.Scopes, " "))
	next := leased
	next.Version = leased.Version + 1
	next.LeaseUntil = time.Time{}
	next.UpdatedAt = cs.c.Now()
	if err != nil {
		var f *Failure
		if errors.As(err, &f) && f.Permanent && (f.IdPError == "invalid_grant" || f.Reason == ReasonExchangeRefused) {
			next.Status, next.Reason = StatusBroken, "invalid_grant"
			if cerr := cs.c.Store.CompareAndSwapConnection(ctx, leased.Version, next); cerr != nil {
				cs.log.WarnContext(ctx, "marking connection broken failed", "provider", a.Name, "subject", sub(leased), "err", cerr)
				if errors.Is(cerr, store.ErrConflict) {
					return Credential{}, errLeaseLost
				}
			}
			cs.log.WarnContext(ctx, "connection refresh refused; marked broken", "provider", a.Name, "subject", sub(leased), "idp_error", f.IdPError)
			return Credential{}, cs.needsAction(a, "connection_broken",
				fmt.Sprintf("%s refused to renew your connection (it was revoked or expired); connect it again", a.display()))
		}
		// Transient (or configuration) failure: release the lease, keep the tokens.
		if cerr := cs.c.Store.CompareAndSwapConnection(ctx, leased.Version, next); cerr != nil {
			cs.log.WarnContext(ctx, "releasing refresh lease failed", "provider", a.Name, "err", cerr)
		}
		cs.log.WarnContext(ctx, "connection refresh failed", "provider", a.Name, "subject", sub(leased), "reason", Reason(err))
		if cs.c.Now().Before(leased.ExpiresAt) {
			return Credential{Header: bearer(toks.AccessToken), Mode: ModeConnection, ExpiresAt: leased.ExpiresAt}, nil
		}
		return Credential{}, err
	}
	nt := sealedTokens{AccessToken: t.AccessToken, RefreshToken: toks.RefreshToken}
	if t.RefreshToken != "" { // rotating refresh tokens: the new one replaces the old
		nt.RefreshToken = t.RefreshToken
	}
	sealed, err := cs.seal(leased.Subject, a.Name, nt)
	if err != nil {
		return Credential{}, &Failure{Mode: ModeConnection, Reason: ReasonStore, Description: err.Error()}
	}
	next.Sealed, next.ExpiresAt = sealed, t.ExpiresAt
	if t.Scope != "" {
		next.Scope = t.Scope
	}
	if err := cs.c.Store.CompareAndSwapConnection(ctx, leased.Version, next); err != nil {
		// We held the lease, so this only happens if the user disconnected or relinked
		// meanwhile; the fresh token is still good for this call.
		cs.log.WarnContext(ctx, "storing refreshed connection failed", "provider", a.Name, "subject", sub(leased), "err", err)
	}
	cs.log.InfoContext(ctx, "connection refreshed", "provider", a.Name, "subject", sub(leased), "rotated", t.RefreshToken != "", "expires_at", t.ExpiresAt)
	return Credential{Header: bearer(t.AccessToken), Mode: ModeConnection, ExpiresAt: t.ExpiresAt}, nil
}

func sub(c store.Connection) string { return c.Subject }

// errLeaseLost: the connection changed while this replica held the refresh lease (the
// user relinked or disconnected); the caller re-reads it.
var errLeaseLost = errors.New("connection changed during refresh")

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// link stores a freshly obtained token set for subject (callback).
func (cs *Connections) link(ctx context.Context, a *connApp, subject string, t token) error {
	sealed, err := cs.seal(subject, a.Name, sealedTokens{AccessToken: t.AccessToken, RefreshToken: t.RefreshToken})
	if err != nil {
		return err
	}
	now := cs.c.Now()
	for range 5 {
		rec := store.Connection{Subject: subject, Provider: a.Name, Status: StatusActive, Sealed: sealed, Scope: t.Scope, ExpiresAt: t.ExpiresAt, CreatedAt: now, UpdatedAt: now}
		var old int64
		cur, err := cs.c.Store.GetConnection(ctx, subject, a.Name)
		if err == nil {
			old = cur.Version
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		rec.Version = old + 1
		if err := cs.c.Store.CompareAndSwapConnection(ctx, old, rec); err == nil {
			return nil
		} else if !errors.Is(err, store.ErrConflict) {
			return err
		}
	}
	return store.ErrConflict
}

// Link stores a token set for subject at provider, replacing any existing connection
// (used by the callback; exported for imports and tests).
func (cs *Connections) Link(ctx context.Context, provider, subject, accessToken, refreshToken, scope string, expiresAt time.Time) error {
	a, ok := cs.apps[provider]
	if !ok {
		return fmt.Errorf("connection: provider %q is not configured", provider)
	}
	return cs.link(ctx, a, subject, token{AccessToken: accessToken, RefreshToken: refreshToken, Scope: scope, ExpiresAt: expiresAt})
}

// Interface guards
var (
	_ Provider   = connectionProvider{}
	_ Challenger = connectionProvider{}
)
