package authserver

import (
	"context"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/mcpgate/mcpgate/internal/testutil"
	"net/url"
	"path/filepath"
	"testing"

	"github.com/mcpgate/mcpgate/internal/store"
)

// TestFlowOnSQLite runs sign-in, refresh rotation and replay detection on the SQLite store.
func TestFlowOnSQLite(t *testing.T) {
	st, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "as.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	flowOnStore(t, st)
}

// TestFlowOnPostgres is the same on PostgreSQL (MCPGATE_TEST_POSTGRES_DSN), in a fresh schema.
func TestFlowOnPostgres(t *testing.T) {
	st, err := store.OpenPostgres(context.Background(), testutil.PostgresSchema(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	flowOnStore(t, st)
}

func flowOnStore(t *testing.T, st store.Store) {
	env := newTestEnv(t, func(o *Options) { o.Store = st })
	redirect := "http://127.0.0.1:5555/cb"
	client := env.register(redirect)
	tr := env.codeFlow(client, redirect)
	refresh := func(rt string) tokenResponse {
		return env.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {client}}, "", "")
	}
	next := refresh(tr.RefreshToken)
	if next.status != 200 {
		t.Fatalf("refresh: %+v", next)
	}
	if r := refresh(tr.RefreshToken); r.Error != "invalid_grant" {
		t.Fatalf("replay: %+v", r)
	}
	if r := refresh(next.RefreshToken); r.Error != "invalid_grant" {
		t.Fatalf("family not revoked: %+v", r)
	}
}
