package mcpsession

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/mcpgate/mcpgate/internal/testutil"
)

// conformance runs the same checks on every Store; newStore gets the idle timeout.
func conformance(t *testing.T, newStore func(t *testing.T, idle time.Duration) Store) {
	ctx := context.Background()
	alice, bob := Key("iss", "alice", "vscode"), Key("iss", "bob", "vscode")
	aliceU, bobU := Key("iss", "alice"), Key("iss", "bob")

	t.Run("owner of a bound session", func(t *testing.T) {
		s := newStore(t, time.Hour)
		if _, ok, err := s.Owner(ctx, "r", "s1"); ok || err != nil {
			t.Fatalf("unknown session: ok=%v err=%v", ok, err)
		}
		if err := s.Bind(ctx, "r", "s1", alice, aliceU, 0); err != nil {
			t.Fatal(err)
		}
		if o, ok, err := s.Owner(ctx, "r", "s1"); !ok || err != nil || o != alice {
			t.Fatalf("Owner = %q %v %v, want alice", o, ok, err)
		}
		if _, ok, _ := s.Owner(ctx, "other-route", "s1"); ok {
			t.Fatal("a binding on one route is visible on another")
		}
		if err := s.Bind(ctx, "r", "s1", alice, aliceU, 1); err != nil {
			t.Fatalf("binding again to the same owner: %v", err)
		}
		if err := s.Bind(ctx, "r", "s1", bob, bobU, 0); !errors.Is(err, ErrTaken) {
			t.Fatalf("binding to another owner = %v, want ErrTaken", err)
		}
		if err := s.Forget(ctx, "r", "s1"); err != nil {
			t.Fatal(err)
		}
		if _, ok, _ := s.Owner(ctx, "r", "s1"); ok {
			t.Fatal("a forgotten session still has an owner")
		}
		if err := s.Bind(ctx, "r", "s1", bob, bobU, 0); err != nil {
			t.Fatalf("binding a forgotten id: %v", err)
		}
	})
	t.Run("cap per user", func(t *testing.T) {
		s := newStore(t, time.Hour)
		for i := range 3 {
			if err := s.Bind(ctx, "r", fmt.Sprint("a", i), alice, aliceU, 3); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Bind(ctx, "r", "a3", alice, aliceU, 3); !errors.Is(err, ErrLimit) {
			t.Fatalf("fourth session = %v, want ErrLimit", err)
		}
		if n, err := s.Count(ctx, "r", aliceU); n != 3 || err != nil {
			t.Fatalf("Count = %d %v", n, err)
		}
		if err := s.Bind(ctx, "r", "b0", bob, bobU, 3); err != nil {
			t.Fatalf("another user is not capped by alice's sessions: %v", err)
		}
		if err := s.Bind(ctx, "r2", "a0", alice, aliceU, 3); err != nil {
			t.Fatalf("another route is not capped by this one's: %v", err)
		}
		_ = s.Forget(ctx, "r", "a1")
		if err := s.Bind(ctx, "r", "a3", alice, aliceU, 3); err != nil {
			t.Fatalf("after DELETE a session is free again: %v", err)
		}
	})
	t.Run("idle bindings expire, used ones stay", func(t *testing.T) {
		s := newStore(t, 400*time.Millisecond)
		_ = s.Bind(ctx, "r", "used", alice, aliceU, 0)
		_ = s.Bind(ctx, "r", "idle", alice, aliceU, 0)
		for range 4 {
			time.Sleep(150 * time.Millisecond)
			if _, ok, _ := s.Owner(ctx, "r", "used"); !ok {
				t.Fatal("a session in use expired")
			}
		}
		if _, ok, _ := s.Owner(ctx, "r", "idle"); ok {
			t.Fatal("an idle session did not expire")
		}
		if n, _ := s.Count(ctx, "r", aliceU); n != 1 {
			t.Fatalf("Count = %d after one expired, want 1", n)
		}
		if err := s.Bind(ctx, "r", "new", alice, aliceU, 2); err != nil {
			t.Fatalf("an expired session still counts against the cap: %v", err)
		}
	})
	t.Run("concurrent binds respect the cap", func(t *testing.T) {
		s := newStore(t, time.Hour)
		var wg sync.WaitGroup
		var mu sync.Mutex
		ok := 0
		for i := range 20 {
			wg.Go(func() {
				if s.Bind(ctx, "r", fmt.Sprint("c", i), alice, aliceU, 5) == nil {
					mu.Lock()
					ok++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if ok != 5 {
			t.Fatalf("%d of 20 concurrent binds succeeded under a cap of 5", ok)
		}
	})
}

func TestMemory(t *testing.T) {
	conformance(t, func(t *testing.T, idle time.Duration) Store { return NewMemory(idle) })
}

func TestMemorySweepsAbandonedSessions(t *testing.T) {
	m := NewMemory(time.Minute)
	now := time.Now()
	m.now = func() time.Time { return now }
	for i := range 1000 {
		_ = m.Bind(context.Background(), "r", fmt.Sprint(i), "o", "u", 0)
	}
	now = now.Add(2 * time.Minute)
	_ = m.Bind(context.Background(), "r", "fresh", "o", "u", 0)
	if n := m.Len(); n != 1 {
		t.Fatalf("%d bindings held after the others expired, want 1", n)
	}
}

func redisClient(t *testing.T, dialer func(context.Context, string, string) (net.Conn, error)) *redis.Client {
	addr := testutil.RedisAddr(t)
	rdb := redis.NewClient(&redis.Options{Addr: addr, Dialer: dialer, ContextTimeoutEnabled: true,
		DialTimeout: time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second, MaxRetries: -1})
	t.Cleanup(func() { rdb.Close() })
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		testutil.Unavailable(t, "redis at %s: %v", addr, err)
	}
	return rdb
}

func TestRedis(t *testing.T) {
	rdb := redisClient(t, nil)
	conformance(t, func(t *testing.T, idle time.Duration) Store {
		return NewRedis(rdb, fmt.Sprintf("mcpgate-test:%s:%d:", t.Name(), time.Now().UnixNano()), idle)
	})
}

// Two replicas share bindings; a replica that served a session keeps serving it while
// Redis is unreachable, and refuses sessions it never saw.
func TestRedisSharedAndOutage(t *testing.T) {
	ctx := context.Background()
	var mu sync.Mutex
	down := false
	var d net.Dialer
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		mu.Lock()
		defer mu.Unlock()
		if down {
			return nil, errors.New("injected: redis unreachable")
		}
		return d.DialContext(ctx, network, addr)
	}
	prefix := fmt.Sprintf("mcpgate-test:shared:%d:", time.Now().UnixNano())
	rdbA := redisClient(t, dial)
	a := NewRedis(rdbA, prefix, time.Hour)
	b := NewRedis(redisClient(t, nil), prefix, time.Hour)
	alice := Key("alice")
	if err := a.Bind(ctx, "r", "s1", alice, "u", 0); err != nil {
		t.Fatal(err)
	}
	if o, ok, err := b.Owner(ctx, "r", "s1"); !ok || err != nil || o != alice {
		t.Fatalf("replica B sees %q %v %v", o, ok, err)
	}
	_ = b.Bind(ctx, "r", "s2", alice, "u", 0) // A never saw s2

	mu.Lock()
	down = true
	mu.Unlock()
	rdbA.Close() // drop pooled connections: every call must dial
	a.rdb = redis.NewClient(&redis.Options{Addr: testutil.RedisAddr(t), Dialer: dial, MaxRetries: -1, DialTimeout: time.Second})
	if o, ok, err := a.Owner(ctx, "r", "s1"); !ok || err != nil || o != alice {
		t.Fatalf("during the outage, a session A served: %q %v %v", o, ok, err)
	}
	if _, ok, err := a.Owner(ctx, "r", "s2"); ok || err == nil {
		t.Fatalf("during the outage, a session A never saw: ok=%v err=%v (want an error)", ok, err)
	}
}
