package authserver

import (
	"context"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// The key sets of private_key_jwt clients registered with a jwks_uri are cached per URI,
// so that a token, introspection or revocation request does not fetch the client's keys
// each time (nor lets a client make the server fetch on every request):
//
//   - a set is used for jwksTTL after it was fetched;
//   - an assertion whose kid is not in the set refetches it (the client rotated its keys),
//     but at most once per jwksMinRefresh per URI, so random kids cost one fetch;
//   - when a refetch fails, the last set is used for up to jwksStaleMax after it was
//     fetched: a client's key server being down does not stop its token requests at once;
//   - one fetch per URI at a time; at most maxJWKSURIs URIs are kept.
const (
	jwksTTL        = 5 * time.Minute
	jwksMinRefresh = 30 * time.Second
	jwksStaleMax   = time.Hour
	maxJWKSURIs    = 1000
)

type jwksCache struct {
	mu sync.Mutex
	m  map[string]*jwksEntry
}

type jwksEntry struct {
	mu      sync.Mutex // held while fetching
	set     *jose.JSONWebKeySet
	fetched time.Time // when set was fetched
	tried   time.Time // the last fetch attempt
}

// keys returns the key set at uri for an assertion signed with kid, fetching it with
// fetch when the cache says so.
func (c *jwksCache) keys(ctx context.Context, uri, kid string, now time.Time,
	fetch func(context.Context, string) (*jose.JSONWebKeySet, error)) (*jose.JSONWebKeySet, error) {
	e := c.entry(uri)
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.set != nil {
		age := now.Sub(e.fetched)
		hasKid := kid == "" || len(e.set.Key(kid)) > 0
		switch {
		case age < jwksTTL && hasKid:
			return e.set, nil
		case now.Sub(e.tried) < jwksMinRefresh:
			return e.set, nil // fetched (or tried) just now: a missing kid stays missing
		}
	}
	e.tried = now
	set, err := fetch(ctx, uri)
	if err != nil {
		if e.set != nil && now.Sub(e.fetched) < jwksStaleMax {
			return e.set, nil
		}
		return nil, err
	}
	e.set, e.fetched = set, now
	return set, nil
}

func (c *jwksCache) entry(uri string) *jwksEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[uri]; ok {
		return e
	}
	if c.m == nil {
		c.m = map[string]*jwksEntry{}
	}
	if len(c.m) >= maxJWKSURIs {
		for k := range c.m { // drop one at random: registrations are rate-limited anyway
			delete(c.m, k)
			break
		}
	}
	e := &jwksEntry{}
	c.m[uri] = e
	return e
}
