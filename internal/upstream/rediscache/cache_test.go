package rediscache

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/mcpgate/mcpgate/internal/authn"
	"github.com/mcpgate/mcpgate/internal/secrets"
	"github.com/mcpgate/mcpgate/internal/testutil"
	"github.com/mcpgate/mcpgate/internal/upstream"
)

func keyring(t *testing.T) *secrets.Keyring {
	k := make([]byte, 32)
	rand.Read(k)
	kr, err := secrets.NewKeyring("", secrets.Key{ID: "k", Material: k})
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

func client(t *testing.T) redis.UniversalClient {
	rdb := redis.NewClient(&redis.Options{Addr: testutil.RedisAddr(t)})
	t.Cleanup(func() { rdb.Close() })
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		testutil.Unavailable(t, "redis at %s: %v", testutil.RedisAddr(t), err)
	}
	return rdb
}

func TestRedisCache(t *testing.T) {
	rdb := client(t)
	ctx := context.Background()
	prefix := fmt.Sprintf("mcpgate-test:%d:", time.Now().UnixNano())
	kr := keyring(t)
	c := New(rdb, kr, prefix, nil)
	exp := time.Now().Add(2 * time.Second).Truncate(time.Millisecond)
	c.Set(ctx, "k1", upstream.CachedToken{AccessToken: "secret-access-token", ExpiresAt: exp})
	got, ok := c.Get(ctx, "k1")
	if !ok || got.AccessToken != "secret-access-token" || !got.ExpiresAt.Equal(exp) {
		t.Fatalf("get = %+v %v", got, ok)
	}
	raw, _ := rdb.Get(ctx, prefix+"k1").Result()
	if strings.Contains(raw, "secret-access-token") || !strings.HasPrefix(raw, "v1.k.") {
		t.Fatalf("stored in the clear: %q", raw)
	}
	if ttl := rdb.PTTL(ctx, prefix+"k1").Val(); ttl <= 0 || ttl > 2*time.Second {
		t.Fatalf("ttl = %v, want the token's remaining lifetime", ttl)
	}
	// Another deployment's key, or a value moved to another cache key, does not open.
	if _, ok := New(rdb, keyring(t), prefix, nil).Get(ctx, "k1"); ok {
		t.Fatal("entry opened with another key")
	}
	rdb.Set(ctx, prefix+"k2", raw, time.Minute)
	if _, ok := c.Get(ctx, "k2"); ok {
		t.Fatal("entry copied to another cache key opened")
	}
	c.Set(ctx, "expired", upstream.CachedToken{AccessToken: "x", ExpiresAt: time.Now().Add(-time.Second)})
	if n := rdb.Exists(ctx, prefix+"expired").Val(); n != 0 {
		t.Fatal("expired token stored")
	}
	c.Delete(ctx, "k1")
	if _, ok := c.Get(ctx, "k1"); ok {
		t.Fatal("deleted entry served")
	}
	rdb.Del(ctx, prefix+"k2")
}

// TestSharedAcrossReplicas: two providers ("replicas") sharing the Redis cache make one
// exchange for the same caller.
func TestSharedAcrossReplicas(t *testing.T) {
	rdb := client(t)
	var exchanges atomic.Int64
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		exchanges.Add(1)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"access_token": "downstream", "token_type": "Bearer", "expires_in": 600})
	}))
	defer ts.Close()
	kr := keyring(t)
	prefix := fmt.Sprintf("mcpgate-test:%d:", time.Now().UnixNano())
	req := upstream.Request{Principal: &authn.Principal{Subject: "alice", TokenHash: authn.HashToken("caller")}, Token: "caller"}
	for i := range 2 {
		p, _ := upstream.NewOBO(upstream.OBOConfig{TokenURL: ts.URL + "/t/oauth2/v2.0/token", Auth: upstream.ClientSecretPost{ID: "a", Secret: "b"},
			Scopes: []string{"api://x/.default"}, Cache: upstream.CacheOptions{Cache: New(rdb, kr, prefix, nil)}})
		c, err := p.Credential(context.Background(), req)
		if err != nil || c.Header.Get("Authorization") != "Bearer downstream" {
			t.Fatalf("replica %d: %v", i, err)
		}
		if i == 1 && !c.Cached {
			t.Fatal("second replica did not use the shared cache")
		}
	}
	if exchanges.Load() != 1 {
		t.Fatalf("exchanges = %d, want 1", exchanges.Load())
	}
	iter := rdb.Scan(context.Background(), 0, prefix+"*", 100).Iterator()
	for iter.Next(context.Background()) {
		rdb.Del(context.Background(), iter.Val())
	}
}
