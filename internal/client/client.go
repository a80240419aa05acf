package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/mcpgate/mcpgate/internal/xaa"
)

// LatestProtocolVersion is the MCP protocol version sent on metadata requests.
const LatestProtocolVersion = "2025-11-25"

// Options configure a Client. Only ServerURL is required.
type Options struct {
	// ServerURL is the MCP server (Streamable HTTP endpoint) to sign in to.
	ServerURL string

	// ClientID and ClientSecret name a pre-registered client (first registration choice).
	ClientID, ClientSecret string
	// ClientMetadataURL is an https URL serving this client's Client ID Metadata Document; used
	// as the client_id when the AS advertises client_id_metadata_document_supported.
	ClientMetadataURL string
	// ClientName is the client_name sent in dynamic registration (default "mcpgate").
	ClientName string

	// Resource overrides the RFC 8707 resource (default: the PRM resource, else the server URL).
	Resource string
	// NoResource leaves the resource parameter out (for Entra v2 without identifierUris).
	NoResource bool
	// Scopes overrides scope selection.
	Scopes []string
	// AllowMissingPKCEMetadata signs in even when the AS metadata does not list S256 in
	// code_challenge_methods_supported (Entra). PKCE S256 is still used.
	AllowMissingPKCEMetadata bool

	// RedirectPort fixes the loopback callback port (0: reuse the registered one, else random).
	RedirectPort int
	// Device uses the device authorization grant (RFC 8628) instead of a browser redirect.
	Device bool
	// OpenURL shows the authorization URL to the user. Default: print it to Prompt and open the
	// system browser.
	OpenURL func(ctx context.Context, authURL string) error
	// NoBrowser only prints the URL.
	NoBrowser bool
	// Prompt receives the messages for the user (default os.Stderr).
	Prompt io.Writer

	// CacheDir holds the token cache (default os.UserConfigDir()/mcpgate/tokens).
	CacheDir string
	// HTTPClient is used for every request (default http.DefaultClient).
	HTTPClient *http.Client
	// Logger gets debug and info logs; nil discards them. Tokens are never logged.
	Logger *slog.Logger
	// MaxAuthorizations bounds the authorization attempts per request (default 3).
	MaxAuthorizations int
	// RefreshBefore refreshes tokens that expire within this window (default 1 minute).
	RefreshBefore time.Duration
	// LockTimeout bounds the wait for another process's sign-in (default 10 minutes).
	LockTimeout time.Duration
	// Enterprise, when set, obtains tokens through the enterprise IdP (ID-JAG) where the
	// server supports it (enterprise.go).
	Enterprise *Enterprise
}

// Client signs in to one MCP server and keeps its token.
type Client struct {
	opts  Options
	cache *Cache
	key   string
	// issuerOnly: ServerURL is an authorization server (the enterprise IdP), not an MCP server.
	issuerOnly bool
}

// New checks the options and returns a Client.
func New(opts Options) (*Client, error) {
	canon, err := CanonicalResource(opts.ServerURL)
	if err != nil {
		return nil, err
	}
	if opts.Resource != "" && opts.NoResource {
		return nil, errors.New("--resource and --no-resource are mutually exclusive")
	}
	if opts.Resource != "" {
		if _, err := CanonicalResource(opts.Resource); err != nil && !strings.HasPrefix(opts.Resource, "api://") {
			return nil, fmt.Errorf("--resource: %w", err)
		}
	}
	if opts.ClientSecret != "" && opts.ClientID == "" {
		return nil, errors.New("--client-secret needs --client-id")
	}
	if opts.ClientMetadataURL != "" {
		if !strings.HasPrefix(opts.ClientMetadataURL, "https://") || len(strings.SplitN(strings.TrimPrefix(opts.ClientMetadataURL, "https://"), "/", 2)) < 2 {
			return nil, fmt.Errorf("--client-metadata-url %q must be an https URL with a path", opts.ClientMetadataURL)
		}
	}
	if opts.CacheDir == "" {
		d, err := DefaultCacheDir()
		if err != nil {
			return nil, err
		}
		opts.CacheDir = d
	}
	if opts.MaxAuthorizations <= 0 {
		opts.MaxAuthorizations = 3
	}
	if opts.RefreshBefore <= 0 {
		opts.RefreshBefore = time.Minute
	}
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = 10 * time.Minute
	}
	if opts.Prompt == nil {
		opts.Prompt = os.Stderr
	}
	if opts.ClientName == "" {
		opts.ClientName = "mcpgate"
	}
	c := &Client{opts: opts, cache: &Cache{Dir: opts.CacheDir}}
	c.key = CacheKey(canon, c.resourceSetting())
	return c, nil
}

// DefaultCacheDir is os.UserConfigDir()/mcpgate/tokens.
func DefaultCacheDir() (string, error) {
	d, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("finding the user config folder for the token cache: %w (set $XDG_CONFIG_HOME or $HOME)", err)
	}
	return filepath.Join(d, "mcpgate", "tokens"), nil
}

// resourceSetting is the configured resource choice, part of the cache key.
func (c *Client) resourceSetting() string {
	switch {
	case c.opts.NoResource:
		return "-"
	case c.opts.Resource != "":
		return c.opts.Resource
	}
	return ""
}

// ServerURL returns the server this client signs in to.
func (c *Client) ServerURL() string { return c.opts.ServerURL }

// Cache returns the client's token cache.
func (c *Client) Cache() *Cache { return c.cache }

// CacheKey returns the cache key of this client's server and resource setting.
func (c *Client) CacheKey() string { return c.key }

func (c *Client) http() *http.Client {
	if c.opts.HTTPClient != nil {
		return c.opts.HTTPClient
	}
	return http.DefaultClient
}

func (c *Client) log() *slog.Logger {
	if c.opts.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.opts.Logger
}

// Entry returns the cached sign-in, or nil.
func (c *Client) Entry() (*Entry, error) { return c.cache.Load(c.key) }

// Logout removes the cached sign-in and, when the authorization server has a revocation
// endpoint (RFC 7009), revokes the refresh token (else the access token) first. Revocation is
// best effort: a failure is logged and the cache entry is removed anyway. It reports whether
// there was a sign-in.
func (c *Client) Logout(ctx context.Context) (bool, error) {
	unlock, err := c.cache.Lock(ctx, c.key, c.opts.LockTimeout)
	if err != nil {
		return false, err
	}
	defer unlock()
	if e, err := c.cache.Load(c.key); err == nil && e != nil && e.Server.RevocationEndpoint != "" {
		form := url.Values{"token": {e.Token.RefreshToken}, "token_type_hint": {"refresh_token"}}
		if e.Token.RefreshToken == "" {
			form = url.Values{"token": {e.Token.AccessToken}, "token_type_hint": {"access_token"}}
		}
		_, status, err := c.postForm(ctx, e.Server.RevocationEndpoint, e.Registration, form)
		if err != nil || status != http.StatusOK {
			c.log().Warn("token revocation failed; removing the cached sign-in anyway", "status", status, "err", err)
		} else {
			c.log().Info("token revoked", "server", c.opts.ServerURL)
		}
	}
	return c.cache.Delete(c.key)
}

// Token returns a usable cached token, refreshing it when it is about to expire. It returns
// (nil, nil) when the user must sign in.
func (c *Client) Token(ctx context.Context) (*Token, error) {
	e, err := c.cache.Load(c.key)
	if err != nil || e == nil || e.Token.AccessToken == "" {
		return nil, err
	}
	if !e.Token.expiresWithin(c.opts.RefreshBefore) {
		return &e.Token, nil
	}
	if e.Token.RefreshToken == "" {
		if !e.Token.expiresWithin(0) {
			return &e.Token, nil
		}
		return nil, nil
	}
	t, err := c.refreshLocked(ctx, e.Token.AccessToken)
	if err != nil {
		c.log().Info("refresh failed; a new sign-in is needed", "err", err)
		return nil, nil
	}
	return t, nil
}

// Refresh forces a refresh-token grant (when the server rejected stale, the token we sent).
func (c *Client) Refresh(ctx context.Context, stale string) (*Token, error) {
	return c.refreshLocked(ctx, stale)
}

func (c *Client) refreshLocked(ctx context.Context, stale string) (*Token, error) {
	unlock, err := c.cache.Lock(ctx, c.key, c.opts.LockTimeout)
	if err != nil {
		return nil, err
	}
	defer unlock()
	e, err := c.cache.Load(c.key)
	if err != nil || e == nil {
		return nil, errors.Join(err, errors.New("not signed in"))
	}
	// Another process may have refreshed while we waited for the lock.
	if e.Token.AccessToken != stale && !e.Token.expiresWithin(c.opts.RefreshBefore) {
		return &e.Token, nil
	}
	if e.Token.RefreshToken == "" {
		return nil, errors.New("no refresh token")
	}
	t, err := c.refresh(ctx, e)
	if err != nil {
		return nil, err
	}
	e.Token = *t
	if err := c.cache.Save(e); err != nil {
		return nil, err
	}
	c.log().Info("token refreshed", "server", c.opts.ServerURL, "token", tokenID(t.AccessToken), "expires", t.Expiry)
	return t, nil
}

// Login signs in (or reuses a sign-in another process just completed). ch is the challenge
// that asked for it (zero for an explicit login); stale is the access token that was rejected
// ("" for none); force skips reuse of a still-valid cached token.
func (c *Client) Login(ctx context.Context, ch Challenge, stale string, force bool) (*Token, error) {
	unlock, err := c.cache.Lock(ctx, c.key, c.opts.LockTimeout)
	if err != nil {
		return nil, err
	}
	defer unlock()
	prev, err := c.cache.Load(c.key)
	if err != nil {
		return nil, err
	}
	if prev != nil && !force && prev.Token.AccessToken != "" && prev.Token.AccessToken != stale &&
		!prev.Token.expiresWithin(0) && scopesCover(prev.Token.Scope, prev.Scopes, ch.Scope) {
		c.log().Info("reusing the cached sign-in", "server", c.opts.ServerURL, "token", tokenID(prev.Token.AccessToken))
		return &prev.Token, nil
	}
	if prev != nil && !force && stale == "" && prev.Token.RefreshToken != "" && scopesCover(prev.Token.Scope, prev.Scopes, ch.Scope) {
		if t, err := c.refresh(ctx, prev); err == nil {
			prev.Token = *t
			if err := c.cache.Save(prev); err != nil {
				return nil, err
			}
			c.log().Info("refreshed the cached sign-in", "server", c.opts.ServerURL, "token", tokenID(t.AccessToken))
			return t, nil
		} else {
			c.log().Info("refresh failed; signing in again", "err", err)
		}
	}
	if c.opts.Enterprise != nil { // enterprise.go
		e, err := c.enterpriseLogin(ctx)
		if err == nil {
			if err := c.cache.Save(e); err != nil {
				return nil, err
			}
			return &e.Token, nil
		}
		if !errors.Is(err, xaa.ErrNotSupported) {
			return nil, err
		}
		c.log().Info("the server does not support enterprise-managed authorization; signing in directly", "server", c.opts.ServerURL)
	}
	e, err := c.authorize(ctx, ch, prev)
	if err != nil {
		return nil, err
	}
	if err := c.cache.Save(e); err != nil {
		return nil, err
	}
	return &e.Token, nil
}

// scopesCover reports whether a token granted (or, without a granted list, requested) scopes
// covers the challenged ones.
func scopesCover(granted, requested, challenged string) bool {
	if challenged == "" {
		return true
	}
	have := strings.Fields(granted)
	if len(have) == 0 {
		have = strings.Fields(requested)
	}
	for _, s := range strings.Fields(challenged) {
		if !slices.Contains(have, s) {
			return false
		}
	}
	return true
}
