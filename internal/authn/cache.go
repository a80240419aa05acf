package authn

import (
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// tokenCache holds verified tokens until their exp, so that a token's signature is checked
// once rather than on every request.
//
// Keying. The map is keyed by the raw token string itself. Go's map hashes string keys with
// its per-process randomly seeded, AES-accelerated hash and confirms a hit with a full
// comparison, so there is no collision to defend against and no cryptographic hash to pay
// for on every request: sha256 of a typical 800-byte token (HashToken) costs about 1 µs,
// which is the whole budget of a cached check, while the map's hash plus comparison is tens
// of nanoseconds. The shard is picked from the token's last bytes (signature bytes, which
// are uniformly distributed for genuine tokens). The cost is that the cache keeps raw
// tokens in process memory until they expire — the same tokens pass through request memory
// anyway; they are never logged and never put in a Principal (TokenHash is computed once,
// on the cold path).
//
// Bounds. Each of the shards holds at most size/shards entries. Inserting into a full shard
// first drops expired entries from a sample of the map, then the least recently used entry
// of that sample (sampled LRU, as Redis does): O(1) per insert and no list to maintain on
// hits, which only store a coarse last-use second when it changed.
//
// Expiry. An entry is served only while now < exp (the token's own exp, never exp plus the
// clock skew), and only while the key set that verified it has not dropped a key since
// (KeySet.gen), so that a key removed from the JWKS stops its cached tokens at once.
type tokenCache struct {
	perShard int
	now      func() time.Time
	shards   [cacheShards]cacheShard
}

const cacheShards = 16

type cacheShard struct {
	mu sync.RWMutex
	m  map[string]*cacheEntry
	_  [40]byte // keep shards on separate cache lines
}

type cacheEntry struct {
	p    *Principal
	exp  int64 // unix nanoseconds
	keys *KeySet
	gen  uint64
	used atomic.Int64 // unix seconds of the last hit
}

func newTokenCache(size int, now func() time.Time) *tokenCache {
	if size <= 0 {
		return nil
	}
	// The shards' maps are made by the first put: a route nobody calls costs no maps (a
	// gateway with 1,000 routes has 1,000 caches).
	return &tokenCache{perShard: (size + cacheShards - 1) / cacheShards, now: now}
}

func (c *tokenCache) shard(token string) *cacheShard {
	var h uint32 = 2166136261
	start := len(token) - 12
	if start < 0 {
		start = 0
	}
	for i := start; i < len(token); i++ {
		h = (h ^ uint32(token[i])) * 16777619
	}
	return &c.shards[h%cacheShards]
}

// get returns the cached principal of token, or nil.
func (c *tokenCache) get(token string) *Principal {
	s := c.shard(token)
	s.mu.RLock()
	e := s.m[token]
	s.mu.RUnlock()
	if e == nil {
		return nil
	}
	now := c.now().UnixNano()
	if now >= e.exp || (e.keys != nil && e.keys.gen.Load() != e.gen) {
		s.mu.Lock()
		if s.m[token] == e {
			delete(s.m, token)
		}
		s.mu.Unlock()
		return nil
	}
	if sec := now / int64(time.Second); e.used.Load() != sec {
		e.used.Store(sec)
	}
	return e.p
}

// put caches p for token until exp.
func (c *tokenCache) put(token string, p *Principal, exp time.Time, keys *KeySet, gen uint64) {
	now := c.now()
	if !now.Before(exp) {
		return
	}
	e := &cacheEntry{p: p, exp: exp.UnixNano(), keys: keys, gen: gen}
	e.used.Store(now.Unix())
	s := c.shard(token)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = make(map[string]*cacheEntry)
	}
	if _, ok := s.m[token]; !ok {
		for len(s.m) >= c.perShard {
			s.evict(now.UnixNano())
		}
	}
	s.m[strings.Clone(token)] = e
}

// evict drops the expired entries of a sample of the shard, or else the least recently
// used one of the sample. The caller holds the write lock.
func (s *cacheShard) evict(now int64) {
	const sample = 16
	var oldestKey string
	oldest := int64(1<<63 - 1)
	n, dropped := 0, false
	for k, e := range s.m { // map iteration starts at a random place
		if now >= e.exp {
			delete(s.m, k)
			dropped = true
		} else if u := e.used.Load(); u < oldest {
			oldest, oldestKey = u, k
		}
		if n++; n >= sample {
			break
		}
	}
	if !dropped && n > 0 {
		delete(s.m, oldestKey)
	}
}

// len returns the number of entries (tests).
func (c *tokenCache) len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.RLock()
		n += len(s.m)
		s.mu.RUnlock()
	}
	return n
}
