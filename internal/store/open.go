package store

import (
	"context"
	"log/slog"
	"time"
)

// Backend selects a store: Memory, else PostgresDSN, else SQLitePath (default mcpgate.db).
// internal/app maps the config file's store section onto it (app.StoreBackend).
type Backend struct {
	Memory      bool
	SQLitePath  string
	PostgresDSN string
	// Observe, when set, is told the kind of every PostgreSQL statement (select, insert,
	// update, delete, other), how long it took and its error (metrics). SQLite statements
	// are not observed.
	Observe func(statement string, took time.Duration, err error)
}

// Open opens the selected backend, applying its migrations. It is the one place a
// configured store is opened (`mcpgate serve` through internal/app, `mcpgate demo`, and
// the `users` and `audit` commands).
func Open(ctx context.Context, b Backend, logger *slog.Logger) (Store, error) {
	switch {
	case b.Memory:
		return NewMemory(), nil
	case b.PostgresDSN != "":
		return openPostgres(ctx, b.PostgresDSN, logger, b.Observe)
	case b.SQLitePath != "":
		return OpenSQLite(ctx, b.SQLitePath, logger)
	default:
		return OpenSQLite(ctx, "mcpgate.db", logger)
	}
}

// RunJanitor deletes expired rows every interval until ctx is done.
func RunJanitor(ctx context.Context, s Store, interval time.Duration, logger *slog.Logger) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			n, err := s.DeleteExpired(ctx, now)
			if err != nil {
				logger.WarnContext(ctx, "store janitor failed", "err", err)
			} else if n > 0 {
				logger.DebugContext(ctx, "store janitor removed expired rows", "rows", n)
			}
		}
	}
}
