package ratelimit

import (
	"context"
	"sync"
	"testing"
	"time"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

// Idle buckets are forgotten once full again (they behave like new ones).
func TestMemoryForgetsIdleBuckets(t *testing.T) {
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	m := NewMemory(Rate{Requests: 60, Per: time.Minute, Burst: 3}, WithClock(c.now))
	ctx := context.Background()
	for _, k := range []string{"alice", "alice", "bob"} {
		if _, err := m.Allow(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	if m.Len() != 2 {
		t.Fatalf("%d buckets, want 2", m.Len())
	}
	c.advance(time.Hour)
	if _, err := m.Allow(ctx, "carol"); err != nil {
		t.Fatal(err)
	}
	if m.Len() != 1 {
		t.Fatalf("%d buckets kept after an hour idle, want 1 (carol)", m.Len())
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
