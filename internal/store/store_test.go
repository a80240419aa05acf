package store_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/mcpgate/mcpgate/internal/store"
	"github.com/mcpgate/mcpgate/internal/store/storetest"
	"github.com/mcpgate/mcpgate/internal/testutil"
)

func TestMemory(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return store.NewMemory() })
}

func TestSQLite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "s.db"), nil)
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// Reopening an SQLite file keeps the data and does not re-run migrations.
func TestSQLiteReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	ctx := context.Background()
	s, err := store.OpenSQLite(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateUser(ctx, store.User{ID: "u", Username: "alice"}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = store.OpenSQLite(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.GetUserByUsername(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
}

func TestPostgres(t *testing.T) {
	testutil.PostgresDSN(t) // skips (fails in CI) without a database, before any subtest
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := store.OpenPostgres(context.Background(), testutil.PostgresSchema(t), nil)
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// TestSQLiteFileMode: a new database is 0600 (its WAL too); reopening a file open to
// others logs a WARN naming the path and the mode.
func TestSQLiteFileMode(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "keys.db")
	var logs strings.Builder
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	s, err := store.OpenSQLite(ctx, path, logger)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateUser(ctx, store.User{ID: "u", Username: "alice"}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, path + "-wal"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %#o, want 0600", p, fi.Mode().Perm())
		}
	}
	s.Close()
	if strings.Contains(logs.String(), "WARN") {
		t.Fatalf("warned on a new 0600 file: %s", logs.String())
	}

	for _, tc := range []struct {
		mode os.FileMode
		warn bool
	}{{0o600, false}, {0o644, true}, {0o660, true}, {0o606, true}} {
		t.Run(fmt.Sprintf("%#o", tc.mode), func(t *testing.T) {
			logs.Reset()
			if err := os.Chmod(path, tc.mode); err != nil {
				t.Fatal(err)
			}
			s, err := store.OpenSQLite(ctx, path, logger)
			if err != nil {
				t.Fatal(err)
			}
			s.Close()
			out := logs.String()
			warned := strings.Contains(out, "level=WARN") && strings.Contains(out, "path="+path) && strings.Contains(out, fmt.Sprintf("mode=%#o", tc.mode))
			if warned != tc.warn {
				t.Fatalf("mode %#o: warned=%v, want %v; log:\n%s", tc.mode, warned, tc.warn, out)
			}
			if fi, _ := os.Stat(path); fi.Mode().Perm() != tc.mode {
				t.Fatalf("mode changed to %#o", fi.Mode().Perm())
			}
		})
	}
}
