package ratelimit

import (
	"context"
	"math"
	"sync"
	"time"
)

// Rate is a token bucket: Requests per Per, holding at most Burst tokens.
type Rate struct {
	Requests int
	Per      time.Duration
	Burst    int
}

// Result is a limiter's answer.
type Result struct {
	Allowed bool
	// RetryAfter is how long until a request would be allowed (0 when allowed).
	RetryAfter time.Duration
	// Remaining is the number of whole tokens left.
	Remaining int
	// Limit is the bucket size.
	Limit int
}

// RetryAfterSeconds is RetryAfter rounded up to whole seconds, at least 1, for the
// Retry-After header.
func (r Result) RetryAfterSeconds() int {
	return max(1, int(math.Ceil(r.RetryAfter.Seconds())))
}

// Limiter takes one token for key. An error is a technical failure of a shared limiter;
// callers decide whether to fail open or closed (the in-memory limiter never fails).
type Limiter interface {
	Allow(ctx context.Context, key string) (Result, error)
}

// Memory is an in-process token-bucket limiter. Idle buckets (full again) are forgotten.
type Memory struct {
	rate     Rate
	perToken time.Duration // time to earn one token
	now      func() time.Time

	mu        sync.Mutex
	buckets   map[string]*bucket
	lastSweep time.Time
}

type bucket struct {
	tokens float64
	last   time.Time
}

// Option configures a Memory limiter.
type Option func(*Memory)

// WithClock replaces time.Now (tests).
func WithClock(now func() time.Time) Option { return func(m *Memory) { m.now = now } }

// normalized applies the defaults of every limiter: 1 request per minute at least, burst =
// requests.
func (r Rate) normalized() Rate {
	if r.Per <= 0 {
		r.Per = time.Minute
	}
	if r.Requests <= 0 {
		r.Requests = 1
	}
	if r.Burst <= 0 {
		r.Burst = r.Requests
	}
	return r
}

// perToken is the time to earn one token (of a normalized rate).
func (r Rate) perToken() time.Duration {
	return max(time.Nanosecond, r.Per/time.Duration(r.Requests))
}

// NewMemory returns a limiter allowing r.Requests per r.Per with bursts of r.Burst.
func NewMemory(r Rate, opts ...Option) *Memory {
	r = r.normalized()
	m := &Memory{rate: r, perToken: r.perToken(), now: time.Now, buckets: map[string]*bucket{}}
	for _, o := range opts {
		o(m)
	}
	m.lastSweep = m.now()
	return m
}

// Allow implements Limiter.
func (m *Memory) Allow(_ context.Context, key string) (Result, error) {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	burst := float64(m.rate.Burst)
	b := m.buckets[key]
	if b == nil {
		b = &bucket{tokens: burst, last: now}
		m.buckets[key] = b
	}
	if elapsed := now.Sub(b.last); elapsed > 0 {
		b.tokens = min(burst, b.tokens+float64(elapsed)/float64(m.perToken))
		b.last = now
	}
	res := Result{Limit: m.rate.Burst}
	if b.tokens >= 1 {
		b.tokens--
		res.Allowed = true
	} else {
		res.RetryAfter = time.Duration((1 - b.tokens) * float64(m.perToken))
	}
	res.Remaining = int(b.tokens)
	m.sweep(now)
	return res, nil
}

// sweep forgets buckets that have refilled completely (they behave like new ones), at
// most once per refill period.
func (m *Memory) sweep(now time.Time) {
	full := time.Duration(m.rate.Burst) * m.perToken
	if now.Sub(m.lastSweep) < max(full, time.Second) {
		return
	}
	m.lastSweep = now
	for k, b := range m.buckets {
		if now.Sub(b.last) >= full {
			delete(m.buckets, k)
		}
	}
}

// Len returns the number of buckets held (tests, metrics).
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.buckets)
}

// Route combines a route's per-user and per-route limits. Either may be nil.
type Route struct {
	PerUser  Limiter
	PerRoute Limiter
}

// RouteOptions are a route's rate limits. A nil rate means no limit of that scope.
type RouteOptions struct {
	// PerUser limits each caller (the token subject, or the IP of anonymous callers).
	PerUser *Rate
	// PerRoute limits the route as a whole.
	PerRoute *Rate
}

// NewRoute builds in-memory limiters for o (nil when o sets no rate).
func NewRoute(o RouteOptions, opts ...Option) *Route {
	return buildRoute(o, func(_ string, r Rate) Limiter { return NewMemory(r, opts...) })
}

// buildRoute makes a Route (nil when o sets no rate) with one limiter per configured
// scope ("perUser", "perRoute") from newLimiter.
func buildRoute(o RouteOptions, newLimiter func(scope string, r Rate) Limiter) *Route {
	if o.PerUser == nil && o.PerRoute == nil {
		return nil
	}
	r := &Route{}
	if o.PerUser != nil {
		r.PerUser = newLimiter("perUser", *o.PerUser)
	}
	if o.PerRoute != nil {
		r.PerRoute = newLimiter("perRoute", *o.PerRoute)
	}
	return r
}

// Allow checks the per-user bucket of user (the token subject; pass "ip:<addr>" for
// anonymous callers) and then the route's bucket. A request refused by the user's limit
// does not consume a route token. Errors of a shared limiter are returned with an
// allowing result, so that the caller may fail open.
func (r *Route) Allow(ctx context.Context, user string) (Result, error) {
	if r == nil {
		return Result{Allowed: true}, nil
	}
	res := Result{Allowed: true}
	if r.PerUser != nil {
		u, err := r.PerUser.Allow(ctx, "user:"+user)
		if err != nil {
			return res, err
		}
		if !u.Allowed {
			return u, nil
		}
		res = u
	}
	if r.PerRoute != nil {
		rt, err := r.PerRoute.Allow(ctx, "route")
		if err != nil {
			return res, err
		}
		if !rt.Allowed || r.PerUser == nil {
			return rt, nil
		}
	}
	return res, nil
}

var _ Limiter = (*Memory)(nil)
