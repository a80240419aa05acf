package mcpsession

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultRedisPrefix starts every key of the Redis store.
const DefaultRedisPrefix = "mcpgate:mcps:"

// Redis is a Store shared by every replica using the same Redis. A binding is one key,
// <prefix>s:<route>:<id> → "owner user", expiring after the idle timeout (refreshed by Owner);
// a user's sessions on a route are a set, <prefix>u:<route>:<user>, pruned of expired
// members when a session is bound. Route and id are hashed (Key): an id is a bearer
// handle and never sits in Redis in clear.
//
// Owners already seen are remembered in this process (an owner never changes), so that
// while Redis is unreachable the sessions this replica served keep working; a new or
// unknown session is refused until Redis answers again (fail closed).
type Redis struct {
	rdb    redis.UniversalClient
	prefix string
	idle   time.Duration

	mu   sync.Mutex
	seen map[string]string // binding key → owner; bounded by maxSeen
}

const maxSeen = 100_000

// NewRedis returns a Redis store with keys under prefix ("" = DefaultRedisPrefix) and
// bindings expiring after idle (0 = DefaultIdleTimeout).
func NewRedis(rdb redis.UniversalClient, prefix string, idle time.Duration) *Redis {
	if prefix == "" {
		prefix = DefaultRedisPrefix
	}
	if idle <= 0 {
		idle = DefaultIdleTimeout
	}
	return &Redis{rdb: rdb, prefix: prefix, idle: idle, seen: map[string]string{}}
}

func (r *Redis) sessionKey(route, id string) string { return r.prefix + "s:" + Key(route, id) }
func (r *Redis) userKey(route, user string) string  { return r.prefix + "u:" + Key(route) + ":" + user }

func (r *Redis) remember(k, owner string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.seen) >= maxSeen {
		for old := range r.seen { // drop one at random
			delete(r.seen, old)
			break
		}
	}
	r.seen[k] = owner
}

// ownerScript returns the binding's value and refreshes both the session key (KEYS[1])
// and its user's set (named by the value) for ARGV[1] ms; ARGV[2] is the sets' prefix.
var ownerScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if not v then return false end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
local sp = string.find(v, ' ', 1, true)
if sp then redis.call('PEXPIRE', ARGV[2] .. string.sub(v, sp + 1), ARGV[1]) end
return v
`)

// Owner implements Store.
func (r *Redis) Owner(ctx context.Context, route, id string) (string, bool, error) {
	k := r.sessionKey(route, id)
	v, err := ownerScript.Run(ctx, r.rdb, []string{k}, r.idle.Milliseconds(), r.userKey(route, "")).Text()
	switch {
	case errors.Is(err, redis.Nil):
		r.mu.Lock()
		delete(r.seen, k)
		r.mu.Unlock()
		return "", false, nil
	case err != nil:
		r.mu.Lock()
		owner, ok := r.seen[k]
		r.mu.Unlock()
		if ok {
			return owner, true, nil
		}
		return "", false, err
	}
	owner, _, _ := strings.Cut(v, " ")
	r.remember(k, owner)
	return owner, true, nil
}

// bindScript binds atomically: KEYS[1] the session key, KEYS[2] the user's set; ARGV:
// the value (owner, space, user), idle (ms), max, the session-key prefix of the set's
// members, the member. Returns 0 (bound), 1 (taken) or 2 (limit).
var bindScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur then
  if cur == ARGV[1] then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    redis.call('PEXPIRE', KEYS[2], ARGV[2])
    return 0
  end
  return 1
end
local max = tonumber(ARGV[3])
if max > 0 then
  local n = 0
  for _, m in ipairs(redis.call('SMEMBERS', KEYS[2])) do
    if redis.call('EXISTS', ARGV[4] .. m) == 1 then n = n + 1 else redis.call('SREM', KEYS[2], m) end
  end
  if n >= max then return 2 end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('SADD', KEYS[2], ARGV[5])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return 0
`)

// Bind implements Store.
func (r *Redis) Bind(ctx context.Context, route, id, owner, user string, max int) error {
	k := r.sessionKey(route, id)
	member := Key(route, id)
	res, err := bindScript.Run(ctx, r.rdb, []string{k, r.userKey(route, user)},
		owner+" "+user, r.idle.Milliseconds(), max, r.prefix+"s:", member).Int()
	if err != nil {
		return err
	}
	switch res {
	case 1:
		return ErrTaken
	case 2:
		return ErrLimit
	}
	r.remember(k, owner)
	return nil
}

// countScript counts the live members of KEYS[1] (ARGV[1]: the members' key prefix).
var countScript = redis.NewScript(`
local n = 0
for _, m in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if redis.call('EXISTS', ARGV[1] .. m) == 1 then n = n + 1 end
end
return n
`)

// Count implements Store.
func (r *Redis) Count(ctx context.Context, route, user string) (int, error) {
	return countScript.Run(ctx, r.rdb, []string{r.userKey(route, user)}, r.prefix+"s:").Int()
}

// Forget implements Store.
func (r *Redis) Forget(ctx context.Context, route, id string) error {
	k := r.sessionKey(route, id)
	r.mu.Lock()
	delete(r.seen, k)
	r.mu.Unlock()
	return r.rdb.Del(ctx, k).Err()
}
