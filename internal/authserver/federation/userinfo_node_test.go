package federation_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpgate/mcpgate/internal/config"
	"github.com/mcpgate/mcpgate/internal/testutil"
)

// okServer is an upstream MCP server whose tool "whoami" answers "ok".
func okServer(t *testing.T) string {
	up := mcp.NewServer(&mcp.Implementation{Name: "tools", Version: "1"}, nil)
	mcp.AddTool(up, &mcp.Tool{Name: "whoami"}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "ok"}}}, nil, nil
	})
	srv := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return up }, nil))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestUserinfoOIDCProviderDefaults is issue 19's federation fidelity case: oidc-provider with
// its default claim placement (OpenID Connect Core section 5.4: with the code flow, profile,
// email and groups are released at userinfo only; the id_token has sub). The generic oidc
// connector reads userinfo after the code exchange and merges it, so email, name, username
// and groups arrive and the route's group policy allows the user; a claim the connector maps
// that the provider does not send is warned about (log and audit event), and a policy that
// needs the missing groups denies with the warning naming them.
func TestUserinfoOIDCProviderDefaults(t *testing.T) {
	const sub = "corp:erin-0d3c"
	for _, tc := range []struct {
		name    string
		mutate  func(*config.Config)
		allowed bool
		warn    string // the logged warning, "" for none
		missing string // the warning's missing=..., and the audit reason
	}{
		{name: "claims at userinfo only", allowed: true},
		{name: "a mapped claim the provider does not send",
			mutate:  func(c *config.Config) { c.AuthServer.Connectors[0].Claims.Name = "nickname" },
			allowed: true, warn: "the provider sent no claim for attributes the connector maps", missing: "name"},
		{name: "groups not released",
			mutate:  func(c *config.Config) { c.AuthServer.Connectors[0].Scopes = nil },
			allowed: false, warn: "lacks attributes that policy rules read", missing: "groups"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logs := &syncBuffer{}
			front := newLazyServer(t)
			issuer := testutil.StartOIDCProvider(t, filepath.Join("testdata", "oidc-default.mjs"), "REDIRECT_URI="+front.URL+"/login/callback")
			e := newMCPGate(t, front, "testdata/mcpgate-oidc-default.yaml", map[string]string{"OIDC_ISSUER": issuer, "UPSTREAM_URL": okServer(t)}, logs, tc.mutate)

			sess, _ := mcpClient(t, e.resource, newBrowser(t, "http://127.0.0.1:5555/callback"), "userinfo e2e")
			res, err := sess.CallTool(t.Context(), &mcp.CallToolParams{Name: "whoami"})
			if allowed := err == nil && !res.IsError; allowed != tc.allowed {
				t.Fatalf("tools/call allowed = %v (%v %+v); want %v", allowed, err, res, tc.allowed)
			}

			id, err := e.fed.For(sub).Lookup(t.Context(), sub)
			if err != nil {
				t.Fatal(err)
			}
			if id.Email != "erin@example.org" || id.Username != "erin" {
				t.Errorf("identity %+v: want email and username from userinfo", id)
			}
			if wantName := tc.missing != "name"; (id.Name == "Erin Example") != wantName {
				t.Errorf("identity %+v: name from userinfo = %v, want %v", id, id.Name == "Erin Example", wantName)
			}
			if wantGroups := tc.missing != "groups"; slices.Equal(id.Groups, []string{"mcp-users", "staff"}) != wantGroups {
				t.Errorf("identity %+v: mapped groups from userinfo = %v, want %v", id, !wantGroups, wantGroups)
			}

			l := logs.String()
			if tc.warn == "" {
				if strings.Contains(l, "sent no claim") || strings.Contains(l, "lacks attributes") || strings.Contains(l, "userinfo could not be read") {
					t.Fatalf("warned about a complete user:\n%s", l)
				}
				if a := e.audits.all(); len(a) != 0 {
					t.Fatalf("audit events for a complete user: %+v", a)
				}
				return
			}
			if !strings.Contains(l, tc.warn) || !strings.Contains(l, "missing="+tc.missing) {
				t.Fatalf("want the warning %q with missing=%s in the log:\n%s", tc.warn, tc.missing, l)
			}
			a := e.audits.all()
			if len(a) != 1 || a[0].User != sub || a[0].Method != "login/federated" || a[0].Resource != "corp" || a[0].Reason != "missing mapped claims: "+tc.missing {
				t.Fatalf("audit events %+v; want one naming %s", a, tc.missing)
			}
		})
	}
}
