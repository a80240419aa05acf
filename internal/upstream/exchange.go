package upstream

import (
	"context"
	"log/slog"
	"time"

	"golang.org/x/sync/singleflight"
)

// exchanger performs one token exchange for a caller (OBO, RFC 8693, client credentials).
type exchanger interface {
	exchange(ctx context.Context, req Request) (token, error)
	// cacheIdentity names the upstream and scopes for the cache key (no secrets).
	cacheIdentity() (upstream string, scopes []string)
	// perCaller is false when the token does not depend on the caller (client credentials).
	perCaller() bool
}

// cachingProvider wraps an exchanger with the exchanged-token cache and single-flight.
type cachingProvider struct {
	mode  string
	ex    exchanger
	cache Cache
	sf    singleflight.Group
	skew  time.Duration
	now   func() time.Time
	log   *slog.Logger
}

// CacheOptions tunes the exchanged-token cache of a provider.
type CacheOptions struct {
	// Cache is shared between providers; nil means no caching (every call exchanges).
	Cache Cache
	// Skew: a cached token is used only until ExpiresAt-Skew. Default 60s.
	Skew time.Duration
}

func newCachingProvider(mode string, ex exchanger, co CacheOptions, now func() time.Time, log *slog.Logger) *cachingProvider {
	skew := co.Skew
	if skew <= 0 {
		skew = 60 * time.Second
	}
	return &cachingProvider{mode: mode, ex: ex, cache: co.Cache, skew: skew, now: now, log: log}
}

func (p *cachingProvider) key(req Request) string {
	up, scopes := p.ex.cacheIdentity()
	caller := "app"
	if p.ex.perCaller() {
		caller = req.tokenHash()
	}
	return CacheKey(caller, p.mode+"|"+up, scopes)
}

func (p *cachingProvider) Credential(ctx context.Context, req Request) (Credential, error) {
	if p.ex.perCaller() && req.Token == "" {
		return Credential{}, &Failure{Mode: p.mode, Reason: ReasonNoCallerToken, Permanent: true,
			Description: "this route exchanges the caller's token, but the request carried none: use auth mode strict on the route"}
	}
	key := p.key(req)
	if p.cache != nil {
		if t, ok := p.cache.Get(ctx, key); ok && p.usable(t.ExpiresAt) {
			return Credential{Header: bearer(t.AccessToken), Mode: p.mode, ExpiresAt: t.ExpiresAt, Cached: true}, nil
		}
	}
	// Concurrent calls for the same key make one exchange. The exchange runs detached from
	// the first caller's cancellation so that one impatient caller does not fail the others.
	ch := p.sf.DoChan(key, func() (any, error) {
		if p.cache != nil { // another flight may have just filled it
			if t, ok := p.cache.Get(ctx, key); ok && p.usable(t.ExpiresAt) {
				return t, nil
			}
		}
		xctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		t, err := p.ex.exchange(xctx, req)
		if err != nil {
			return nil, err
		}
		ct := CachedToken{AccessToken: t.AccessToken, ExpiresAt: t.ExpiresAt}
		if p.cache != nil && !t.ExpiresAt.IsZero() && p.usable(t.ExpiresAt) {
			p.cache.Set(xctx, key, ct)
		}
		p.log.DebugContext(ctx, "upstream token exchanged", "mode", p.mode, "route", req.Route, "caller_token_sha256", req.tokenHash(), "expires_at", t.ExpiresAt)
		return ct, nil
	})
	select {
	case <-ctx.Done():
		return Credential{}, &Failure{Mode: p.mode, Reason: ReasonIdPUnreachable, Description: "request cancelled while waiting for the token exchange", Err: ctx.Err()}
	case r := <-ch:
		if r.Err != nil {
			return Credential{}, r.Err
		}
		t := r.Val.(CachedToken)
		return Credential{Header: bearer(t.AccessToken), Mode: p.mode, ExpiresAt: t.ExpiresAt}, nil
	}
}

func (p *cachingProvider) usable(exp time.Time) bool {
	return exp.IsZero() || p.now().Add(p.skew).Before(exp)
}
