package store

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"
)

// SQL is the database/sql backend shared by SQLite and PostgreSQL: one schema, portable
// column types (TEXT, BIGINT), '?' placeholders rebound per dialect, rows stored as a JSON
// document next to the columns that are indexed or updated in place.
type SQL struct {
	db      *sql.DB
	dialect dialect
	log     *slog.Logger
}

type dialect int

const (
	dialectSQLite dialect = iota
	dialectPostgres
)

// migrations are applied in order and recorded in schema_migrations. Never edit one that
// has shipped; append a new one.
var migrations = []string{
	`CREATE TABLE clients (
		id TEXT PRIMARY KEY,
		expires_at BIGINT NOT NULL DEFAULT 0,
		data TEXT NOT NULL
	);
	CREATE TABLE auth_requests (
		id TEXT PRIMARY KEY,
		code_hash TEXT,
		expires_at BIGINT NOT NULL,
		version BIGINT NOT NULL DEFAULT 1,
		data TEXT NOT NULL
	);
	CREATE UNIQUE INDEX auth_requests_code ON auth_requests(code_hash);
	CREATE TABLE refresh_tokens (
		id TEXT PRIMARY KEY,
		family_id TEXT NOT NULL,
		user_id TEXT NOT NULL,
		client_id TEXT NOT NULL,
		used_at BIGINT NOT NULL DEFAULT 0,
		revoked INTEGER NOT NULL DEFAULT 0,
		expires_at BIGINT NOT NULL,
		data TEXT NOT NULL
	);
	CREATE INDEX refresh_tokens_family ON refresh_tokens(family_id);
	CREATE INDEX refresh_tokens_user_client ON refresh_tokens(user_id, client_id);
	CREATE TABLE revoked_tokens (
		jti TEXT PRIMARY KEY,
		expires_at BIGINT NOT NULL
	);
	CREATE TABLE device_auths (
		device_code_hash TEXT PRIMARY KEY,
		user_code TEXT NOT NULL,
		expires_at BIGINT NOT NULL,
		version BIGINT NOT NULL DEFAULT 1,
		data TEXT NOT NULL
	);
	CREATE UNIQUE INDEX device_auths_user_code ON device_auths(user_code);
	CREATE TABLE consents (
		user_id TEXT NOT NULL,
		client_id TEXT NOT NULL,
		expires_at BIGINT NOT NULL DEFAULT 0,
		data TEXT NOT NULL,
		PRIMARY KEY (user_id, client_id)
	);
	CREATE TABLE signing_keys (
		id TEXT PRIMARY KEY,
		expires_at BIGINT NOT NULL,
		data TEXT NOT NULL
	);
	CREATE TABLE users (
		id TEXT PRIMARY KEY,
		username TEXT NOT NULL,
		version BIGINT NOT NULL DEFAULT 1,
		data TEXT NOT NULL
	);
	CREATE UNIQUE INDEX users_username ON users(username);
	CREATE TABLE login_failures (
		k TEXT PRIMARY KEY,
		count BIGINT NOT NULL,
		window_start BIGINT NOT NULL
	);
	CREATE INDEX auth_requests_exp ON auth_requests(expires_at);
	CREATE INDEX refresh_tokens_exp ON refresh_tokens(expires_at);
	CREATE INDEX device_auths_exp ON device_auths(expires_at);`,
	// 2: audit events (audit.store: true), queried by `mcpgate audit`.
	`CREATE TABLE audit_events (
		time_ns BIGINT NOT NULL,
		route TEXT NOT NULL,
		subject TEXT NOT NULL,
		email TEXT NOT NULL,
		target TEXT NOT NULL,
		decision TEXT NOT NULL,
		data TEXT NOT NULL
	);
	CREATE INDEX audit_events_time ON audit_events(time_ns);
	CREATE INDEX audit_events_subject ON audit_events(subject, time_ns);
	CREATE INDEX audit_events_email ON audit_events(email, time_ns);
	CREATE INDEX audit_events_target ON audit_events(target, time_ns)`,
	// 3: named server secrets shared by every replica (GetOrCreateSecret); value is base64.
	`CREATE TABLE server_secrets (
		name TEXT PRIMARY KEY,
		value TEXT NOT NULL,
		created_at BIGINT NOT NULL
	)`,
	// 4: when each access token was revoked (polled by verifiers for their in-memory
	// revocation list), and the access tokens issued per sign-in (revoked with it).
	`ALTER TABLE revoked_tokens ADD COLUMN revoked_at BIGINT NOT NULL DEFAULT 0;
	CREATE INDEX revoked_tokens_revoked_at ON revoked_tokens(revoked_at);
	CREATE TABLE access_tokens (
		jti TEXT PRIMARY KEY,
		family_id TEXT NOT NULL,
		user_id TEXT NOT NULL,
		client_id TEXT NOT NULL,
		expires_at BIGINT NOT NULL
	);
	CREATE INDEX access_tokens_family ON access_tokens(family_id);
	CREATE INDEX access_tokens_user_client ON access_tokens(user_id, client_id);
	CREATE INDEX access_tokens_exp ON access_tokens(expires_at)`,
	// 5: assertions (ID-JAG jti) accepted by the token endpoint, refused again until they expire.
	`CREATE TABLE used_assertions (
		id TEXT PRIMARY KEY,
		expires_at BIGINT NOT NULL
	);
	CREATE INDEX used_assertions_exp ON used_assertions(expires_at)`,
	// 6: "Sign out everywhere": the user's browser sessions that began before signed_out_at
	// are refused (the sessions themselves are signed cookies, not stored).
	`CREATE TABLE browser_signouts (
		user_id TEXT PRIMARY KEY,
		signed_out_at BIGINT NOT NULL,
		expires_at BIGINT NOT NULL
	);
	CREATE INDEX browser_signouts_exp ON browser_signouts(expires_at)`,
}

func (s *SQL) q(query string) string { return rebind(query, s.dialect == dialectPostgres) }

// rebind rewrites the portable "?" placeholders of query as PostgreSQL's $1, $2, ... when
// postgres is true; SQLite takes "?" as written. Every SQL table of mcpgate is written once
// with "?" and bound through this.
func rebind(query string, postgres bool) string {
	if !postgres {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func (s *SQL) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return s.db.ExecContext(ctx, s.q(query), args...)
}

// migrateLockKey names the PostgreSQL advisory lock taken around migrating. The schema is
// part of the key so that deployments in different schemas of one database do not wait
// for each other.
const migrateLockKey = `hashtext('mcpgate/store/migrate:' || coalesce(current_schema(), ''))`

// migrate applies the missing migrations in one transaction. On PostgreSQL the
// transaction first takes an advisory lock (pg_advisory_xact_lock, released at commit or
// rollback), so that replicas starting together on a fresh database migrate one after
// the other: without it two of them both see version 0 and one fails with a duplicate key
// on schema_migrations (or on pg_type, creating the same table). On SQLite the
// transaction is BEGIN IMMEDIATE (_txlock=immediate), which serialises writers already.
func (s *SQL) migrate(ctx context.Context) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("starting the migration transaction: %w", err)
	}
	defer tx.Rollback()
	if s.dialect == dialectPostgres {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(`+migrateLockKey+`)`); err != nil {
			return fmt.Errorf("taking the migration lock: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)`); err != nil {
		return fmt.Errorf("creating schema_migrations: %w", err)
	}
	var have int
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&have); err != nil {
		return fmt.Errorf("reading schema version: %w", err)
	}
	var applied []int
	for i := have; i < len(migrations); i++ {
		for _, stmt := range strings.Split(migrations[i], ";") {
			if strings.TrimSpace(stmt) == "" {
				continue
			}
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("applying migration %d: %w", i+1, err)
			}
		}
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`), i+1, time.Now().Unix()); err != nil {
			return fmt.Errorf("recording migration %d: %w", i+1, err)
		}
		applied = append(applied, i+1)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("committing migrations: %w", err)
	}
	for _, v := range applied {
		s.log.Info("store migration applied", "version", v)
	}
	return nil
}

func ts(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func nowNS() int64 { return time.Now().UnixNano() }

func isUnique(err error) bool {
	if err == nil {
		return false
	}
	m := strings.ToLower(err.Error())
	return strings.Contains(m, "unique") || strings.Contains(m, "duplicate key") || strings.Contains(m, "primary key")
}

func (s *SQL) insert(ctx context.Context, what, query string, args ...any) error {
	_, err := s.exec(ctx, query, args...)
	if isUnique(err) {
		return fmt.Errorf("%s: %w", what, ErrAlreadyExists)
	}
	if err != nil {
		return fmt.Errorf("inserting %s: %w", what, err)
	}
	return nil
}

// getDoc reads one JSON document (and version) with a query whose first two columns are
// data and version.
func getDoc[T any](ctx context.Context, s *SQL, what, query string, args ...any) (T, int64, error) {
	var v T
	var data string
	var version int64
	err := s.db.QueryRowContext(ctx, s.q(query), args...).Scan(&data, &version)
	if errors.Is(err, sql.ErrNoRows) {
		return v, 0, fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	if err != nil {
		return v, 0, fmt.Errorf("reading %s: %w", what, err)
	}
	if err := json.Unmarshal([]byte(data), &v); err != nil {
		return v, 0, fmt.Errorf("decoding %s: %w", what, err)
	}
	return v, version, nil
}

func listDocs[T any](ctx context.Context, s *SQL, what, query string, args ...any) ([]T, error) {
	rows, err := s.db.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", what, err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		var data string
		if err := rows.Scan(&data); err != nil {
			return nil, err
		}
		var v T
		if err := json.Unmarshal([]byte(data), &v); err != nil {
			return nil, fmt.Errorf("decoding %s: %w", what, err)
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func affected(r sql.Result, err error) (int64, error) {
	if err != nil {
		return 0, err
	}
	return r.RowsAffected()
}

func notFoundIfNone(what string, n int64, err error) error {
	if err != nil {
		return fmt.Errorf("deleting %s: %w", what, err)
	}
	if n == 0 {
		return fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	return nil
}

// --- clients

func (s *SQL) CreateClient(ctx context.Context, c Client) error {
	return s.insert(ctx, "client", `INSERT INTO clients (id, expires_at, data) VALUES (?, ?, ?)`, c.ID, ts(c.ExpiresAt), mustJSON(c))
}

func (s *SQL) GetClient(ctx context.Context, id string) (Client, error) {
	c, _, err := getDoc[Client](ctx, s, "client", `SELECT data, 0 FROM clients WHERE id = ? AND (expires_at = 0 OR expires_at > ?)`, id, nowNS())
	return c, err
}

func (s *SQL) ListClients(ctx context.Context) ([]Client, error) {
	return listDocs[Client](ctx, s, "clients", `SELECT data FROM clients WHERE expires_at = 0 OR expires_at > ? ORDER BY id`, nowNS())
}

func (s *SQL) DeleteClient(ctx context.Context, id string) error {
	n, err := affected(s.exec(ctx, `DELETE FROM clients WHERE id = ?`, id))
	return notFoundIfNone("client", n, err)
}

// --- auth requests

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func (s *SQL) CreateAuthRequest(ctx context.Context, a AuthRequest) error {
	a.Version = 1
	return s.insert(ctx, "auth request", `INSERT INTO auth_requests (id, code_hash, expires_at, version, data) VALUES (?, ?, ?, 1, ?)`,
		a.ID, nullIfEmpty(a.CodeHash), ts(a.ExpiresAt), mustJSON(a))
}

func (s *SQL) GetAuthRequest(ctx context.Context, id string) (AuthRequest, error) {
	a, v, err := getDoc[AuthRequest](ctx, s, "auth request", `SELECT data, version FROM auth_requests WHERE id = ? AND expires_at > ?`, id, nowNS())
	a.Version = v
	return a, err
}

func (s *SQL) GetAuthRequestByCode(ctx context.Context, codeHash string) (AuthRequest, error) {
	if codeHash == "" {
		return AuthRequest{}, fmt.Errorf("auth request: %w", ErrNotFound)
	}
	a, v, err := getDoc[AuthRequest](ctx, s, "auth request", `SELECT data, version FROM auth_requests WHERE code_hash = ? AND expires_at > ?`, codeHash, nowNS())
	a.Version = v
	return a, err
}

func (s *SQL) UpdateAuthRequest(ctx context.Context, id string, mutate func(*AuthRequest) error) (AuthRequest, error) {
	for range 5 {
		a, err := s.GetAuthRequest(ctx, id)
		if err != nil {
			return a, err
		}
		old := a.Version
		if err := mutate(&a); err != nil {
			return a, err
		}
		a.ID, a.Version = id, old+1
		r, err := s.exec(ctx, `UPDATE auth_requests SET code_hash = ?, expires_at = ?, version = ?, data = ? WHERE id = ? AND version = ?`,
			nullIfEmpty(a.CodeHash), ts(a.ExpiresAt), a.Version, mustJSON(a), id, old)
		if isUnique(err) {
			return a, fmt.Errorf("auth request code: %w", ErrAlreadyExists)
		}
		n, err := affected(r, err)
		if err != nil {
			return a, fmt.Errorf("updating auth request: %w", err)
		}
		if n == 1 {
			return a, nil
		}
	}
	return AuthRequest{}, fmt.Errorf("auth request %s: %w", id, ErrConflict)
}

func (s *SQL) DeleteAuthRequest(ctx context.Context, id string) error {
	n, err := affected(s.exec(ctx, `DELETE FROM auth_requests WHERE id = ?`, id))
	return notFoundIfNone("auth request", n, err)
}

// --- refresh tokens

func (s *SQL) CreateRefreshToken(ctx context.Context, t RefreshToken) error {
	rev := 0
	if t.Revoked {
		rev = 1
	}
	return s.insert(ctx, "refresh token", `INSERT INTO refresh_tokens (id, family_id, user_id, client_id, used_at, revoked, expires_at, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		t.ID, t.FamilyID, t.UserID, t.ClientID, ts(t.UsedAt), rev, ts(t.ExpiresAt), mustJSON(t))
}

func (s *SQL) GetRefreshToken(ctx context.Context, id string) (RefreshToken, error) {
	var data string
	var used, revoked int64
	err := s.db.QueryRowContext(ctx, s.q(`SELECT data, used_at, revoked FROM refresh_tokens WHERE id = ? AND expires_at > ?`), id, nowNS()).Scan(&data, &used, &revoked)
	if errors.Is(err, sql.ErrNoRows) {
		return RefreshToken{}, fmt.Errorf("refresh token: %w", ErrNotFound)
	}
	if err != nil {
		return RefreshToken{}, fmt.Errorf("reading refresh token: %w", err)
	}
	var t RefreshToken
	if err := json.Unmarshal([]byte(data), &t); err != nil {
		return t, err
	}
	if used != 0 {
		t.UsedAt = time.Unix(0, used)
	}
	t.Revoked = revoked != 0
	return t, nil
}

func (s *SQL) UseRefreshToken(ctx context.Context, id string, now time.Time) (RefreshToken, error) {
	n, err := affected(s.exec(ctx, `UPDATE refresh_tokens SET used_at = ? WHERE id = ? AND used_at = 0 AND revoked = 0 AND expires_at > ?`, now.UnixNano(), id, now.UnixNano()))
	if err != nil {
		return RefreshToken{}, fmt.Errorf("using refresh token: %w", err)
	}
	t, err := s.GetRefreshToken(ctx, id)
	if err != nil {
		return t, err
	}
	if n == 0 {
		return t, ErrRefreshReused
	}
	return t, nil
}

func (s *SQL) RevokeFamily(ctx context.Context, familyID string) (int, error) {
	n, err := affected(s.exec(ctx, `UPDATE refresh_tokens SET revoked = 1 WHERE family_id = ? AND revoked = 0`, familyID))
	return int(n), err
}

func (s *SQL) RevokeUserClient(ctx context.Context, userID, clientID string) (int, error) {
	n, err := affected(s.exec(ctx, `UPDATE refresh_tokens SET revoked = 1 WHERE user_id = ? AND client_id = ? AND revoked = 0`, userID, clientID))
	return int(n), err
}

func (s *SQL) RevokeAccessToken(ctx context.Context, jti string, expiresAt time.Time) error {
	_, err := s.exec(ctx, `INSERT INTO revoked_tokens (jti, expires_at, revoked_at) VALUES (?, ?, ?) ON CONFLICT (jti) DO NOTHING`, jti, ts(expiresAt), nowNS())
	if err != nil {
		return fmt.Errorf("revoking access token: %w", err)
	}
	return nil
}

func (s *SQL) RevokedAccessTokensSince(ctx context.Context, since time.Time) ([]Revocation, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT jti, expires_at, revoked_at FROM revoked_tokens WHERE revoked_at >= ? ORDER BY revoked_at`), ts(since))
	if err != nil {
		return nil, fmt.Errorf("listing revoked access tokens: %w", err)
	}
	defer rows.Close()
	var out []Revocation
	for rows.Next() {
		var jti string
		var exp, at int64
		if err := rows.Scan(&jti, &exp, &at); err != nil {
			return nil, fmt.Errorf("listing revoked access tokens: %w", err)
		}
		out = append(out, Revocation{JTI: jti, ExpiresAt: time.Unix(0, exp), RevokedAt: time.Unix(0, at)})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing revoked access tokens: %w", err)
	}
	return out, nil
}

func (s *SQL) RecordAccessToken(ctx context.Context, t IssuedAccessToken) error {
	return s.insert(ctx, "issued access token", `INSERT INTO access_tokens (jti, family_id, user_id, client_id, expires_at) VALUES (?, ?, ?, ?, ?)`,
		t.JTI, t.FamilyID, t.UserID, t.ClientID, ts(t.ExpiresAt))
}

func (s *SQL) GetIssuedAccessToken(ctx context.Context, jti string) (IssuedAccessToken, error) {
	t := IssuedAccessToken{JTI: jti}
	var exp int64
	err := s.db.QueryRowContext(ctx, s.q(`SELECT family_id, user_id, client_id, expires_at FROM access_tokens WHERE jti = ? AND expires_at > ?`), jti, nowNS()).
		Scan(&t.FamilyID, &t.UserID, &t.ClientID, &exp)
	if errors.Is(err, sql.ErrNoRows) {
		return IssuedAccessToken{}, fmt.Errorf("issued access token: %w", ErrNotFound)
	}
	if err != nil {
		return IssuedAccessToken{}, fmt.Errorf("reading issued access token: %w", err)
	}
	t.ExpiresAt = time.Unix(0, exp)
	return t, nil
}

func (s *SQL) RevokeFamilyAccessTokens(ctx context.Context, familyID string) ([]Revocation, error) {
	return s.revokeIssued(ctx, `family_id = ?`, familyID)
}

func (s *SQL) RevokeUserClientAccessTokens(ctx context.Context, userID, clientID string) ([]Revocation, error) {
	return s.revokeIssued(ctx, `user_id = ? AND client_id = ?`, userID, clientID)
}

// revokeIssued revokes the unexpired access tokens recorded where cond holds, in one
// transaction: what it returns is exactly what it stored.
func (s *SQL) revokeIssued(ctx context.Context, cond string, args ...any) ([]Revocation, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("revoking issued access tokens: %w", err)
	}
	defer tx.Rollback()
	now := nowNS()
	rows, err := tx.QueryContext(ctx, s.q(`SELECT jti, expires_at FROM access_tokens WHERE `+cond+` AND expires_at > ?`), append(args, now)...)
	if err != nil {
		return nil, fmt.Errorf("revoking issued access tokens: %w", err)
	}
	var out []Revocation
	for rows.Next() {
		var r Revocation
		var exp int64
		if err := rows.Scan(&r.JTI, &exp); err != nil {
			rows.Close()
			return nil, fmt.Errorf("revoking issued access tokens: %w", err)
		}
		r.ExpiresAt, r.RevokedAt = time.Unix(0, exp), time.Unix(0, now)
		out = append(out, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("revoking issued access tokens: %w", err)
	}
	for _, r := range out {
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO revoked_tokens (jti, expires_at, revoked_at) VALUES (?, ?, ?) ON CONFLICT (jti) DO NOTHING`), r.JTI, ts(r.ExpiresAt), now); err != nil {
			return nil, fmt.Errorf("revoking issued access tokens: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("revoking issued access tokens: %w", err)
	}
	return out, nil
}

func (s *SQL) AccessTokenRevoked(ctx context.Context, jti string) (bool, error) {
	var one int
	err := s.db.QueryRowContext(ctx, s.q(`SELECT 1 FROM revoked_tokens WHERE jti = ?`), jti).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// --- device authorizations

func (s *SQL) CreateDeviceAuth(ctx context.Context, d DeviceAuth) error {
	return s.insert(ctx, "device authorization", `INSERT INTO device_auths (device_code_hash, user_code, expires_at, version, data) VALUES (?, ?, ?, 1, ?)`,
		d.DeviceCodeHash, d.UserCode, ts(d.ExpiresAt), mustJSON(d))
}

// Device authorizations are returned even when expired (the token endpoint must answer
// expired_token); the janitor deletes them later.
func (s *SQL) GetDeviceAuth(ctx context.Context, h string) (DeviceAuth, error) {
	d, v, err := getDoc[DeviceAuth](ctx, s, "device authorization", `SELECT data, version FROM device_auths WHERE device_code_hash = ?`, h)
	d.Version = v
	return d, err
}

func (s *SQL) GetDeviceAuthByUserCode(ctx context.Context, code string) (DeviceAuth, error) {
	d, v, err := getDoc[DeviceAuth](ctx, s, "device authorization", `SELECT data, version FROM device_auths WHERE user_code = ?`, code)
	d.Version = v
	return d, err
}

func (s *SQL) UpdateDeviceAuth(ctx context.Context, h string, mutate func(*DeviceAuth) error) (DeviceAuth, error) {
	for range 5 {
		d, err := s.GetDeviceAuth(ctx, h)
		if err != nil {
			return d, err
		}
		old := d.Version
		if err := mutate(&d); err != nil {
			return d, err
		}
		d.DeviceCodeHash, d.Version = h, old+1
		n, err := affected(s.exec(ctx, `UPDATE device_auths SET expires_at = ?, version = ?, data = ? WHERE device_code_hash = ? AND version = ?`,
			ts(d.ExpiresAt), d.Version, mustJSON(d), h, old))
		if err != nil {
			return d, fmt.Errorf("updating device authorization: %w", err)
		}
		if n == 1 {
			return d, nil
		}
	}
	return DeviceAuth{}, fmt.Errorf("device authorization: %w", ErrConflict)
}

// --- consents

func (s *SQL) PutConsent(ctx context.Context, c Consent) error {
	_, err := s.exec(ctx, `INSERT INTO consents (user_id, client_id, expires_at, data) VALUES (?, ?, ?, ?)
		ON CONFLICT (user_id, client_id) DO UPDATE SET expires_at = excluded.expires_at, data = excluded.data`,
		c.UserID, c.ClientID, ts(c.ExpiresAt), mustJSON(c))
	if err != nil {
		return fmt.Errorf("saving consent: %w", err)
	}
	return nil
}

func (s *SQL) GetConsent(ctx context.Context, userID, clientID string) (Consent, error) {
	c, _, err := getDoc[Consent](ctx, s, "consent", `SELECT data, 0 FROM consents WHERE user_id = ? AND client_id = ? AND (expires_at = 0 OR expires_at > ?)`, userID, clientID, nowNS())
	return c, err
}

func (s *SQL) DeleteConsent(ctx context.Context, userID, clientID string) error {
	n, err := affected(s.exec(ctx, `DELETE FROM consents WHERE user_id = ? AND client_id = ?`, userID, clientID))
	return notFoundIfNone("consent", n, err)
}

// --- signing keys

func (s *SQL) CreateSigningKey(ctx context.Context, k SigningKey) error {
	return s.insert(ctx, "signing key", `INSERT INTO signing_keys (id, expires_at, data) VALUES (?, ?, ?)`, k.ID, ts(k.ExpiresAt), mustJSON(k))
}

func (s *SQL) ListSigningKeys(ctx context.Context) ([]SigningKey, error) {
	return listDocs[SigningKey](ctx, s, "signing keys", `SELECT data FROM signing_keys WHERE expires_at > ? ORDER BY id`, nowNS())
}

func (s *SQL) DeleteSigningKey(ctx context.Context, id string) error {
	n, err := affected(s.exec(ctx, `DELETE FROM signing_keys WHERE id = ?`, id))
	return notFoundIfNone("signing key", n, err)
}

// --- server secrets

// GetOrCreateSecret reads the secret; when it is missing it inserts a generated one with
// ON CONFLICT DO NOTHING (so the first writer wins on every replica) and reads again.
func (s *SQL) GetOrCreateSecret(ctx context.Context, name string, generate func() ([]byte, error)) ([]byte, error) {
	if err := checkSecretName(name); err != nil {
		return nil, err
	}
	if v, err := s.getSecret(ctx, name); !errors.Is(err, ErrNotFound) {
		return v, err
	}
	v, err := generateSecret(name, generate)
	if err != nil {
		return nil, err
	}
	if _, err := s.exec(ctx, `INSERT INTO server_secrets (name, value, created_at) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING`,
		name, base64.StdEncoding.EncodeToString(v), nowNS()); err != nil {
		return nil, fmt.Errorf("saving server secret %q: %w", name, err)
	}
	return s.getSecret(ctx, name)
}

func (s *SQL) getSecret(ctx context.Context, name string) ([]byte, error) {
	var enc string
	err := s.db.QueryRowContext(ctx, s.q(`SELECT value FROM server_secrets WHERE name = ?`), name).Scan(&enc)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("server secret %q: %w", name, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("reading server secret %q: %w", name, err)
	}
	v, err := base64.StdEncoding.DecodeString(enc)
	if err != nil || len(v) == 0 {
		return nil, fmt.Errorf("server secret %q in table server_secrets is not valid base64 (was the row edited by hand? delete it to have a new one generated)", name)
	}
	return v, nil
}

// --- users

func (s *SQL) CreateUser(ctx context.Context, u User) error {
	u.Version = 1
	return s.insert(ctx, "user", `INSERT INTO users (id, username, version, data) VALUES (?, ?, 1, ?)`, u.ID, u.Username, mustJSON(u))
}

func (s *SQL) GetUser(ctx context.Context, id string) (User, error) {
	u, v, err := getDoc[User](ctx, s, "user", `SELECT data, version FROM users WHERE id = ?`, id)
	u.Version = v
	return u, err
}

func (s *SQL) GetUserByUsername(ctx context.Context, username string) (User, error) {
	u, v, err := getDoc[User](ctx, s, "user", `SELECT data, version FROM users WHERE username = ?`, username)
	u.Version = v
	return u, err
}

func (s *SQL) ListUsers(ctx context.Context) ([]User, error) {
	return listDocs[User](ctx, s, "users", `SELECT data FROM users ORDER BY username`)
}

func (s *SQL) UpdateUser(ctx context.Context, id string, mutate func(*User) error) (User, error) {
	for range 5 {
		u, err := s.GetUser(ctx, id)
		if err != nil {
			return u, err
		}
		old := u.Version
		if err := mutate(&u); err != nil {
			return u, err
		}
		u.ID, u.Version = id, old+1
		r, err := s.exec(ctx, `UPDATE users SET username = ?, version = ?, data = ? WHERE id = ? AND version = ?`, u.Username, u.Version, mustJSON(u), id, old)
		if isUnique(err) {
			return u, fmt.Errorf("username %q: %w", u.Username, ErrAlreadyExists)
		}
		n, err := affected(r, err)
		if err != nil {
			return u, fmt.Errorf("updating user: %w", err)
		}
		if n == 1 {
			return u, nil
		}
	}
	return User{}, fmt.Errorf("user %s: %w", id, ErrConflict)
}

func (s *SQL) DeleteUser(ctx context.Context, id string) error {
	n, err := affected(s.exec(ctx, `DELETE FROM users WHERE id = ?`, id))
	return notFoundIfNone("user", n, err)
}

// --- login failures

func (s *SQL) RecordLoginFailure(ctx context.Context, key string, now time.Time, window time.Duration) (int, time.Time, error) {
	// Start a new window when the old one is over, otherwise count up. One statement, so
	// concurrent failures are all counted.
	cutoff := now.Add(-window).UnixNano()
	_, err := s.exec(ctx, `INSERT INTO login_failures (k, count, window_start) VALUES (?, 1, ?)
		ON CONFLICT (k) DO UPDATE SET
			count = CASE WHEN login_failures.window_start <= ? THEN 1 ELSE login_failures.count + 1 END,
			window_start = CASE WHEN login_failures.window_start <= ? THEN excluded.window_start ELSE login_failures.window_start END`,
		key, now.UnixNano(), cutoff, cutoff)
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("recording login failure: %w", err)
	}
	return s.LoginFailures(ctx, key, now, window)
}

func (s *SQL) LoginFailures(ctx context.Context, key string, now time.Time, window time.Duration) (int, time.Time, error) {
	var count, start int64
	err := s.db.QueryRowContext(ctx, s.q(`SELECT count, window_start FROM login_failures WHERE k = ? AND window_start > ?`), key, now.Add(-window).UnixNano()).Scan(&count, &start)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, time.Time{}, nil
	}
	if err != nil {
		return 0, time.Time{}, err
	}
	return int(count), time.Unix(0, start), nil
}

func (s *SQL) ClearLoginFailures(ctx context.Context, key string) error {
	_, err := s.exec(ctx, `DELETE FROM login_failures WHERE k = ?`, key)
	return err
}

// --- housekeeping

// loginFailureTTL bounds how long a login-failure counter is kept after its window began.
const loginFailureTTL = 24 * time.Hour

func (s *SQL) DeleteExpired(ctx context.Context, now time.Time) (int, error) {
	n := now.UnixNano()
	total := 0
	for _, st := range []struct {
		q    string
		args []any
	}{
		{`DELETE FROM clients WHERE expires_at <> 0 AND expires_at <= ?`, []any{n}},
		{`DELETE FROM auth_requests WHERE expires_at <= ?`, []any{n}},
		{`DELETE FROM refresh_tokens WHERE expires_at <= ?`, []any{n}},
		{`DELETE FROM revoked_tokens WHERE expires_at <= ?`, []any{n}},
		{`DELETE FROM access_tokens WHERE expires_at <= ?`, []any{n}},
		{`DELETE FROM used_assertions WHERE expires_at <= ?`, []any{n}},
		{`DELETE FROM browser_signouts WHERE expires_at <= ?`, []any{n}},
		{`DELETE FROM device_auths WHERE expires_at <= ?`, []any{n}},
		{`DELETE FROM consents WHERE expires_at <> 0 AND expires_at <= ?`, []any{n}},
		{`DELETE FROM signing_keys WHERE expires_at <= ?`, []any{n}},
		{`DELETE FROM login_failures WHERE window_start <= ?`, []any{now.Add(-loginFailureTTL).UnixNano()}},
	} {
		c, err := affected(s.exec(ctx, st.q, st.args...))
		if err != nil {
			return total, fmt.Errorf("deleting expired rows: %w", err)
		}
		total += int(c)
	}
	return total, nil
}

func (s *SQL) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

func (s *SQL) Close() error { return s.db.Close() }

var _ Store = (*SQL)(nil)
