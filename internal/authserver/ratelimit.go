package authserver

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/mcpgate/mcpgate/internal/clip"
	"github.com/mcpgate/mcpgate/internal/store"
)

// loginLimiter throttles failed logins per user and per IP with fixed windows kept in the
// store (so every replica sees them). A key that reached its limit is locked until its
// window ends; the lockout is temporary and logged.
type loginLimiter struct {
	store store.Store
	cfg   LoginRateLimit
	now   func() time.Time
	log   *slog.Logger
}

func userKey(username string) string { return "user:" + strings.ToLower(strings.TrimSpace(username)) }
func ipKey(ip string) string         { return "ip:" + ip }

// locked reports whether the user or IP is locked, and until when.
func (l *loginLimiter) locked(ctx context.Context, username, ip string) (bool, time.Time, error) {
	now := l.now()
	for _, k := range []struct {
		key string
		max int
	}{{userKey(username), l.cfg.MaxFailuresPerUser}, {ipKey(ip), l.cfg.MaxFailuresPerIP}} {
		n, start, err := l.store.LoginFailures(ctx, k.key, now, l.cfg.Window)
		if err != nil {
			return false, time.Time{}, err
		}
		if n >= k.max {
			return true, start.Add(l.cfg.Window), nil
		}
	}
	return false, time.Time{}, nil
}

// failed records a failed login for the user and the IP.
func (l *loginLimiter) failed(ctx context.Context, username, ip string) {
	now := l.now()
	for _, k := range []struct {
		key, kind string
		max       int
	}{{userKey(username), "user", l.cfg.MaxFailuresPerUser}, {ipKey(ip), "ip", l.cfg.MaxFailuresPerIP}} {
		n, start, err := l.store.RecordLoginFailure(ctx, k.key, now, l.cfg.Window)
		if err != nil {
			l.log.ErrorContext(ctx, "recording a failed login failed", "err", err)
			continue
		}
		if n == k.max {
			l.log.WarnContext(ctx, "login temporarily locked after too many failures", "by", k.kind, "username", clip.String(username), "ip", ip, "failures", n, "until", start.Add(l.cfg.Window))
		}
	}
}

func (l *loginLimiter) succeeded(ctx context.Context, username string) {
	l.store.ClearLoginFailures(ctx, userKey(username))
}
