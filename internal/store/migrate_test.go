package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"testing"

	"github.com/mcpgate/mcpgate/internal/store"
	"github.com/mcpgate/mcpgate/internal/testutil"
)

// TestPostgresConcurrentMigrations starts four replicas at once on a fresh schema, twenty
// times: every one must open (the advisory lock serialises migrating), and the schema
// ends at the latest version exactly once.
func TestPostgresConcurrentMigrations(t *testing.T) {
	const tries, replicas = 20, 4
	for try := range tries {
		schemaDSN := testutil.PostgresSchema(t)
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
