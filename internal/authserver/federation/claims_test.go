package federation

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/mcpgate/mcpgate/internal/config"
	"github.com/mcpgate/mcpgate/internal/store"
)

func testConnector(t *testing.T, c config.AuthServerConnector) *Connector {
	t.Helper()
	cn, err := New(Options{Config: c, Store: store.NewMemory(), Keys: keyring(t)})
	if err != nil {
		t.Fatal(err)
	}
	return cn
}

func claims(t *testing.T, s string) map[string]any {
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestMapClaims(t *testing.T) {
	entra := config.AuthServerConnector{ID: "entra", Type: "entra", ClientID: "app", Entra: &config.EntraConnector{Tenant: "organizations"}}
	kc := config.AuthServerConnector{ID: "kc", Type: "keycloak", Issuer: "https://sso.example/realms/x", ClientID: "mcpgate"}
	tests := []struct {
		name                   string
		cfg                    config.AuthServerConnector
		claims                 string
		sub, user, email, full string
		groups                 []string
		err                    string
	}{
		{name: "entra keys on tid+oid, not the pairwise sub", cfg: entra,
			claims: `{"sub":"pairwise","tid":"T1","oid":"O1","preferred_username":"alice@contoso.com","name":"Alice","groups":["g1"],"roles":["Admin"]}`,
			sub:    "entra:t1:o1", user: "alice@contoso.com", email: "alice@contoso.com", full: "Alice", groups: []string{"g1", "Admin"}},
		{name: "entra email claim wins", cfg: entra, claims: `{"tid":"t","oid":"o","preferred_username":"a@x.onmicrosoft.com","email":"a@x.com"}`,
			sub: "entra:t:o", user: "a@x.onmicrosoft.com", email: "a@x.com"},
		{name: "entra without oid", cfg: entra, claims: `{"sub":"s","tid":"t"}`, err: "lacks tid or oid"},
		{name: "keycloak realm roles and group paths", cfg: kc,
			claims: `{"sub":"u-1","preferred_username":"carol","email":"c@x","name":"Carol","groups":["/staff"],"realm_access":{"roles":["mcp-admin"]}}`,
			sub:    "kc:u-1", user: "carol", email: "c@x", full: "Carol", groups: []string{"/staff", "mcp-admin"}},
		{name: "configured claims and mapping", cfg: func() config.AuthServerConnector {
			c := kc
			c.Claims = config.ConnectorClaims{Subject: "employee_id", Email: "mail", Groups: "teams"}
			c.GroupMapping = map[string][]string{"Platform": {"admins", "eng"}}
			c.DropUnmappedGroups = true
			return c
		}(), claims: `{"sub":"s","employee_id":4711,"mail":"m@x","email":"ignored@x","teams":["platform","sales"]}`,
			sub: "kc:4711", user: "ignored@x", email: "m@x", groups: []string{"admins", "eng"}},
		{name: "configured subject missing", cfg: func() config.AuthServerConnector { c := kc; c.Claims.Subject = "employee_id"; return c }(),
			claims: `{"sub":"s"}`, err: `no "employee_id" claim`},
		{name: "plain oidc needs sub", cfg: kc, claims: `{"email":"x"}`, err: "no sub claim"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := testConnector(t, tt.cfg).mapClaims(claims(t, tt.claims))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if id.UserID != tt.sub || id.Username != tt.user || id.Email != tt.email || id.Name != tt.full || !slices.Equal(id.Groups, tt.groups) {
				t.Fatalf("got %+v", id)
			}
		})
	}
}

func TestQualifyEntraScopes(t *testing.T) {
	c := testConnector(t, config.AuthServerConnector{ID: "entra", Type: "entra", ClientID: "app",
		Scopes: []string{"access_as_user", "api://other/read", "https://graph.microsoft.com/User.Read", "offline_access"},
		Entra:  &config.EntraConnector{Tenant: "t", AppIDURI: "api://mcpgate/"}})
	want := "openid profile email offline_access api://mcpgate/access_as_user api://other/read https://graph.microsoft.com/User.Read"
	if got := strings.Join(c.Scopes(), " "); got != want {
		t.Fatalf("scopes = %q, want %q", got, want)
	}
}

func TestExplainError(t *testing.T) {
	c := testConnector(t, config.AuthServerConnector{ID: "entra", Type: "entra", ClientID: "app-id", Name: "mcpgate", Entra: &config.EntraConnector{Tenant: "t"}})
	c.opts.Issuer = "https://mcp.example.com"
	tests := []struct{ code, desc, logCode, fix string }{
		{"invalid_request", "AADSTS9010010: The resource parameter provided in the request doesn't match", "AADSTS9010010", "never forwards the MCP client's resource"},
		{"invalid_resource", "AADSTS500011: The resource principal named api://x was not found", "AADSTS500011", "entra.appIdUri"},
		{"consent_required", "AADSTS65001: The user or administrator has not consented", "AADSTS65001", "Grant admin consent"},
		{"invalid_request", "AADSTS50011: The redirect URI 'x' does not match", "AADSTS50011", "https://mcp.example.com/login/callback under App registrations > mcpgate (app-id) > Authentication"},
		{"unauthorized_client", "AADSTS700016: Application with identifier 'x' was not found", "AADSTS700016", "check the connector's clientId"},
		{"invalid_client", "AADSTS7000215: Invalid client secret provided.", "AADSTS7000215", "Value (not its Secret ID)"},
		{"invalid_request", "AADSTS90009: Application is requesting a token for itself.", "AADSTS90009", "App ID URI"},
		{"invalid_scope", "AADSTS650053: The application asked for scope 'x' that doesn't exist", "AADSTS650053", "Expose an API"},
		{"invalid_grant", "AADSTS99999: something new", "AADSTS99999", "error?code=99999"},
		{"invalid_client", "Invalid client or Invalid client credentials", "invalid_client", "clientId and clientSecret"},
		{"weird", "", "weird", ""},
	}
	for _, tt := range tests {
		logCode, fix := c.ExplainError(tt.code, tt.desc)
		if logCode != tt.logCode || !strings.Contains(fix, tt.fix) || (tt.fix == "" && fix != "") {
			t.Errorf("ExplainError(%q, %q) = %q, %q; want %q and a fix containing %q", tt.code, tt.desc, logCode, fix, tt.logCode, tt.fix)
		}
	}
}
