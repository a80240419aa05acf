package ratelimit

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/internal/config"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

func TestMemoryBucket(t *testing.T) {
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	m := NewMemory(Rate{Requests: 60, Per: time.Minute, Burst: 3}, WithClock(c.now))
	ctx := context.Background()
	type step struct {
		advance time.Duration
		key     string
		allowed bool
		retry   time.Duration
	}
	steps := []step{
		{0, "alice", true, 0},
		{0, "alice", true, 0},
		{0, "alice", true, 0},
		{0, "alice", false, time.Second}, // burst used up: one token per second
		{0, "bob", true, 0},              // buckets are per key
		{400 * time.Millisecond, "alice", false, 600 * time.Millisecond},
		{600 * time.Millisecond, "alice", true, 0},
		{0, "alice", false, time.Second},
		{10 * time.Second, "alice", true, 0}, // refilled to the burst, not beyond
		{0, "alice", true, 0},
		{0, "alice", true, 0},
		{0, "alice", false, time.Second},
	}
	for i, s := range steps {
		c.advance(s.advance)
		r, err := m.Allow(ctx, s.key)
		if err != nil {
			t.Fatal(err)
		}
		if r.Allowed != s.allowed || r.RetryAfter != s.retry {
			t.Fatalf("step %d (%s): %+v, want allowed=%v retry=%v", i, s.key, r, s.allowed, s.retry)
		}
	}
	if got := (Result{RetryAfter: 600 * time.Millisecond}).RetryAfterSeconds(); got != 1 {
		t.Errorf("RetryAfterSeconds = %d", got)
	}
	if got := (Result{RetryAfter: 2100 * time.Millisecond}).RetryAfterSeconds(); got != 3 {
		t.Errorf("RetryAfterSeconds = %d", got)
	}
	// Idle buckets are forgotten once full again.
	c.advance(time.Hour)
	if _, err := m.Allow(ctx, "carol"); err != nil {
		t.Fatal(err)
	}
	if m.Len() != 1 {
		t.Fatalf("%d buckets kept after an hour idle, want 1 (carol)", m.Len())
	}
}

func TestRouteLimits(t *testing.T) {
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	rl := NewRoute(&config.RateLimit{
		PerUser:  &config.Rate{Requests: 2, Per: config.Duration(time.Minute)},
		PerRoute: &config.Rate{Requests: 3, Per: config.Duration(time.Minute)},
	}, WithClock(c.now))
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
	var none *Route
	if r, _ := none.Allow(ctx, "x"); !r.Allowed {
		t.Fatal("no limits must allow")
	}
	if NewRoute(nil) != nil {
		t.Fatal("nil config must give no limiter")
	}
}

func TestMemoryConcurrent(t *testing.T) {
	m := NewMemory(Rate{Requests: 100, Per: time.Hour, Burst: 100})
	var wg sync.WaitGroup
	var mu sync.Mutex
	allowed := 0
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				if r, _ := m.Allow(context.Background(), "k"); r.Allowed {
					mu.Lock()
					allowed++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if allowed != 100 {
		t.Fatalf("allowed %d of 400 concurrent requests, want exactly the burst of 100", allowed)
	}
}
