package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mcpgate/mcpgate/internal/authserver"
	"github.com/mcpgate/mcpgate/internal/store"
)

func TestUsersCommand(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "state.db")
	cfg := filepath.Join(dir, "mcpgate.yaml")
	os.WriteFile(cfg, []byte("publicURL: https://mcp.example.com\nstore:\n  sqlite:\n    path: "+db+"\nauthServer: {}\nroutes:\n  - name: demo\n    path: /demo/mcp\n    upstream:\n      url: http://127.0.0.1:9/mcp\n"), 0o600)
	run := func(stdin string, args ...string) (string, error) {
		var out bytes.Buffer
		root := NewRoot(strings.NewReader(stdin), &out, &out)
		root.SetArgs(append(args, "--config", cfg))
		err := root.ExecuteContext(context.Background())
		return out.String(), err
	}
	if out, err := run("first-password\n", "users", "add", "alice", "--email", "a@example.com", "--group", "eng,ops", "--password-stdin"); err != nil {
		t.Fatalf("add: %v %s", err, out)
	}
	if _, err := run("x\n", "users", "add", "alice", "--password-stdin"); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("duplicate add: %v", err)
	}
	out, err := run("", "users", "list")
	if err != nil || !strings.Contains(out, "alice") || !strings.Contains(out, "eng,ops") {
		t.Fatalf("list: %v %s", err, out)
	}
	if _, err := run("second-password\n", "users", "set-password", "alice", "--password-stdin"); err != nil {
		t.Fatal(err)
	}
	st, err := store.OpenSQLite(context.Background(), db, nil)
	if err != nil {
		t.Fatal(err)
	}
	u, err := st.GetUserByUsername(context.Background(), "alice")
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := authserver.CheckPassword(u.PasswordHash, "second-password"); !ok {
		t.Fatal("set-password did not take effect")
	}
	if _, err := run("", "users", "delete", "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := run("", "users", "delete", "alice"); err == nil {
		t.Fatal("deleting a missing user succeeded")
	}
	if _, err := run("", "users", "add", "bob", "--password-stdin"); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Fatalf("empty password: %v", err)
	}
}
