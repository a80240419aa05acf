package upstream

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// OBOConfig configures Entra ID On-Behalf-Of.
type OBOConfig struct {
	// TokenURL is https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token (or the
	// emulator's). Use a tenant or /organizations authority, never /common.
	TokenURL string
	// Auth is ClientSecretPost, ClientSecretBasic or CertificateAssertion.
	Auth ClientAuth
	// Scopes for ONE downstream resource, e.g. ["api://weather-api/.default"].
	Scopes []string
	// AssertionSource, when set, returns the assertion instead of the caller's token: in
	// bridge mode the caller holds an mcpgate token and the assertion is the user's own
	// upstream (Entra) access token kept by the federation connector. An empty result
	// with a nil error falls back to the caller's token (direct mode).
	AssertionSource AssertionSource
	Cache           CacheOptions
	HTTP            *http.Client
	Logger          *slog.Logger
	Now             func() time.Time
}

// NewOBO returns an Entra On-Behalf-Of provider: the caller's token (whose aud must be
// mcpgate's app) is the assertion for a token to the downstream resource.
func NewOBO(c OBOConfig) (Provider, error) {
	if c.TokenURL == "" || c.Auth == nil || len(c.Scopes) == 0 {
		return nil, errors.New("obo: tokenURL, client authentication and scope are required")
	}
	if strings.Contains(c.TokenURL, "/common/") {
		return nil, errors.New("obo: the /common authority cannot be used for On-Behalf-Of: use your tenant id or /organizations")
	}
	tc := newTokenClient(ModeOBO, c.TokenURL, c.Auth, c.HTTP, c.Logger, c.Now)
	return newCachingProvider(ModeOBO, &oboExchanger{tc: tc, scopes: c.Scopes, source: c.AssertionSource}, c.Cache, tc.now, tc.log), nil
}

// AssertionSource returns the OBO assertion for a request ("" = use req.Token).
type AssertionSource func(ctx context.Context, req Request) (string, error)

// tokenFor returns the token to present for req: the source's (the user's upstream token in
// bridge mode) when it supplies one, else the caller's own.
func (src AssertionSource) tokenFor(ctx context.Context, req Request) (string, error) {
	if src != nil {
		t, err := src(ctx, req)
		if err != nil || t != "" {
			return t, err
		}
	}
	return req.Token, nil
}

type oboExchanger struct {
	tc     *tokenClient
	scopes []string
	source AssertionSource
}

func (o *oboExchanger) exchange(ctx context.Context, req Request) (token, error) {
	scope := strings.Join(o.scopes, " ")
	assertion, err := o.source.tokenFor(ctx, req)
	if err != nil {
		return token{}, err
	}
	form := url.Values{
		"grant_type":          {"urn:ietf:params:oauth:grant-type:jwt-bearer"},
		"requested_token_use": {"on_behalf_of"},
		"assertion":           {assertion},
		"scope":               {scope},
	}
	t, _, err := o.tc.exchange(ctx, form, scope)
	return t, err
}

func (o *oboExchanger) cacheIdentity() (string, []string) { return o.tc.tokenURL, o.scopes }
func (o *oboExchanger) perCaller() bool                   { return true }

func newTokenClient(mode, tokenURL string, auth ClientAuth, hc *http.Client, log *slog.Logger, now func() time.Time) *tokenClient {
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if now == nil {
		now = time.Now
	}
	return &tokenClient{mode: mode, tokenURL: tokenURL, auth: auth, http: hc, log: log, now: now}
}
