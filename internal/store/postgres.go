package store

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
)

// OpenPostgres connects to PostgreSQL with pgx and applies the same migrations as SQLite.
func OpenPostgres(ctx context.Context, dsn string, logger *slog.Logger) (*SQL, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("opening postgres store: %w", err)
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connecting to postgres: %w", err)
	}
	s := &SQL{db: db, dialect: dialectPostgres, log: logger}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("postgres store: %w", err)
	}
	if err := s.migrateConnections(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("postgres store: %w", err)
	}
	return s, nil
}
