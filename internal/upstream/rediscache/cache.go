package rediscache

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/mcpgate/mcpgate/internal/secrets"
	"github.com/mcpgate/mcpgate/internal/upstream"
)

// Cache is a Redis-backed upstream.Cache.
type Cache struct {
	rdb    redis.UniversalClient
	keys   *secrets.Keyring
	prefix string
	log    *slog.Logger
}

// New returns a cache storing under prefix (default "mcpgate:xtok:"). keys seal values.
func New(rdb redis.UniversalClient, keys *secrets.Keyring, prefix string, log *slog.Logger) *Cache {
	if prefix == "" {
		prefix = "mcpgate:xtok:"
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Cache{rdb: rdb, keys: keys, prefix: prefix, log: log}
}

type entry struct {
	AT  string `json:"at"`
	Exp int64  `json:"exp"`
}

func aad(key string) []byte { return []byte("mcpgate-xtok\x00" + key) }

// Get implements upstream.Cache. Redis errors and unreadable entries are misses.
func (c *Cache) Get(ctx context.Context, key string) (upstream.CachedToken, bool) {
	v, err := c.rdb.Get(ctx, c.prefix+key).Result()
	if err != nil {
		if err != redis.Nil {
			c.log.WarnContext(ctx, "exchanged-token cache read failed", "err", err)
		}
		return upstream.CachedToken{}, false
	}
	pt, err := c.keys.Open(v, aad(key))
	if err != nil {
		c.log.WarnContext(ctx, "exchanged-token cache entry does not unseal; ignoring it", "err", err)
		return upstream.CachedToken{}, false
	}
	var e entry
	if json.Unmarshal(pt, &e) != nil {
		return upstream.CachedToken{}, false
	}
	t := upstream.CachedToken{AccessToken: e.AT}
	if e.Exp != 0 {
		t.ExpiresAt = time.UnixMilli(e.Exp)
	}
	return t, true
}

// Set implements upstream.Cache; the entry expires with the token.
func (c *Cache) Set(ctx context.Context, key string, tok upstream.CachedToken) {
	ttl := time.Until(tok.ExpiresAt)
	if tok.ExpiresAt.IsZero() || ttl <= 0 {
		return
	}
	b, _ := json.Marshal(entry{AT: tok.AccessToken, Exp: tok.ExpiresAt.UnixMilli()})
	sealed, err := c.keys.Seal(b, aad(key))
	if err != nil {
		return
	}
	if err := c.rdb.Set(ctx, c.prefix+key, sealed, ttl).Err(); err != nil {
		c.log.WarnContext(ctx, "exchanged-token cache write failed", "err", err)
	}
}

// Delete implements upstream.Cache.
func (c *Cache) Delete(ctx context.Context, key string) {
	c.rdb.Del(ctx, c.prefix+key)
}

var _ upstream.Cache = (*Cache)(nil)
