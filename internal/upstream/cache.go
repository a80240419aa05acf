package upstream

import (
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"sort"
	"strings"
	"sync"
	"time"
)

// CachedToken is an exchanged access token held in a Cache.
type CachedToken struct {
	AccessToken string
	ExpiresAt   time.Time
}

// Cache holds exchanged tokens. Keys are already hashes (no raw tokens); values are access
// tokens for upstreams, so a shared implementation (Redis) should seal them with
// internal/secrets. Implementations must be safe for concurrent use.
type Cache interface {
	// Get returns the token for key, if present. Expiry is the caller's business.
	Get(ctx context.Context, key string) (CachedToken, bool)
	// Set stores tok until tok.ExpiresAt.
	Set(ctx context.Context, key string, tok CachedToken)
	// Delete drops key.
	Delete(ctx context.Context, key string)
}

// CacheKey derives the cache key for an exchange: the caller's token hash, the upstream
// identity (mode + token URL + audience/resource) and the sorted scopes.
func CacheKey(callerTokenHash, upstream string, scopes []string) string {
	s := append([]string(nil), scopes...)
	sort.Strings(s)
	h := sha256.New()
	h.Write([]byte(callerTokenHash))
	h.Write([]byte{0})
	h.Write([]byte(upstream))
	h.Write([]byte{0})
	h.Write([]byte(strings.Join(s, " ")))
	return hex.EncodeToString(h.Sum(nil))
}

// MemoryCache is a bounded in-process LRU Cache.
type MemoryCache struct {
	mu    sync.Mutex
	max   int
	ll    *list.List
	items map[string]*list.Element
	now   func() time.Time
}

type memEntry struct {
	key string
	tok CachedToken
}

// NewMemoryCache returns an LRU holding at most maxEntries tokens (default 10000).
func NewMemoryCache(maxEntries int) *MemoryCache {
	if maxEntries <= 0 {
		maxEntries = 10000
	}
	return &MemoryCache{max: maxEntries, ll: list.New(), items: map[string]*list.Element{}, now: time.Now}
}

// Get implements Cache. Expired entries are dropped.
func (c *MemoryCache) Get(_ context.Context, key string) (CachedToken, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[key]
	if !ok {
		return CachedToken{}, false
	}
	e := el.Value.(*memEntry)
	if !e.tok.ExpiresAt.IsZero() && !c.now().Before(e.tok.ExpiresAt) {
		c.ll.Remove(el)
		delete(c.items, key)
		return CachedToken{}, false
	}
	c.ll.MoveToFront(el)
	return e.tok, true
}

// Set implements Cache, evicting the least recently used entry when full.
func (c *MemoryCache) Set(_ context.Context, key string, tok CachedToken) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok {
		el.Value.(*memEntry).tok = tok
		c.ll.MoveToFront(el)
		return
	}
	c.items[key] = c.ll.PushFront(&memEntry{key: key, tok: tok})
	for c.ll.Len() > c.max {
		last := c.ll.Back()
		c.ll.Remove(last)
		delete(c.items, last.Value.(*memEntry).key)
	}
}

// Delete implements Cache.
func (c *MemoryCache) Delete(_ context.Context, key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok {
		c.ll.Remove(el)
		delete(c.items, key)
	}
}

// Len returns the number of entries.
func (c *MemoryCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ll.Len()
}
