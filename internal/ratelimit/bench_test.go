package ratelimit

import (
	"context"
	"strconv"
	"testing"
	"time"
)

// benchRate never runs dry within a benchmark, so every call does the full update.
var benchRate = Rate{Requests: 1 << 30, Per: time.Hour, Burst: 1 << 30}

// benchKeys spreads calls over 1000 users, like a route with many callers.
var benchKeys = func() []string {
	k := make([]string, 1000)
	for i := range k {
		k[i] = "user:" + strconv.Itoa(i)
	}
	return k
}()

func benchLimiter(b *testing.B, l Limiter) {
	ctx := context.Background()
	b.Run("serial", func(b *testing.B) {
		i := 0
		for b.Loop() {
			if _, err := l.Allow(ctx, benchKeys[i%len(benchKeys)]); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				if _, err := l.Allow(ctx, benchKeys[i%len(benchKeys)]); err != nil {
					b.Error(err)
					return
				}
				i++
			}
		})
	})
}

func BenchmarkMemoryAllow(b *testing.B) { benchLimiter(b, NewMemory(benchRate)) }

// BenchmarkRedisAllow is one EVALSHA round trip per call to the test Redis.
func BenchmarkRedisAllow(b *testing.B) {
	benchLimiter(b, NewRedis(redisClient(b), "bench", benchRate, testOptions(b)))
}
