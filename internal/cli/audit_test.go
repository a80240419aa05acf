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
)

func TestAuditCommand(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.jsonl")
	f, err := audit.NewFile(path, 1<<20, 3)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	evs := []audit.Event{
		{Time: now.Add(-48 * time.Hour), Route: "bank", User: "alice", Email: "alice@example.com", ClientID: "vscode", Method: "tools/call", Tool: "transfer", Decision: "allow", Rules: []string{"staff"}, Status: 200},
		{Time: now.Add(-2 * time.Hour), Route: "bank", User: "bob", Email: "bob@example.com", ClientID: "claude", Method: "tools/call", Tool: "get_quote", Decision: "deny", Rules: []string{"finance-only-quotes"}, Status: 200},
		{Time: now.Add(-1 * time.Hour), Route: "bank", User: "alice", Email: "alice@example.com", ClientID: "vscode", Method: "tools/call", Tool: "transfer", Decision: "deny", Rules: []string{"big-transfers"}, Status: 200},
	}
	if err := f.Write(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	f.Close()
	cfg := filepath.Join(dir, "mcpgate.yaml")
	os.WriteFile(cfg, []byte(`
issuers: [{name: idp, issuer: https://idp.example.com}]
audit: {file: {path: `+path+`}}
routes:
  - {name: bank, path: /bank/mcp, upstream: {url: "http://127.0.0.1:9001/mcp"}, auth: {issuers: [idp]}}
`), 0o600)
	tests := []struct {
		args []string
		want []string // tools in output order
		err  string
	}{
		{args: []string{"--file", path}, want: []string{"transfer", "get_quote", "transfer"}},
		{args: []string{"--file", path, "--user", "alice@example.com"}, want: []string{"transfer", "transfer"}},
		{args: []string{"--file", path, "--decision", "deny"}, want: []string{"get_quote", "transfer"}},
		{args: []string{"--file", path, "--tool", "get_quote"}, want: []string{"get_quote"}},
		{args: []string{"--file", path, "--since", "24h"}, want: []string{"get_quote", "transfer"}},
		{args: []string{"--config", cfg, "--user", "alice", "--decision", "deny"}, want: []string{"transfer"}},
		{args: []string{"--file", path, "--since", "yesterday"}, err: "write a duration ago"},
		{args: []string{"--file", filepath.Join(dir, "none.jsonl")}, err: "no audit file"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var out, errOut bytes.Buffer
			root := NewRoot(strings.NewReader(""), &out, &errOut)
			root.SetArgs(append([]string{"audit", "--json"}, tt.args...))
			err := root.ExecuteContext(context.Background())
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err, errOut.String())
			}
			got, _, err := audit.ReadJSONLines(&out, audit.Filter{Limit: -1})
			if err != nil {
				t.Fatal(err)
			}
			var tools []string
			for _, e := range got {
				tools = append(tools, e.Tool)
			}
			if strings.Join(tools, ",") != strings.Join(tt.want, ",") {
				t.Fatalf("tools = %v, want %v", tools, tt.want)
			}
		})
	}
	// the table form
	var out bytes.Buffer
	root := NewRoot(strings.NewReader(""), &out, &out)
	root.SetArgs([]string{"audit", "--file", path, "--decision", "deny"})
	if err := root.ExecuteContext(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "DECISION") || !strings.Contains(out.String(), "finance-only-quotes") || strings.Count(out.String(), "\n") != 3 {
		t.Fatalf("table:\n%s", out.String())
	}
}
