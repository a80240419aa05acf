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

// Token type URIs (RFC 8693 §3).
const (
	TokenTypeAccessToken = "urn:ietf:params:oauth:token-type:access_token"
	TokenTypeJWT         = "urn:ietf:params:oauth:token-type:jwt"
	TokenTypeIDToken     = "urn:ietf:params:oauth:token-type:id_token"
)

// TokenExchangeConfig configures RFC 8693 token exchange.
type TokenExchangeConfig struct {
	TokenURL string
	// Auth authenticates mcpgate (nil: no client authentication).
	Auth ClientAuth
	// Audience, Resource and Scopes name the target (any combination).
	Audience string
	Resource []string
	Scopes   []string
	// SubjectTokenType is the caller token's type; default access_token.
	SubjectTokenType string
	// RequestedTokenType; default none (the AS decides). The response's issued_token_type
	// is required either way.
	RequestedTokenType string
	// ActorToken, when set, returns the actor token (for example mcpgate's own client
	// credentials token) and its type, sent as actor_token/actor_token_type.
	ActorToken func(ctx context.Context) (token, tokenType string, err error)
	// SubjectTokenSource, when set, returns the subject token instead of the caller's token
	// (bridge mode: the user's upstream IdP token; "" falls back to the caller's token).
	SubjectTokenSource AssertionSource
	Cache              CacheOptions
	HTTP               *http.Client
	Logger             *slog.Logger
	Now                func() time.Time
}

// NewTokenExchange returns an RFC 8693 provider.
func NewTokenExchange(c TokenExchangeConfig) (Provider, error) {
	if c.TokenURL == "" {
		return nil, errors.New("tokenExchange: tokenURL is required")
	}
	if c.Audience == "" && len(c.Resource) == 0 && len(c.Scopes) == 0 {
		return nil, errors.New("tokenExchange: name the target with audience, resource or scopes")
	}
	if c.SubjectTokenType == "" {
		c.SubjectTokenType = TokenTypeAccessToken
	}
	tc := newTokenClient(ModeTokenExchange, c.TokenURL, c.Auth, c.HTTP, c.Logger, c.Now)
	return newCachingProvider(ModeTokenExchange, &tokenExchanger{tc: tc, c: c}, c.Cache, tc.now, tc.log), nil
}

type tokenExchanger struct {
	tc *tokenClient
	c  TokenExchangeConfig
}

func (x *tokenExchanger) exchange(ctx context.Context, req Request) (token, error) {
	c := x.c
	subject, err := c.SubjectTokenSource.tokenFor(ctx, req)
	if err != nil {
		return token{}, err
	}
	form := url.Values{
		"grant_type":         {"urn:ietf:params:oauth:grant-type:token-exchange"},
		"subject_token":      {subject},
		"subject_token_type": {c.SubjectTokenType},
	}
	if c.Audience != "" {
		form.Set("audience", c.Audience)
	}
	for _, r := range c.Resource {
		form.Add("resource", r)
	}
	scope := strings.Join(c.Scopes, " ")
	if scope != "" {
		form.Set("scope", scope)
	}
	if c.RequestedTokenType != "" {
		form.Set("requested_token_type", c.RequestedTokenType)
	}
	if c.ActorToken != nil {
		at, typ, err := c.ActorToken(ctx)
		if err != nil {
			var f *Failure
			if errors.As(err, &f) {
				return token{}, err
			}
			return token{}, &Failure{Mode: ModeTokenExchange, Reason: ReasonConfig, Description: "obtaining the actor token: " + err.Error()}
		}
		form.Set("actor_token", at)
		form.Set("actor_token_type", typ)
	}
	t, tr, err := x.tc.exchange(ctx, form, scope)
	if err != nil {
		return token{}, err
	}
	if tr.IssuedTokenType == "" {
		return token{}, &Failure{Mode: ModeTokenExchange, Reason: ReasonInvalidResponse, Status: 200, Permanent: true,
			Description: "the token exchange response has no issued_token_type (RFC 8693 §2.2.1 requires it); is this endpoint really an RFC 8693 token exchange? (for Entra use mode obo)"}
	}
	if c.RequestedTokenType != "" && tr.IssuedTokenType != c.RequestedTokenType {
		return token{}, &Failure{Mode: ModeTokenExchange, Reason: ReasonInvalidResponse, Status: 200, Permanent: true,
			Description: "issued_token_type " + tr.IssuedTokenType + " is not the requested " + c.RequestedTokenType}
	}
	return t, nil
}

func (x *tokenExchanger) cacheIdentity() (string, []string) {
	return x.c.TokenURL + "|" + x.c.Audience + "|" + strings.Join(x.c.Resource, ",") + "|" + x.c.RequestedTokenType, x.c.Scopes
}
func (x *tokenExchanger) perCaller() bool { return true }
