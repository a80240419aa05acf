package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/internal/audit"
	"github.com/mcpgate/mcpgate/internal/store"
)

// `mcpgate audit` reads the configured SQLite store when audit.store is true.
func TestAuditCommandStore(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "mcpgate.db")
	st, err := store.OpenSQLite(context.Background(), db, nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	for _, e := range []audit.Event{
		{Time: now.Add(-2 * time.Hour), Route: "bank", User: "alice", Method: "tools/call", Tool: "transfer", Decision: "allow"},
		{Time: now.Add(-time.Hour), Route: "bank", User: "bob", Method: "tools/call", Tool: "get_quote", Decision: "deny"},
		{Time: now.Add(-time.Minute), Route: "bank", User: "alice", Method: "tools/call", Tool: "transfer", Decision: "deny"},
	} {
		if err := st.AppendAudit(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	cfg := filepath.Join(dir, "mcpgate.yaml")
	os.WriteFile(cfg, []byte(`
issuers: [{name: idp, issuer: https://idp.example.com}]
store: {sqlite: {path: `+db+`}}
audit: {store: true}
routes:
  - {name: bank, path: /bank/mcp, upstream: {url: "http://127.0.0.1:9001/mcp"}, auth: {issuers: [idp]}}
`), 0o600)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--user", "alice"}, "transfer/allow,transfer/deny"},
		{[]string{"--decision", "deny"}, "get_quote/deny,transfer/deny"},
		{[]string{"--since", "30m"}, "transfer/deny"},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var out, errOut bytes.Buffer
			root := NewRoot(strings.NewReader(""), &out, &errOut)
			root.SetArgs(append([]string{"audit", "--json", "--config", cfg}, tt.args...))
			if err := root.ExecuteContext(context.Background()); err != nil {
				t.Fatal(err, errOut.String())
			}
			got, _, err := audit.ReadJSONLines(&out, audit.Filter{Limit: -1})
			if err != nil {
				t.Fatal(err)
			}
			var s []string
			for _, e := range got {
				s = append(s, e.Tool+"/"+e.Decision)
			}
			if strings.Join(s, ",") != tt.want {
				t.Fatalf("events = %v, want %s", s, tt.want)
			}
		})
	}
}
