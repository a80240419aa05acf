package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"time"
)

// Connection is one user's link to one upstream provider, as stored: a third-party
// connection (upstreamCredentials.connections) or, under provider "idp:<connector>", the
// tokens of a federated sign-in. Token material is only in Sealed (internal/secrets,
// bound to subject and provider); the other fields are not secret.
type Connection struct {
	Subject  string
	Provider string
	// Version increases by one on every write; CompareAndSwapConnection checks it.
	Version int64
	// Status is the owner's word for the connection's state (internal/upstream: active,
	// broken); the store keeps it as given.
	Status string
	// Reason says why a connection is broken (a stable code such as invalid_grant).
	Reason string
	// Sealed is the sealed token set (access, refresh, scope).
	Sealed string
	// Scope granted by the third party (not secret; shown on the connections page).
	Scope string
	// ExpiresAt is when the access token expires (zero: unknown).
	ExpiresAt time.Time
	// LeaseUntil is set while one replica refreshes: others wait for it instead of
	// refreshing too (a rotating refresh token may only be used once).
	LeaseUntil time.Time
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

func checkConnectionVersion(oldVersion int64, c Connection) error {
	if c.Version != oldVersion+1 {
		return errors.New("store: a connection's new version must be its old version + 1")
	}
	return nil
}

// GetConnection implements Store.
func (m *Memory) GetConnection(_ context.Context, subject, provider string) (Connection, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.connections[[2]string{subject, provider}]
	if !ok {
		return Connection{}, fmt.Errorf("connection: %w", ErrNotFound)
	}
	return c, nil
}

// CompareAndSwapConnection implements Store.
func (m *Memory) CompareAndSwapConnection(_ context.Context, oldVersion int64, c Connection) error {
	if err := checkConnectionVersion(oldVersion, c); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.connections == nil {
		m.connections = map[[2]string]Connection{}
	}
	k := [2]string{c.Subject, c.Provider}
	cur, ok := m.connections[k]
	if (!ok && oldVersion != 0) || (ok && cur.Version != oldVersion) {
		return fmt.Errorf("connection: %w", ErrConflict)
	}
	m.connections[k] = c
	return nil
}

// DeleteConnection implements Store.
func (m *Memory) DeleteConnection(_ context.Context, subject, provider string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.connections, [2]string{subject, provider})
	return nil
}

// ListConnections implements Store.
func (m *Memory) ListConnections(_ context.Context, subject string) ([]Connection, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Connection
	for k, c := range m.connections {
		if k[0] == subject {
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Provider < out[j].Provider })
	return out, nil
}

// connectionsTable keeps connections on SQL backends. It predates the numbered
// migrations (it was internal/upstream/sqlstore's) and is kept as it was: its own
// CREATE TABLE IF NOT EXISTS, times in Unix milliseconds.
const connectionsTable = "upstream_connections"

// migrateConnections creates the connections table if it does not exist. On PostgreSQL it
// does so in a transaction holding an advisory lock (pg_advisory_xact_lock) on the same
// key as before the table moved here, so that replicas starting together on a fresh
// database, old and new versions alike, do not race: two concurrent CREATE TABLE IF NOT
// EXISTS can both pass the existence check, and the second then fails with a duplicate
// key on pg_type.
func (s *SQL) migrateConnections(ctx context.Context) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("creating %s: %w", connectionsTable, err)
	}
	defer tx.Rollback()
	if s.dialect == dialectPostgres {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtext('mcpgate/upstream/migrate:' || coalesce(current_schema(), '') || ':' || $1))`, connectionsTable); err != nil {
			return fmt.Errorf("taking the %s migration lock: %w", connectionsTable, err)
		}
	}
	_, err = tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS `+connectionsTable+` (
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
		return fmt.Errorf("creating %s: %w", connectionsTable, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("creating %s: %w", connectionsTable, err)
	}
	return nil
}

const connectionCols = "subject, provider, version, status, reason, sealed, scope, expires_at, lease_until, created_at, updated_at"

// connMS and fromConnMS convert the connections table's times (Unix milliseconds, 0 for
// the zero time).
func connMS(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromConnMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

func scanConnection(row interface{ Scan(...any) error }) (Connection, error) {
	var c Connection
	var exp, lease, created, updated int64
	err := row.Scan(&c.Subject, &c.Provider, &c.Version, &c.Status, &c.Reason, &c.Sealed, &c.Scope, &exp, &lease, &created, &updated)
	c.ExpiresAt, c.LeaseUntil, c.CreatedAt, c.UpdatedAt = fromConnMS(exp), fromConnMS(lease), fromConnMS(created), fromConnMS(updated)
	return c, err
}

// GetConnection implements Store.
func (s *SQL) GetConnection(ctx context.Context, subject, provider string) (Connection, error) {
	c, err := scanConnection(s.db.QueryRowContext(ctx, s.q(`SELECT `+connectionCols+` FROM `+connectionsTable+` WHERE subject = ? AND provider = ?`), subject, provider))
	if errors.Is(err, sql.ErrNoRows) {
		return Connection{}, fmt.Errorf("connection: %w", ErrNotFound)
	}
	return c, err
}

// CompareAndSwapConnection implements Store: creation is an INSERT ... ON CONFLICT DO
// NOTHING, an update a conditional UPDATE ... WHERE version = old, so that the database
// decides which of several replicas wins.
func (s *SQL) CompareAndSwapConnection(ctx context.Context, oldVersion int64, c Connection) error {
	if err := checkConnectionVersion(oldVersion, c); err != nil {
		return err
	}
	var n int64
	var err error
	if oldVersion == 0 {
		n, err = affected(s.exec(ctx, `INSERT INTO `+connectionsTable+` (`+connectionCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (subject, provider) DO NOTHING`,
			c.Subject, c.Provider, c.Version, c.Status, c.Reason, c.Sealed, c.Scope, connMS(c.ExpiresAt), connMS(c.LeaseUntil), connMS(c.CreatedAt), connMS(c.UpdatedAt)))
	} else {
		n, err = affected(s.exec(ctx, `UPDATE `+connectionsTable+` SET version = ?, status = ?, reason = ?, sealed = ?, scope = ?, expires_at = ?, lease_until = ?, created_at = ?, updated_at = ?
			WHERE subject = ? AND provider = ? AND version = ?`,
			c.Version, c.Status, c.Reason, c.Sealed, c.Scope, connMS(c.ExpiresAt), connMS(c.LeaseUntil), connMS(c.CreatedAt), connMS(c.UpdatedAt), c.Subject, c.Provider, oldVersion))
	}
	if err != nil {
		return fmt.Errorf("writing connection: %w", err)
	}
	if n != 1 {
		return fmt.Errorf("connection: %w", ErrConflict)
	}
	return nil
}

// DeleteConnection implements Store.
func (s *SQL) DeleteConnection(ctx context.Context, subject, provider string) error {
	_, err := s.exec(ctx, `DELETE FROM `+connectionsTable+` WHERE subject = ? AND provider = ?`, subject, provider)
	return err
}

// ListConnections implements Store.
func (s *SQL) ListConnections(ctx context.Context, subject string) ([]Connection, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT `+connectionCols+` FROM `+connectionsTable+` WHERE subject = ? ORDER BY provider`), subject)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Connection
	for rows.Next() {
		c, err := scanConnection(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}
