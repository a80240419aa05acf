package app

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/mcpgate/mcpgate/internal/config"
)

// openRedis connects to store.redis. Socket I/O follows the caller's context
// (ContextTimeoutEnabled), so that the rate limiter's bound per check holds. A Redis that
// is unreachable at start is only logged: rate limits let requests through and the
// exchanged-token cache misses until it is back.
func openRedis(ctx context.Context, s *config.RedisStore, log *slog.Logger) *redis.Client {
	redisLogOnce.Do(func() { redis.SetLogger(redisLogger{log}) })
	rdb := redis.NewClient(&redis.Options{
		Addr: s.Addr, Password: s.Password, DB: s.DB,
		ContextTimeoutEnabled: true,
		DialTimeout:           time.Second,
		ReadTimeout:           500 * time.Millisecond,
		WriteTimeout:          500 * time.Millisecond,
		MaxRetries:            1,
	})
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := rdb.Ping(pctx).Err(); err != nil {
		log.WarnContext(ctx, "store.redis is not reachable yet; rate limits let requests through and exchanged tokens are not shared until it is",
			"addr", s.Addr, "err", err)
	}
	return rdb
}

var redisLogOnce sync.Once

// redisLogger sends go-redis's own messages (failed dials, pool trouble) to slog instead
// of stderr.
type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.WarnContext(ctx, "redis: "+fmt.Sprintf(format, v...))
}
