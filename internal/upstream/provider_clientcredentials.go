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

// ClientCredentialsConfig configures the client credentials grant (RFC 6749 §4.4): the
// upstream sees mcpgate's app identity, never the user's. Use it for tools that must not act
// as the user.
type ClientCredentialsConfig struct {
	TokenURL string
	Auth     ClientAuth
	Scopes   []string
	// Resource is sent as the RFC 8707 resource parameter when set (x/oauth2's
	// clientcredentials only sends it through EndpointParams; we always send it).
	Resource []string
	Cache    CacheOptions
	HTTP     *http.Client
	Logger   *slog.Logger
	Now      func() time.Time
}

// NewClientCredentials returns a client credentials provider. Tokens are shared by all
// callers of the route and cached until shortly before expiry.
func NewClientCredentials(c ClientCredentialsConfig) (Provider, error) {
	if c.TokenURL == "" || c.Auth == nil {
		return nil, errors.New("clientCredentials: tokenURL and client authentication are required")
	}
	if c.Cache.Cache == nil {
		c.Cache.Cache = NewMemoryCache(16)
	}
	tc := newTokenClient(ModeClientCredentials, c.TokenURL, c.Auth, c.HTTP, c.Logger, c.Now)
	return newCachingProvider(ModeClientCredentials, &ccExchanger{tc: tc, c: c}, c.Cache, tc.now, tc.log), nil
}

type ccExchanger struct {
	tc *tokenClient
	c  ClientCredentialsConfig
}

func (x *ccExchanger) exchange(ctx context.Context, _ Request) (token, error) {
	form := url.Values{"grant_type": {"client_credentials"}}
	scope := strings.Join(x.c.Scopes, " ")
	if scope != "" {
		form.Set("scope", scope)
	}
	for _, r := range x.c.Resource {
		form.Add("resource", r)
	}
	t, _, err := x.tc.exchange(ctx, form, scope)
	return t, err
}

func (x *ccExchanger) cacheIdentity() (string, []string) {
	return x.c.TokenURL + "|" + x.c.Auth.clientID() + "|" + strings.Join(x.c.Resource, ","), x.c.Scopes
}
func (x *ccExchanger) perCaller() bool { return false }
