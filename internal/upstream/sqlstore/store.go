package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/mcpgate/mcpgate/internal/store"
	"github.com/mcpgate/mcpgate/internal/upstream"
)

// Dialect selects placeholder syntax.
type Dialect int

const (
	SQLite Dialect = iota
	Postgres
)

// Store is a SQL ConnectionStore.
type Store struct {
	db      *sql.DB
	dialect Dialect
	table   string
}

// New wraps db. Call Migrate once at startup.
func New(db *sql.DB, d Dialect) *Store {
	return &Store{db: db, dialect: d, table: "upstream_connections"}
}

// Migrate creates the table if it does not exist. On PostgreSQL it does so in a
// transaction holding an advisory lock (pg_advisory_xact_lock), so that replicas starting
// together on a fresh database do not race: two concurrent CREATE TABLE IF NOT EXISTS can
// both pass the existence check, and the second then fails with a duplicate key on
// pg_type.
func (s *Store) Migrate(ctx context.Context) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlstore: creating %s: %w", s.table, err)
	}
	defer tx.Rollback()
	if s.dialect == Postgres {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtext('mcpgate/upstream/migrate:' || coalesce(current_schema(), '') || ':' || $1))`, s.table); err != nil {
			return fmt.Errorf("sqlstore: taking the migration lock: %w", err)
		}
	}
	_, err = tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS `+s.table+` (
	subject     TEXT   NOT NULL,
	provider    TEXT   NOT NULL,
	version     BIGINT NOT NULL,
	status      TEXT   NOT NULL,
	reason      TEXT   NOT NULL DEFAULT '',
	sealed      TEXT   NOT NULL,
	scope       TEXT   NOT NULL DEFAULT '',
	expires_at  BIGINT NOT NULL DEFAULT 0,
	lease_until BIGINT NOT NULL DEFAULT 0,
	created_at  BIGINT NOT NULL,
	updated_at  BIGINT NOT NULL,
	PRIMARY KEY (subject, provider)
)`)
	if err != nil {
		return fmt.Errorf("sqlstore: creating %s: %w", s.table, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlstore: creating %s: %w", s.table, err)
	}
	return nil
}

// q rewrites ? placeholders as $n for PostgreSQL.
func (s *Store) q(query string) string { return store.Rebind(query, s.dialect == Postgres) }

const cols = "subject, provider, version, status, reason, sealed, scope, expires_at, lease_until, created_at, updated_at"

func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

func scan(row interface{ Scan(...any) error }) (upstream.StoredConnection, error) {
	var c upstream.StoredConnection
	var exp, lease, created, updated int64
	err := row.Scan(&c.Subject, &c.Provider, &c.Version, &c.Status, &c.Reason, &c.Sealed, &c.Scope, &exp, &lease, &created, &updated)
	c.ExpiresAt, c.LeaseUntil, c.CreatedAt, c.UpdatedAt = fromMS(exp), fromMS(lease), fromMS(created), fromMS(updated)
	return c, err
}

// GetConnection implements upstream.ConnectionStore.
func (s *Store) GetConnection(ctx context.Context, subject, provider string) (upstream.StoredConnection, error) {
	c, err := scan(s.db.QueryRowContext(ctx, s.q(`SELECT `+cols+` FROM `+s.table+` WHERE subject = ? AND provider = ?`), subject, provider))
	if errors.Is(err, sql.ErrNoRows) {
		return upstream.StoredConnection{}, upstream.ErrNotFound
	}
	return c, err
}

// CompareAndSwapConnection implements upstream.ConnectionStore.
func (s *Store) CompareAndSwapConnection(ctx context.Context, oldVersion int64, c upstream.StoredConnection) error {
	if c.Version != oldVersion+1 {
		return errors.New("sqlstore: new version must be old version + 1")
	}
	var res sql.Result
	var err error
	if oldVersion == 0 {
		res, err = s.db.ExecContext(ctx, s.q(`INSERT INTO `+s.table+` (`+cols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (subject, provider) DO NOTHING`),
			c.Subject, c.Provider, c.Version, c.Status, c.Reason, c.Sealed, c.Scope, ms(c.ExpiresAt), ms(c.LeaseUntil), ms(c.CreatedAt), ms(c.UpdatedAt))
	} else {
		res, err = s.db.ExecContext(ctx, s.q(`UPDATE `+s.table+` SET version = ?, status = ?, reason = ?, sealed = ?, scope = ?, expires_at = ?, lease_until = ?, created_at = ?, updated_at = ?
			WHERE subject = ? AND provider = ? AND version = ?`),
			c.Version, c.Status, c.Reason, c.Sealed, c.Scope, ms(c.ExpiresAt), ms(c.LeaseUntil), ms(c.CreatedAt), ms(c.UpdatedAt), c.Subject, c.Provider, oldVersion)
	}
	if err != nil {
		return fmt.Errorf("sqlstore: writing connection: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n != 1 {
		return upstream.ErrConflict
	}
	return nil
}

// DeleteConnection implements upstream.ConnectionStore.
func (s *Store) DeleteConnection(ctx context.Context, subject, provider string) error {
	_, err := s.db.ExecContext(ctx, s.q(`DELETE FROM `+s.table+` WHERE subject = ? AND provider = ?`), subject, provider)
	return err
}

// ListConnections implements upstream.ConnectionStore.
func (s *Store) ListConnections(ctx context.Context, subject string) ([]upstream.StoredConnection, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT `+cols+` FROM `+s.table+` WHERE subject = ? ORDER BY provider`), subject)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []upstream.StoredConnection
	for rows.Next() {
		c, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

var _ upstream.ConnectionStore = (*Store)(nil)
