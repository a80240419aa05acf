package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/mcpgate/mcpgate/internal/testutil"
)

// newClient returns a go-redis client set up as the gateway sets it up (see docs/policy.md):
// the limiter's per-call timeout bounds the socket I/O.
func newClient(t testing.TB, addr string, dialer func(context.Context, string, string) (net.Conn, error)) *redis.Client {
	rdb := redis.NewClient(&redis.Options{
		Addr: addr, Dialer: dialer, ContextTimeoutEnabled: true,
		DialTimeout: 2 * time.Second, ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second,
	})
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

// redisClient connects to the test Redis (MCPGATE_TEST_REDIS_ADDR) or skips loudly.
func redisClient(t testing.TB) *redis.Client {
	t.Helper()
	addr := testutil.RedisAddr(t)
	rdb := newClient(t, addr, nil)
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		testutil.Unavailable(t, "redis at %s: %v", addr, err)
	}
	return rdb
}

// testOptions gives a test its own key prefix, deleted when the test ends, and a timeout
// generous enough for a loaded test machine.
func testOptions(t testing.TB) *RedisOptions {
	prefix := fmt.Sprintf("mcpgate-test:rl:%d:", time.Now().UnixNano())
	rdb := redisClient(t)
	t.Cleanup(func() {
		ctx := context.Background()
		keys, err := rdb.Keys(ctx, prefix+"*").Result()
		if err == nil && len(keys) > 0 {
			err = rdb.Del(ctx, keys...).Err()
		}
		if err != nil {
			t.Errorf("cleaning up %s*: %v", prefix, err)
		}
	})
	return &RedisOptions{Prefix: prefix, Timeout: 2 * time.Second}
}

// Two replicas (two clients, two limiters) configured alike share one bucket, using the
// Redis server's clock.
func TestRedisReplicasShareBuckets(t *testing.T) {
	opts := testOptions(t)
	rl := RouteOptions{PerUser: &Rate{Requests: 3, Per: time.Hour}}
	a := NewRedisRoute(redisClient(t), "bank", rl, opts)
	b := NewRedisRoute(redisClient(t), "bank", rl, opts)
	other := NewRedisRoute(redisClient(t), "bank2", rl, opts)
	ctx := context.Background()
	steps := []struct {
		replica *Route
		user    string
		allowed bool
	}{
		{a, "alice", true}, {b, "alice", true}, {a, "alice", true},
		{b, "alice", false}, {a, "alice", false},
		{b, "bob", true},
		{other, "alice", true}, // another route: its own buckets
	}
	for i, s := range steps {
		r, err := s.replica.Allow(ctx, s.user)
		if err != nil {
			t.Fatal(err)
		}
		if r.Allowed != s.allowed {
			t.Fatalf("step %d (%s): %+v, want allowed=%v", i, s.user, r, s.allowed)
		}
		if !r.Allowed && (r.RetryAfter <= 0 || r.RetryAfter > 20*time.Minute) {
			t.Fatalf("step %d: retry after %v, want (0, 20m] (one token per 20m)", i, r.RetryAfter)
		}
	}
}

// Many goroutines on two replicas at one moment (the refill of a token takes 36 s) are
// admitted exactly Burst times.
func TestRedisConcurrentNeverOverAdmits(t *testing.T) {
	opts := testOptions(t)
	rate := Rate{Requests: 100, Per: time.Hour, Burst: 100}
	replicas := []*Redis{NewRedis(redisClient(t), "conc", rate, opts), NewRedis(redisClient(t), "conc", rate, opts)}
	var allowed, failed atomic.Int64
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			l := replicas[g%2]
			for range 25 {
				r, err := l.Allow(context.Background(), "user:k")
				switch {
				case err != nil:
					failed.Add(1)
				case r.Allowed:
					allowed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if failed.Load() != 0 || allowed.Load() != 100 {
		t.Fatalf("allowed %d of 400 concurrent requests (%d errors), want exactly the burst of 100", allowed.Load(), failed.Load())
	}
}

// With the server's clock, tokens come back in real time and Retry-After tells when.
func TestRedisServerClockRefill(t *testing.T) {
	l := NewRedis(redisClient(t), "clock", Rate{Requests: 10, Per: time.Second, Burst: 1}, testOptions(t))
	ctx := context.Background()
	if r, err := l.Allow(ctx, "k"); err != nil || !r.Allowed {
		t.Fatalf("first: %+v %v", r, err)
	}
	r, err := l.Allow(ctx, "k")
	if err != nil || r.Allowed || r.RetryAfter <= 0 || r.RetryAfter > 100*time.Millisecond {
		t.Fatalf("second: %+v %v, want refused with retry in (0, 100ms]", r, err)
	}
	time.Sleep(r.RetryAfter + 5*time.Millisecond)
	if r, err := l.Allow(ctx, "k"); err != nil || !r.Allowed {
		t.Fatalf("after Retry-After: %+v %v", r, err)
	}
}

// Keys are prefixed and named after the route and scope, never contain the user id, and
// expire once the bucket would be full again.
func TestRedisKeys(t *testing.T) {
	opts := testOptions(t)
	rdb := redisClient(t)
	rt := NewRedisRoute(rdb, "bank: prod/ü", RouteOptions{
		PerUser:  &Rate{Requests: 60, Per: time.Minute, Burst: 5},
		PerRoute: &Rate{Requests: 100, Per: time.Minute},
	}, opts)
	ctx := context.Background()
	user := "alice@example.com:evil*key\r\n"
	for range 2 {
		if _, err := rt.Allow(ctx, user); err != nil {
			t.Fatal(err)
		}
	}
	keys, err := rdb.Keys(ctx, opts.Prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 {
		t.Fatalf("keys %q, want one per-user and one per-route bucket", keys)
	}
	for _, k := range keys {
		rest, ok := strings.CutPrefix(k, opts.Prefix+"bank%3A+prod%2F%C3%BC:")
		if !ok || strings.Contains(k, "alice") {
			t.Fatalf("key %q: want %sbank%%3A+prod%%2F%%C3%%BC:<scope>:<hash>", k, opts.Prefix)
		}
		scope, hash, _ := strings.Cut(rest, ":")
		if (scope != "perUser" && scope != "perRoute") || len(hash) != 22 {
			t.Fatalf("key %q: scope %q, hash %q", k, scope, hash)
		}
		ttl := rdb.PTTL(ctx, k).Val()
		full := 2 * time.Second // per-user: two tokens of a second each to earn back
		if scope == "perRoute" {
			full = 1200 * time.Millisecond
		}
		if ttl <= 0 || ttl > full {
			t.Fatalf("key %q ttl %v, want (0, %v]: expire when full again", k, ttl, full)
		}
	}
}

// A Redis that is down or does not answer makes Allow fail fast with ErrUnavailable; after
// a failure Allow fails at once (without contacting Redis) until the cooldown is over,
// then Redis is asked again.
func TestRedisUnavailable(t *testing.T) {
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().String()
	closed.Close()

	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var held []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c) // read nothing, answer nothing
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		silent.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	})

	rate := Rate{Requests: 10, Per: time.Second}
	tests := []struct {
		name string
		addr string
	}{
		{"connection refused", closedAddr},
		{"no answer", silent.Addr().String()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var dials atomic.Int64
			dialer := func(ctx context.Context, network, addr string) (net.Conn, error) {
				dials.Add(1)
				var d net.Dialer
				return d.DialContext(ctx, network, addr)
			}
			l := NewRedis(newClient(t, tt.addr, dialer), "down", rate, &RedisOptions{Timeout: 150 * time.Millisecond, Cooldown: time.Hour})
			start := time.Now()
			_, err := l.Allow(context.Background(), "user:alice")
			if took := time.Since(start); took > time.Second {
				t.Fatalf("Allow took %v, want about the 150ms timeout", took)
			}
			if !errors.Is(err, ErrUnavailable) || strings.Contains(err.Error(), "alice") {
				t.Fatalf("err = %v, want ErrUnavailable without the key", err)
			}
			n := dials.Load()
			start = time.Now()
			_, err = l.Allow(context.Background(), "user:alice")
			if !errors.Is(err, ErrUnavailable) || time.Since(start) > 10*time.Millisecond || dials.Load() != n {
				t.Fatalf("in the cooldown: err %v after %v, %d dials; want ErrUnavailable at once without dialing", err, time.Since(start), dials.Load()-n)
			}
		})
	}

	t.Run("recovers after the cooldown", func(t *testing.T) {
		addr := testutil.RedisAddr(t)
		var down atomic.Bool
		down.Store(true)
		var dials atomic.Int64
		rdb := newClient(t, addr, func(ctx context.Context, network, a string) (net.Conn, error) {
			dials.Add(1)
			if down.Load() {
				return nil, errors.New("injected: redis down")
			}
			var d net.Dialer
			return d.DialContext(ctx, network, a)
		})
		opts := testOptions(t)
		opts.Cooldown = 200 * time.Millisecond
		l := NewRedis(rdb, "recover", rate, opts)
		ctx := context.Background()
		if _, err := l.Allow(ctx, "k"); !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "injected") {
			t.Fatalf("down: %v", err)
		}
		down.Store(false)
		n := dials.Load()
		if _, err := l.Allow(ctx, "k"); !errors.Is(err, ErrUnavailable) || dials.Load() != n {
			t.Fatalf("in the cooldown: %v (%d dials)", err, dials.Load()-n)
		}
		time.Sleep(250 * time.Millisecond)
		if r, err := l.Allow(ctx, "k"); err != nil || !r.Allowed {
			t.Fatalf("after the cooldown: %+v %v", r, err)
		}
	})

	t.Run("caller gives up", func(t *testing.T) {
		l := NewRedis(redisClient(t), "cancel", rate, testOptions(t))
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := l.Allow(ctx, "k"); !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
		if r, err := l.Allow(context.Background(), "k"); err != nil || !r.Allowed {
			t.Fatalf("a cancelled request must not start the cooldown: %+v %v", r, err)
		}
	})
}
