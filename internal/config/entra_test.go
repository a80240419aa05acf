package config

import (
	"strings"
	"testing"
)

const entraGood = `
tenants:
  - id: 11111111-1111-4111-8111-111111111111
    domains: [contoso.onmicrosoft.com]
    users:
      - objectId: 0a11ce00-0000-4000-8000-000000000001
        userPrincipalName: alice@contoso.onmicrosoft.com
        password: pw
        groups: [Engineering]
    groups:
      - id: 9a000000-0000-4000-8000-000000000001
        displayName: Engineering
    adminConsent: [API]
apps:
  - name: API
    clientId: aaaaaaaa-0000-4000-8000-000000000001
    identifierUris: [api://api]
    accessTokenAcceptedVersion: 2
    secrets: [{value: "${SECRET}", expires: 2027-01-31}]
    requiredResourceAccess: [{resource: Microsoft Graph, scopes: [User.Read]}]
`

func TestParseEntra(t *testing.T) {
	env := func(k string) (string, bool) { return map[string]string{"SECRET": "s"}[k], k == "SECRET" }
	e, _, err := ParseEntra("entra.yaml", []byte(entraGood), env)
	if err != nil {
		t.Fatal(err)
	}
	if e.Apps[0].Secrets[0].Value != "s" || e.Apps[0].Tenant != e.Tenants[0].ID || e.GroupOverageThreshold != 200 || e.AccessTokenLifetime.D().Minutes() != 75 {
		t.Fatalf("defaults/expansion: %+v", e)
	}
	bad := []struct {
		name, from, to, want string
	}{
		{"tenant id not a GUID", "id: 11111111-1111-4111-8111-111111111111", "id: contoso", "is not a GUID"},
		{"unknown group", "groups: [Engineering]", "groups: [Sales]", `group "Sales" is not in this tenant's groups`},
		{"unknown admin consent app", "adminConsent: [API]", "adminConsent: [Nope]", `no app "Nope"`},
		{"bad version", "accessTokenAcceptedVersion: 2", "accessTokenAcceptedVersion: 3", "must be 1 or 2"},
		{"identifier URI not a URI", "identifierUris: [api://api]", "identifierUris: [api]", "is not a URI"},
		{"bad secret expiry", "expires: 2027-01-31", "expires: soon", "is not a date"},
		{"unknown resource", "resource: Microsoft Graph", "resource: api://nope", `no app "api://nope"`},
		{"unknown key", "accessTokenAcceptedVersion: 2", "accessTokenAcceptedVersio: 2", `did you mean "accessTokenAcceptedVersion"`},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			doc := strings.Replace(entraGood, c.from, c.to, 1)
			_, _, err := ParseEntra("entra.yaml", []byte(doc), env)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("want %q, got %v", c.want, err)
			}
		})
	}
}

// TestEntraIssuerVersionWarnings: a plain issuer in one of Entra's forms accepts one token
// version; config validate names the version, accessTokenAcceptedVersion and the preset.
func TestEntraIssuerVersionWarnings(t *testing.T) {
	const tid = "7a1e5f00-0000-4000-8000-00000000c0de"
	cases := []struct{ issuer, extra, want string }{
		{"https://sts.windows.net/" + tid + "/", "", "Entra v1 token issuer: only v1 access tokens (ver 1.0) match"},
		{"https://login.microsoftonline.com/" + tid + "/v2.0", "", "Entra v2 token issuer: only v2 access tokens (ver 2.0) match"},
		{"https://login.microsoftonline.com/" + tid + "/v2.0", ", authorizationServers: [https://sts.windows.net/" + tid + "/]", "not an authorization server"},
	}
	for _, c := range cases {
		doc := `
issuers: [{name: e, issuer: "` + c.issuer + `", jwksURL: https://login.microsoftonline.com/` + tid + `/discovery/v2.0/keys}]
routes:
  - {name: r, path: /r/mcp, upstream: {url: http://127.0.0.1:9/mcp}, auth: {issuers: [e], audiences: [api://x]` + c.extra + `}}
`
		_, warnings, err := Parse("t.yaml", []byte(doc), env(nil))
		if err != nil {
			t.Fatal(err)
		}
		joined := strings.Join(warnings, "\n")
		if !strings.Contains(joined, c.want) {
			t.Errorf("%s: warnings lack %q: %v", c.issuer, c.want, warnings)
		}
		if !strings.Contains(c.want, "authorization server") && (!strings.Contains(joined, "accessTokenAcceptedVersion") || !strings.Contains(joined, "entra: preset")) {
			t.Errorf("%s: warnings should name accessTokenAcceptedVersion and the entra: preset: %v", c.issuer, warnings)
		}
	}
}
