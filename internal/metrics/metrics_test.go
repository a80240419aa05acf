package metrics

import (
	"context"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/mcpgate/mcpgate/internal/store"
	"github.com/mcpgate/mcpgate/internal/testutil"
)

func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	b, _ := io.ReadAll(rec.Body)
	return string(b)
}

// Redis commands against the real Redis are timed and their failures counted.
func TestRedisHook(t *testing.T) {
	addr := testutil.RedisAddr(t)
	m := New()
	rdb := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: time.Second})
	defer rdb.Close()
	rdb.AddHook(m.RedisHook())
	ctx := context.Background()
	if err := rdb.Ping(ctx).Err(); err != nil {
		testutil.Unavailable(t, "redis at %s: %v", addr, err)
	}
	_ = rdb.Set(ctx, "mcpgate-test:metrics", "1", time.Minute).Err()
	_ = rdb.Get(ctx, "mcpgate-test:metrics-missing").Err() // redis.Nil: not an error
	_ = rdb.Do(ctx, "NOSUCHCOMMAND").Err()
	text := scrape(t, m)
	for _, want := range []string{
		`mcpgate_redis_command_duration_seconds_count{command="set"} 1`,
		`mcpgate_redis_command_duration_seconds_count{command="get"} 1`,
		`mcpgate_redis_errors_total{command="other"} 1`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(text, `mcpgate_redis_errors_total{command="get"}`) {
		t.Error("a missing key counted as an error")
	}
}

func TestSignInsAndTokenResponses(t *testing.T) {
	m := New()
	m.SignIn("local", "ok")
	m.SignIn("contoso", "refused")
	m.TokenResponse("refresh_token", 400)
	text := scrape(t, m)
	for _, want := range []string{
		`mcpgate_signins_total{connector="local",result="ok"} 1`,
		`mcpgate_signins_total{connector="contoso",result="refused"} 1`,
		`mcpgate_token_responses_total{code="400",grant_type="refresh_token"} 1`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// PostgreSQL statements of the store are timed and their failures counted.
func TestStoreQueries(t *testing.T) {
	dsn := testutil.PostgresDSN(t)
	m := New()
	st, err := store.Open(context.Background(), store.Backend{PostgresDSN: dsn, Observe: m.StoreQuery}, nil)
	if err != nil {
		testutil.Unavailable(t, "postgres: %v", err)
	}
	defer st.(interface{ Close() error }).Close()
	if _, err := st.GetClient(context.Background(), "no-such-client"); err == nil {
		t.Fatal("an unknown client was found")
	}
	text := scrape(t, m)
	if !strings.Contains(text, `mcpgate_store_query_duration_seconds_count{statement="select"}`) {
		t.Errorf("no select timed:\n%s", text)
	}
}
