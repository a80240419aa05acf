package ratelimit

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// backend builds fresh limiters of one implementation for the shared suite; now is the
// clock the limiter must use (the Redis limiter passes it to its script instead of the
// server's TIME, so that steps are exact).
type backend struct {
	name     string
	limiter  func(t *testing.T, r Rate, now func() time.Time) Limiter
	newRoute func(t *testing.T, rl RouteOptions, now func() time.Time) *Route
}

func backends() []backend {
	return []backend{
		{
			name: "memory",
			limiter: func(_ *testing.T, r Rate, now func() time.Time) Limiter {
				return NewMemory(r, WithClock(now))
			},
			newRoute: func(_ *testing.T, rl RouteOptions, now func() time.Time) *Route {
				return NewRoute(rl, WithClock(now))
			},
		},
		{
			name: "redis",
			limiter: func(t *testing.T, r Rate, now func() time.Time) Limiter {
				l := NewRedis(redisClient(t), "suite", r, testOptions(t))
				l.now = now
				return l
			},
			newRoute: func(t *testing.T, rl RouteOptions, now func() time.Time) *Route {
				rt := NewRedisRoute(redisClient(t), "bank", rl, testOptions(t))
				if rt == nil {
					return nil
				}
				for _, l := range []Limiter{rt.PerUser, rt.PerRoute} {
					if l != nil {
						l.(*Redis).now = now
					}
				}
				return rt
			},
		},
	}
}

type step struct {
	advance   time.Duration
	key       string
	allowed   bool
	retry     time.Duration
	remaining int
}

// TestLimiters runs the same token-bucket cases against every implementation.
func TestLimiters(t *testing.T) {
	long := strings.Repeat("x", 10_000)
	tests := []struct {
		name  string
		rate  Rate
		steps []step
	}{
		{
			name: "burst",
			rate: Rate{Requests: 60, Per: time.Minute, Burst: 3},
			steps: []step{
				{0, "alice", true, 0, 2},
				{0, "alice", true, 0, 1},
				{0, "alice", true, 0, 0},
				{0, "alice", false, time.Second, 0}, // burst used up: one token per second
			},
		},
		{
			name: "refill",
			rate: Rate{Requests: 60, Per: time.Minute, Burst: 3},
			steps: []step{
				{0, "alice", true, 0, 2},
				{0, "alice", true, 0, 1},
				{0, "alice", true, 0, 0},
				{400 * time.Millisecond, "alice", false, 600 * time.Millisecond, 0},
				{600 * time.Millisecond, "alice", true, 0, 0},
				{1500 * time.Millisecond, "alice", true, 0, 0}, // 1.5 tokens earned, one taken
				{500 * time.Millisecond, "alice", true, 0, 0},
				{0, "alice", false, time.Second, 0},
				{10 * time.Second, "alice", true, 0, 2}, // refilled to the burst, not beyond
				{0, "alice", true, 0, 1},
				{0, "alice", true, 0, 0},
				{0, "alice", false, time.Second, 0},
			},
		},
		{
			name: "retry-after",
			rate: Rate{Requests: 2, Per: time.Second, Burst: 2},
			steps: []step{
				{0, "k", true, 0, 1},
				{0, "k", true, 0, 0},
				{0, "k", false, 500 * time.Millisecond, 0},
				{200 * time.Millisecond, "k", false, 300 * time.Millisecond, 0},
				{299 * time.Millisecond, "k", false, time.Millisecond, 0},
				{time.Millisecond, "k", true, 0, 0},
				{0, "k", false, 500 * time.Millisecond, 0},
			},
		},
		{
			name: "burst above rate",
			rate: Rate{Requests: 1, Per: time.Hour, Burst: 4},
			steps: []step{
				{0, "k", true, 0, 3}, {0, "k", true, 0, 2}, {0, "k", true, 0, 1}, {0, "k", true, 0, 0},
				{0, "k", false, time.Hour, 0},
				{30 * time.Minute, "k", false, 30 * time.Minute, 0},
			},
		},
		{
			name: "defaults",
			rate: Rate{}, // 1 per minute, burst 1
			steps: []step{
				{0, "k", true, 0, 0},
				{0, "k", false, time.Minute, 0},
			},
		},
		{
			name: "per-key isolation",
			rate: Rate{Requests: 1, Per: time.Minute, Burst: 1},
			steps: []step{
				{0, "user:alice", true, 0, 0},
				{0, "user:alice", false, time.Minute, 0},
				{0, "user:bob", true, 0, 0},
				{0, "alice", true, 0, 0}, // not user:alice
				{0, "user:alice:x", true, 0, 0},
				{0, "user:ålice 🦊", true, 0, 0},
				{0, "", true, 0, 0},
				{0, long, true, 0, 0},
				{0, long + "y", true, 0, 0},
				{0, long, false, time.Minute, 0},
				{0, "route", true, 0, 0},
				{0, "user:bob", false, time.Minute, 0},
			},
		},
	}
	for _, be := range backends() {
		t.Run(be.name, func(t *testing.T) {
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					c := &clock{t: time.Unix(1_700_000_000, 0)}
					l := be.limiter(t, tt.rate, c.now)
					burst := tt.rate.normalized().Burst
					for i, s := range tt.steps {
						c.advance(s.advance)
						r, err := l.Allow(context.Background(), s.key)
						if err != nil {
							t.Fatalf("step %d: %v", i, err)
						}
						want := Result{Allowed: s.allowed, RetryAfter: s.retry, Remaining: s.remaining, Limit: burst}
						if r != want {
							t.Fatalf("step %d (%.20s): %+v, want %+v", i, s.key, r, want)
						}
					}
				})
			}
		})
	}
}

// TestRouteLimits checks that per-user and per-route limits combine the same way for every
// implementation.
func TestRouteLimits(t *testing.T) {
	for _, be := range backends() {
		t.Run(be.name, func(t *testing.T) {
			c := &clock{t: time.Unix(1_700_000_000, 0)}
			rl := be.newRoute(t, RouteOptions{
				PerUser:  &Rate{Requests: 2, Per: time.Minute},
				PerRoute: &Rate{Requests: 3, Per: time.Minute},
			}, c.now)
			ctx := context.Background()
			tests := []struct {
				user    string
				allowed bool
			}{
				{"alice", true}, {"alice", true},
				{"alice", false}, // alice's own limit; the route bucket is not charged
				{"bob", true},
				{"carol", false}, // route limit (3) reached
			}
			for i, tt := range tests {
				r, err := rl.Allow(ctx, tt.user)
				if err != nil {
					t.Fatal(err)
				}
				if r.Allowed != tt.allowed {
					t.Fatalf("request %d by %s: %+v, want allowed=%v", i, tt.user, r, tt.allowed)
				}
				if !r.Allowed && r.RetryAfter <= 0 {
					t.Fatalf("refusal without Retry-After: %+v", r)
				}
			}
			if be.newRoute(t, RouteOptions{}, c.now) != nil {
				t.Fatal("no limits configured must give no limiter")
			}
			only := be.newRoute(t, RouteOptions{PerRoute: &Rate{Requests: 1}}, c.now)
			if only.PerUser != nil || only.PerRoute == nil {
				t.Fatalf("perRoute only: %+v", only)
			}
		})
	}
	var none *Route
	if r, _ := none.Allow(context.Background(), "x"); !r.Allowed {
		t.Fatal("no limits must allow")
	}
}

func ExampleResult_RetryAfterSeconds() {
	fmt.Println(Result{RetryAfter: 600 * time.Millisecond}.RetryAfterSeconds(), Result{RetryAfter: 2100 * time.Millisecond}.RetryAfterSeconds())
	// Output: 1 3
}
