package store_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/mcpgate/mcpgate/internal/store"
	"github.com/mcpgate/mcpgate/internal/testutil"
)

// freshPostgresSchema creates an empty schema and returns a DSN whose search_path is it.
func freshPostgresSchema(t *testing.T, dsn string) string {
	t.Helper()
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	b := make([]byte, 6)
	rand.Read(b)
	schema := "t_" + hex.EncodeToString(b)
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if a, err := sql.Open("pgx", dsn); err == nil {
			a.Exec("DROP SCHEMA " + schema + " CASCADE")
			a.Close()
		}
	})
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	return dsn + sep + "search_path=" + schema
}

// TestPostgresConcurrentMigrations starts four replicas at once on a fresh schema, twenty
// times: every one must open (the advisory lock serialises migrating), and the schema
// ends at the latest version exactly once.
func TestPostgresConcurrentMigrations(t *testing.T) {
	dsn := testutil.PostgresDSN(t)
	const tries, replicas = 20, 4
	for try := range tries {
		schemaDSN := freshPostgresSchema(t, dsn)
		start := make(chan struct{})
		errs := make(chan error, replicas)
		var wg sync.WaitGroup
		for r := range replicas {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				s, err := store.OpenPostgres(context.Background(), schemaDSN, nil)
				if err != nil {
					errs <- fmt.Errorf("try %d, replica %d: %w", try, r, err)
					return
				}
				s.Close()
			}()
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		db, err := sql.Open("pgx", schemaDSN)
		if err != nil {
			t.Fatal(err)
		}
		var n, max int
		err = db.QueryRow(`SELECT count(*), COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&n, &max)
		db.Close()
		if err != nil {
			t.Fatalf("try %d: %v", try, err)
		}
		if n != max || n < 3 {
			t.Fatalf("try %d: schema_migrations has %d rows up to version %d", try, n, max)
		}
	}
}
