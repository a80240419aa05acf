package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"

	"github.com/mcpgate/mcpgate/internal/testutil"
	"github.com/mcpgate/mcpgate/internal/upstream"
	"github.com/mcpgate/mcpgate/internal/upstream/connstoretest"
)

func TestSQLite(t *testing.T) {
	connstoretest.Run(t, func(t *testing.T) upstream.ConnectionStore {
		dsn := "file:" + filepath.Join(t.TempDir(), "c.db") + "?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)"
		db, err := sql.Open("sqlite", dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		s := New(db, SQLite)
		if err := s.Migrate(context.Background()); err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestPostgres(t *testing.T) {
	dsn := testutil.PostgresDSN(t)
	connstoretest.Run(t, func(t *testing.T) upstream.ConnectionStore {
		db, err := sql.Open("pgx", dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		s := New(db, Postgres)
		s.table = fmt.Sprintf("upstream_connections_test_%d", time.Now().UnixNano())
		if err := s.Migrate(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Exec("DROP TABLE " + s.table) })
		return s
	})
}
