package federation

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/mcpgate/mcpgate/internal/authserver"
	"github.com/mcpgate/mcpgate/internal/config"
)

// TestAuthCodeURL: what mcpgate sends to the IdP, without contacting it (Entra endpoints are
// computed; explicit endpoints replace discovery).
func TestAuthCodeURL(t *testing.T) {
	start := authserver.RedirectStart{State: "st", Nonce: "no", CodeChallenge: "cc", RedirectURI: "https://mcp.example.com/login/callback",
		LoginHint: "alice@contoso.com", Prompt: []string{"none", "select_account"}}
	tests := []struct {
		name   string
		cfg    config.AuthServerConnector
		prefix string
		want   map[string]string
	}{
		{"entra", config.AuthServerConnector{ID: "entra", Type: "entra", ClientID: "app", Scopes: []string{"access_as_user"},
			AuthParams: map[string]string{"domain_hint": "contoso.com", "state": "attacker"},
			Entra:      &config.EntraConnector{Tenant: "7a1e5f00-0000-4000-8000-00000000c0de", AppIDURI: "api://mcpgate"}},
			"https://login.microsoftonline.com/7a1e5f00-0000-4000-8000-00000000c0de/oauth2/v2.0/authorize?",
			map[string]string{"scope": "openid profile email offline_access api://mcpgate/access_as_user", "client_id": "app", "state": "st", "nonce": "no",
				"code_challenge": "cc", "code_challenge_method": "S256", "response_type": "code", "redirect_uri": start.RedirectURI,
				"login_hint": "alice@contoso.com", "prompt": "select_account", "domain_hint": "contoso.com", "resource": ""}},
		{"explicit endpoints, no discovery", config.AuthServerConnector{ID: "corp", Type: "oidc", ClientID: "c", Issuer: "https://idp.invalid",
			AuthorizationURL: "https://idp.invalid/auth?tenant=x", TokenURL: "https://idp.invalid/token", JWKSURL: "https://idp.invalid/keys"},
			"https://idp.invalid/auth?tenant=x&", map[string]string{"scope": "openid profile email offline_access", "client_id": "c"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := testConnector(t, tt.cfg).AuthCodeURL(context.Background(), start)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(u, tt.prefix) {
				t.Fatalf("URL %s, want prefix %s", u, tt.prefix)
			}
			p, _ := url.Parse(u)
			for k, v := range tt.want {
				if got := p.Query().Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
		})
	}
}
