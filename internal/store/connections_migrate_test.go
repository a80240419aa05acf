package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/internal/testutil"
)

// TestPostgresConcurrentConnectionsMigrate starts four replicas at once on a fresh
// schema, twenty times, each with its own pool: every creation of the connections table
// must succeed (moved from internal/upstream/sqlstore with the table).
func TestPostgresConcurrentConnectionsMigrate(t *testing.T) {
	dsn := testutil.PostgresDSN(t)
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	const tries, replicas = 20, 4
	for try := range tries {
		b := make([]byte, 6)
		rand.Read(b)
		schema := "t_" + hex.EncodeToString(b)
		if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { admin.Exec("DROP SCHEMA " + schema + " CASCADE") })
		start := make(chan struct{})
		errs := make(chan error, replicas)
		var wg sync.WaitGroup
		for r := range replicas {
			wg.Add(1)
			go func() {
				defer wg.Done()
				db, err := sql.Open("pgx", dsn+sep+"search_path="+schema)
				if err != nil {
					errs <- err
					return
				}
				defer db.Close()
				if err := db.Ping(); err != nil {
					errs <- err
					return
				}
				<-start
				if err := (&SQL{db: db, dialect: dialectPostgres}).migrateConnections(context.Background()); err != nil {
					errs <- fmt.Errorf("try %d, replica %d: %w", try, r, err)
				}
			}()
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	}
}

// TestConnectionsTableFromBefore: an SQLite database whose connections table was created
// by internal/upstream/sqlstore (before connections moved into the store) opens, and its
// rows read back with their times.
func TestConnectionsTableFromBefore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(time.Hour).Truncate(time.Millisecond).UTC()
	for _, stmt := range []string{`CREATE TABLE IF NOT EXISTS upstream_connections (
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
)`, fmt.Sprintf(`INSERT INTO upstream_connections VALUES ('alice', 'gh', 3, 'active', '', 'v1.k.abc', 'repo', %d, 0, 1, 2)`, exp.UnixMilli())} {
		if _, err := db.Exec(stmt); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	s, err := OpenSQLite(context.Background(), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c, err := s.GetConnection(context.Background(), "alice", "gh")
	if err != nil || c.Version != 3 || c.Sealed != "v1.k.abc" || !c.ExpiresAt.Equal(exp) || !c.LeaseUntil.IsZero() || c.CreatedAt.UnixMilli() != 1 {
		t.Fatalf("connection from before = %+v, %v", c, err)
	}
}
