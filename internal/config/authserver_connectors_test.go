package config

import (
	"strings"
	"testing"
)

func TestConnectorValidation(t *testing.T) {
	doc := func(connectors string) string {
		return `
publicURL: https://mcp.example.com
authServer:
  connectors:
` + connectors + `
routes:
  - name: weather
    path: /weather/mcp
    upstream: {url: http://127.0.0.1:9001/mcp}
`
	}
	const tenant = "7a1e5f00-0000-4000-8000-00000000c0de"
	tests := []struct {
		name  string
		conns string
		wants []string // empty: valid
	}{
		{"entra ok", `    - {id: entra, type: entra, clientId: app, clientSecret: s, scopes: [access_as_user], entra: {tenant: ` + tenant + `, appIdUri: api://mcpgate}}`, nil},
		{"entra graph lookup ok", `    - {id: entra, type: entra, clientId: app, entra: {tenant: ` + tenant + `, graphGroupLookup: true}}`, nil},
		{"entra graph http url", `    - {id: entra, type: entra, clientId: app, entra: {tenant: ` + tenant + `, graphGroupLookup: true, graphURL: http://graph.example}}`, []string{`entra.graphURL: "http://graph.example" must be https`}},
		{"entra graph relative url", `    - {id: entra, type: entra, clientId: app, entra: {tenant: ` + tenant + `, graphGroupLookup: true, graphURL: graph}}`, []string{`entra.graphURL: "graph" is not an absolute URL`}},
		{"entra multi-tenant ok", `    - {id: entra, type: entra, clientId: app, entra: {tenant: organizations, allowedTenants: [` + tenant + `]}}`, nil},
		{"keycloak ok", `    - {id: kc, type: keycloak, issuer: https://sso.example.com/realms/mcp, clientId: mcpgate, groupMapping: {/staff: [staff]}}`, nil},
		{"okta and oidc ok", "    - {id: okta, type: okta, issuer: https://acme.okta.com/oauth2/default, clientId: a}\n    - {id: google, type: oidc, issuer: https://accounts.google.com, clientId: b}", nil},
		{"explicit endpoints ok", `    - {id: x, type: oidc, issuer: https://idp.example, clientId: a, authorizationURL: https://idp.example/auth, tokenURL: https://idp.example/token, jwksURL: https://idp.example/keys}`, nil},
		{"missing id type client", `    - {name: Corp}`, []string{"connectors[0].id: is required", "connectors[0].clientId: is required", "connectors[0].type: is required: entra, keycloak, okta or oidc"}},
		{"bad id", `    - {id: Entra_1, type: oidc, issuer: https://idp.example, clientId: a}`, []string{`"Entra_1" must be lower-case letters, digits and dashes`}},
		{"reserved id", `    - {id: local, type: oidc, issuer: https://idp.example, clientId: a}`, []string{`"local" is reserved`}},
		{"duplicate id", "    - {id: a, type: oidc, issuer: https://idp.example, clientId: a}\n    - {id: a, type: oidc, issuer: https://idp2.example, clientId: a}", []string{`"a" is defined twice`}},
		{"unknown type", `    - {id: a, type: saml, clientId: a}`, []string{`"saml" is not one of entra, keycloak, okta, oidc`}},
		{"entra no tenant", `    - {id: entra, type: entra, clientId: app}`, []string{"entra.tenant: is required for type entra"}},
		{"entra common", `    - {id: entra, type: entra, clientId: app, entra: {tenant: common}}`, []string{`"common" is not a tenant id`}},
		{"entra domain", `    - {id: entra, type: entra, clientId: app, entra: {tenant: contoso.com}}`, []string{`"contoso.com" is not a tenant id`}},
		{"entra organizations without allowed", `    - {id: entra, type: entra, clientId: app, entra: {tenant: organizations}}`, []string{"allowedTenants: is required with tenant organizations"}},
		{"entra bare scope without appIdUri", `    - {id: entra, type: entra, clientId: app, scopes: [access_as_user], entra: {tenant: ` + tenant + `}}`, []string{`appIdUri: is required to qualify the scope "access_as_user"`}},
		{"oidc no issuer", `    - {id: kc, type: keycloak, clientId: a}`, []string{"issuer: is required for type keycloak (https://<host>/realms/<realm>)"}},
		{"http issuer", `    - {id: kc, type: oidc, issuer: http://idp.example, clientId: a}`, []string{`"http://idp.example" must be https (set allowPrivateAddresses: true only for local development)`}},
		{"partial endpoints", `    - {id: x, type: oidc, issuer: https://idp.example, clientId: a, tokenURL: https://idp.example/token}`, []string{"give all of authorizationURL, tokenURL and jwksURL, or none"}},
		{"entra block on oidc", `    - {id: x, type: oidc, issuer: https://idp.example, clientId: a, entra: {tenant: ` + tenant + `}}`, []string{"entra: is only for type entra"}},
		{"negative revalidation", `    - {id: x, type: oidc, issuer: https://idp.example, clientId: a, revalidateAfter: -1m, revalidateGrace: -1s}`, []string{"revalidateAfter: must not be negative", "revalidateGrace: must not be negative"}},
		{"empty group mapping", `    - {id: x, type: oidc, issuer: https://idp.example, clientId: a, groupMapping: {staff: []}}`, []string{`entry "staff" must map a non-empty group`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Parse("t.yaml", []byte(doc(tt.conns)), env(nil))
			if len(tt.wants) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tt.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not say %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestConnectorRouteCollision(t *testing.T) {
	_, _, err := Parse("t.yaml", []byte(`
publicURL: https://mcp.example.com
authServer: {}
routes:
  - name: x
    path: /login/callback
    upstream: {url: http://127.0.0.1:9001/mcp}
`), env(nil))
	if err == nil || !strings.Contains(err.Error(), "collides with the authorization server's /login/ endpoint") {
		t.Fatalf("want a collision with /login/, got %v", err)
	}
}

func TestConnectorWarnings(t *testing.T) {
	const tenant = "7a1e5f00-0000-4000-8000-00000000c0de"
	tests := []struct {
		name, conn, want string // want "": no connector warning
	}{
		{"okta custom authorization server", `{id: okta, type: okta, issuer: https://acme.okta.com/oauth2/default, clientId: a}`, ""},
		{"okta org authorization server", `{id: okta, type: okta, issuer: https://acme.okta.com, clientId: a}`, "Okta's org authorization server"},
		{"graphURL without lookup", `{id: entra, type: entra, clientId: a, entra: {tenant: ` + tenant + `, graphURL: https://graph.microsoft.us}}`, "graphGroupLookup is off"},
		{"graphURL with lookup", `{id: entra, type: entra, clientId: a, entra: {tenant: ` + tenant + `, graphURL: https://graph.microsoft.us, graphGroupLookup: true}}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, warns, err := Parse("t.yaml", []byte("publicURL: https://mcp.example.com\nauthServer:\n  connectors:\n    - "+tt.conn+"\nroutes:\n  - {name: w, path: /w/mcp, upstream: {url: http://127.0.0.1:9001/mcp}}\n"), env(nil))
			if err != nil {
				t.Fatal(err)
			}
			var found []string
			for _, w := range warns {
				if strings.Contains(w, "connectors[0]") {
					found = append(found, w)
				}
			}
			if tt.want == "" && len(found) > 0 || tt.want != "" && (len(found) != 1 || !strings.Contains(found[0], tt.want)) {
				t.Fatalf("warnings %q, want one saying %q", found, tt.want)
			}
		})
	}
}
