package ratelimit

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrUnavailable wraps every error of the Redis limiter: Redis could not be asked (down,
// too slow, refused the script) or was failing a moment ago (see RedisOptions.Cooldown).
// The gateway lets the request through and logs the error (docs/policy.md, "Rate limits").
var ErrUnavailable = errors.New("shared rate limiter unavailable")

// DefaultRedisPrefix starts every key of the Redis limiter.
const DefaultRedisPrefix = "mcpgate:rl:"

// RedisOptions tune the Redis limiter; nil or zero fields mean the defaults.
type RedisOptions struct {
	// Prefix starts every key (default DefaultRedisPrefix).
	Prefix string
	// Timeout bounds one Allow (default 100ms). go-redis applies it to the socket only when
	// the client has ContextTimeoutEnabled; otherwise its Read/WriteTimeout apply.
	Timeout time.Duration
	// Cooldown: after a failure, Allow fails at once for this long without contacting
	// Redis, so that a Redis outage does not add Timeout to every request (default 1s;
	// negative: never).
	Cooldown time.Duration
}

// Redis is a token-bucket limiter whose buckets live in Redis, so that every replica
// using the same Redis shares them. It has the semantics of Memory (Requests per Per,
// at most Burst tokens, a new bucket is full) implemented as GCRA: one Lua script reads
// and updates the bucket's theoretical arrival time atomically, with the Redis server's
// clock (TIME), so the replicas' clocks do not matter. A bucket's key expires when the
// bucket is full again, so idle buckets cost nothing.
//
// Keys are <prefix><name>:<hash>, where name identifies the limiter (NewRedisRoute uses
// <route>:perUser and <route>:perRoute, the route name query-escaped) and hash is the
// base64url SHA-256 (first 16 bytes) of the caller's key: user ids never appear in
// Redis and cannot collide with the separators.
type Redis struct {
	rdb        redis.Scripter
	rate       Rate
	intervalUS int64 // emission interval (time to earn one token) in µs
	ns         string
	timeout    time.Duration
	cooldown   time.Duration
	downUntil  atomic.Int64 // unix ns; Allow fails fast before it
	lastErr    atomic.Pointer[error]
	now        func() time.Time // tests only: nil = the Redis server's clock
}

// NewRedis returns a limiter allowing r.Requests per r.Per with bursts of r.Burst, keeping
// its buckets in Redis under <prefix><name>:. rdb may be a *redis.Client, Ring or
// ClusterClient (each bucket is one key).
func NewRedis(rdb redis.Scripter, name string, r Rate, o *RedisOptions) *Redis {
	r = r.normalized()
	var opt RedisOptions
	if o != nil {
		opt = *o
	}
	if opt.Prefix == "" {
		opt.Prefix = DefaultRedisPrefix
	}
	if opt.Timeout <= 0 {
		opt.Timeout = 100 * time.Millisecond
	}
	if opt.Cooldown == 0 {
		opt.Cooldown = time.Second
	}
	return &Redis{
		rdb: rdb, rate: r, intervalUS: max(1, r.perToken().Microseconds()),
		ns: opt.Prefix + name + ":", timeout: opt.Timeout, cooldown: max(0, opt.Cooldown),
	}
}

// NewRedisRoute builds Redis limiters for rl (nil when rl sets no rate), like NewRoute:
// replicas configured with the same route name share the buckets.
func NewRedisRoute(rdb redis.Scripter, route string, rl RouteOptions, o *RedisOptions) *Route {
	esc := url.QueryEscape(route)
	return buildRoute(rl, func(scope string, r Rate) Limiter { return NewRedis(rdb, esc+":"+scope, r, o) })
}

// gcra takes one token from the bucket KEYS[1] if it has one.
// ARGV: emission interval µs, burst, now µs (0: the server's TIME; tests pass a clock).
// The key holds the theoretical arrival time (TAT) in µs: the bucket is full when
// TAT <= now and holds (burst*interval - (TAT-now))/interval tokens otherwise.
// Returns {allowed (0/1), retry after µs, remaining whole tokens}.
var gcra = redis.NewScript(`
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
if now == 0 then
  if redis.replicate_commands then redis.replicate_commands() end
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local tau = interval * burst
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local newtat = tat + interval
local used = newtat - now
if used > tau then
  return {0, used - tau, 0}
end
redis.call('SET', KEYS[1], string.format('%.0f', newtat), 'PX', math.ceil(used / 1000))
return {1, 0, math.floor((tau - used) / interval)}
`)

// Allow implements Limiter. Errors wrap ErrUnavailable and never contain key.
func (l *Redis) Allow(ctx context.Context, key string) (Result, error) {
	if until := l.downUntil.Load(); until != 0 && time.Now().UnixNano() < until {
		var last error
		if p := l.lastErr.Load(); p != nil {
			last = *p
		}
		return Result{}, fmt.Errorf("%w: redis bucket %s*: not asking Redis for %v after the last failure (%v)", ErrUnavailable, l.ns, l.cooldown, last)
	}
	var nowUS int64
	if l.now != nil {
		nowUS = l.now().UnixMicro()
	}
	cctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	v, err := gcra.Run(cctx, l.rdb, []string{l.bucket(key)}, l.intervalUS, l.rate.Burst, nowUS).Int64Slice()
	if err == nil && len(v) != 3 {
		err = fmt.Errorf("unexpected script reply %v", v)
	}
	if err != nil {
		if ctx.Err() != nil { // the caller gave up: not Redis's fault
			return Result{}, fmt.Errorf("%w: redis bucket %s*: %w", ErrUnavailable, l.ns, ctx.Err())
		}
		if l.cooldown > 0 {
			l.lastErr.Store(&err)
			l.downUntil.Store(time.Now().Add(l.cooldown).UnixNano())
		}
		return Result{}, fmt.Errorf("%w: redis bucket %s* (timeout %v): %w; check store.redis (addr, password, db) and that Redis is reachable", ErrUnavailable, l.ns, l.timeout, err)
	}
	if l.downUntil.Load() != 0 {
		l.downUntil.Store(0)
	}
	return Result{
		Allowed:    v[0] == 1,
		RetryAfter: time.Duration(v[1]) * time.Microsecond,
		Remaining:  int(v[2]),
		Limit:      l.rate.Burst,
	}, nil
}

// bucket is the Redis key of key's bucket.
func (l *Redis) bucket(key string) string {
	h := sha256.Sum256([]byte(key))
	return l.ns + base64.RawURLEncoding.EncodeToString(h[:16])
}

var _ Limiter = (*Redis)(nil)
