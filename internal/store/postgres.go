package store

import (
	"context"
	"fmt"
	"log/slog"

	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// OpenPostgres connects to PostgreSQL with pgx and applies the same migrations as SQLite.
func OpenPostgres(ctx context.Context, dsn string, logger *slog.Logger) (*SQL, error) {
	return openPostgres(ctx, dsn, logger, nil)
}

func openPostgres(ctx context.Context, dsn string, logger *slog.Logger, observe func(string, time.Duration, error)) (*SQL, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("opening postgres store: %w", err)
	}
	if observe != nil {
		cfg.Tracer = queryTracer{observe}
	}
	db := stdlib.OpenDB(*cfg)
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

// queryTracer times every statement for Backend.Observe (pgx's tracing hook).
type queryTracer struct {
	observe func(string, time.Duration, error)
}

type queryStart struct {
	at        time.Time
	statement string
}

type queryStartKey struct{}

func (q queryTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	return context.WithValue(ctx, queryStartKey{}, queryStart{at: time.Now(), statement: statementKind(d.SQL)})
}

func (q queryTracer) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryEndData) {
	if s, ok := ctx.Value(queryStartKey{}).(queryStart); ok {
		q.observe(s.statement, time.Since(s.at), d.Err)
	}
}

// statementKind is a statement's first keyword, lower-cased, among a bounded set.
func statementKind(sql string) string {
	f := strings.Fields(sql)
	if len(f) == 0 {
		return "other"
	}
	switch k := strings.ToLower(f[0]); k {
	case "select", "insert", "update", "delete", "with":
		return k
	}
	return "other"
}
