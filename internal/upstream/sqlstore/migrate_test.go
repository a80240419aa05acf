package sqlstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/mcpgate/mcpgate/internal/testutil"
)

// TestPostgresConcurrentMigrate starts four replicas at once on a fresh schema, twenty
// times, each with its own pool: every Migrate must succeed.
func TestPostgresConcurrentMigrate(t *testing.T) {
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
				if err := New(db, Postgres).Migrate(context.Background()); err != nil {
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
