package entraemulator

import (
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/mcpgate/mcpgate/internal/config"
)

// TestIDJAG: the emulator issues ID-JAGs for its tenant to the apps, audiences and resources
// of idJagGrants, and refuses everything else with AADSTS errors.
func TestIDJAG(t *testing.T) {
	const ras, res = "https://ras.example.com", "https://ras.example.com/mcp"
	e := newEnv(t, func(c *config.Entra) {
		c.Tenants[0].IDJAGGrants = []config.EntraIDJAGGrant{{Client: "Contoso web", Audience: ras, Resources: []string{res}, Scopes: []string{"mcp:tools"}}}
	})
	signIn := e.login(t, contosoID, webAppID, "alice@contoso.com", "alice-pw", "openid profile", nil)
	idToken, accessToken := str(signIn, "id_token"), str(signIn, "access_token")
	desktop := e.login(t, contosoID, clientID, "alice@contoso.com", "alice-pw", "openid profile", nil)
	path := "/" + contosoID + "/oauth2/v2.0/token"
	form := func(client, secret, subject, audience, resource string) url.Values {
		f := url.Values{"grant_type": {grantTokenExchange}, "requested_token_type": {tokenTypeIDJAG}, "client_id": {client},
			"subject_token": {subject}, "subject_token_type": {tokenTypeIDToken}, "audience": {audience}, "resource": {resource}, "scope": {"mcp:tools admin"}}
		if secret != "" {
			f.Set("client_secret", secret)
		}
		return f
	}

	st, m := e.post(t, path, form(webAppID, "web-secret", idToken, ras, res))
	if st != 200 || m["issued_token_type"] != tokenTypeIDJAG || m["token_type"] != "N_A" || m["scope"] != "mcp:tools" {
		t.Fatalf("ID-JAG: %d %v", st, m)
	}
	c, tok := e.verify(t, str(m, "access_token"), "/"+contosoID+"/discovery/v2.0/keys", e.srv.URL+"/"+contosoID+"/v2.0", ras)
	if tok.Header["typ"] != idjagJWTType || c["sub"] != aliceOID || c["client_id"] != webAppID || c["resource"] != res || c["jti"] == "" ||
		!slices.Contains(c["groups"].([]any), any("9a000000-0000-4000-8000-000000000001")) {
		t.Fatalf("ID-JAG header %v claims %v", tok.Header, c)
	}

	tests := []struct {
		name   string
		path   string
		form   url.Values
		status int
		err    string
		code   string
	}{
		{"unmapped resource", path, form(webAppID, "web-secret", idToken, ras, ras+"/other"), 400, "invalid_target", "AADSTS500011"},
		{"unmapped audience", path, form(webAppID, "web-secret", idToken, "https://evil.example", res), 400, "invalid_target", "AADSTS500011"},
		{"app without a grant", path, form(daemonID, daemonSecret, idToken, ras, res), 400, "invalid_target", "AADSTS500011"},
		{"public client", path, form(clientID, "", str(desktop, "id_token"), ras, res), 401, "invalid_client", "AADSTS7000218"},
		{"wrong secret", path, form(webAppID, "nope", idToken, ras, res), 401, "invalid_client", "AADSTS7000215"},
		{"access token as subject", path, form(webAppID, "web-secret", accessToken, ras, res), 400, "invalid_grant", "AADSTS50013"},
		{"id_token of another app", path, form(webAppID, "web-secret", str(desktop, "id_token"), ras, res), 400, "invalid_grant", "AADSTS50013"},
		{"not an id-jag request", path, func() url.Values {
			f := form(webAppID, "web-secret", idToken, ras, res)
			f.Set("requested_token_type", "urn:ietf:params:oauth:token-type:access_token")
			return f
		}(), 400, "unsupported_grant_type", "AADSTS70003"},
		{"organizations", "/organizations/oauth2/v2.0/token", form(webAppID, "web-secret", idToken, ras, res), 400, "invalid_request", "AADSTS90002"},
		{"scope outside the grant", path, func() url.Values {
			f := form(webAppID, "web-secret", idToken, ras, res)
			f.Set("scope", "admin")
			return f
		}(), 400, "invalid_scope", "AADSTS70011"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, m := e.post(t, tt.path, tt.form)
			if st != tt.status || m["error"] != tt.err || !strings.HasPrefix(str(m, "error_description"), tt.code+":") {
				t.Fatalf("got %d %v, want %d %s %s", st, m, tt.status, tt.err, tt.code)
			}
		})
	}
}
