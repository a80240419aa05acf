package config

import (
	"strings"
	"testing"
)

func TestIDJAGValidation(t *testing.T) {
	doc := func(section string) string {
		return `
publicURL: https://mcp.example.com
authServer:
  clients:
    - {id: agent, secret: s, grantTypes: [urn:ietf:params:oauth:grant-type:token-exchange, urn:ietf:params:oauth:grant-type:jwt-bearer]}
    - {id: pub, redirectURIs: [http://127.0.0.1/cb]}
` + section + `
routes:
  - name: weather
    path: /weather/mcp
    upstream: {url: http://127.0.0.1:9001/mcp}
`
	}
	tests := []struct {
		name    string
		section string
		wants   []string // empty: valid
	}{
		{"enterprise IdP ok", "  enterpriseIdPs:\n    - {name: okta, issuer: https://acme.okta.com/oauth2/default, groupMapping: {Engineering: [eng]}}", nil},
		{"enterprise IdP with keys ok", "  enterpriseIdPs:\n    - {name: corp, issuer: https://idp.example, jwksURL: https://idp.example/keys, algorithms: [RS256, ES256], users: existing, userClaim: email}", nil},
		{"missing name and issuer", "  enterpriseIdPs:\n    - {users: provision}", []string{"enterpriseIdPs[0].name: is required", "enterpriseIdPs[0].issuer: is required"}},
		{"HMAC and none", "  enterpriseIdPs:\n    - {name: corp, issuer: https://idp.example, algorithms: [HS256, none]}", []string{`algorithms[0]: "HS256" is not allowed`, `algorithms[1]: "none" is not allowed`}},
		{"two key sources", "  enterpriseIdPs:\n    - {name: corp, issuer: https://idp.example, jwksURL: https://idp.example/k, jwks: '{}'}", []string{"give at most one of jwksURL, jwksFile and jwks"}},
		{"http issuer", "  enterpriseIdPs:\n    - {name: corp, issuer: http://idp.example}", []string{`"http://idp.example" must be https`}},
		{"duplicate issuer", "  enterpriseIdPs:\n    - {name: a, issuer: https://idp.example}\n    - {name: b, issuer: https://idp.example}", []string{"is trusted twice"}},
		{"bad users", "  enterpriseIdPs:\n    - {name: corp, issuer: https://idp.example, users: auto}", []string{`"auto" is not one of provision, existing`}},
		{"long lifetime", "  enterpriseIdPs:\n    - {name: corp, issuer: https://idp.example, maxLifetime: 2h}", []string{"maxLifetime: must be at most 1h"}},
		{"idJag ok", "  idJag:\n    claims: [email, groups]\n    grants:\n      - {client: agent, audience: https://ras.example.com, resources: [https://ras.example.com/mcp], scopes: [mcp:tools]}", nil},
		{"idJag public client", "  idJag:\n    grants:\n      - {client: pub, audience: https://ras.example.com}", []string{`"pub" must be a confidential client`}},
		{"idJag bad claim and lifetime", "  idJag:\n    lifetime: 1h\n    claims: [phone]\n    grants:\n      - {client: agent, audience: https://ras.example.com}", []string{"lifetime: must be at most 10m", `claims[0]: "phone" is not one of`}},
		{"idJag missing fields", "  idJag:\n    grants:\n      - {resources: [notaurl]}", []string{"grants[0].client: is required", "grants[0].audience: is required", `resources[0]: "notaurl" is not an absolute URL`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Parse("t.yaml", []byte(doc(tt.section)), env(nil))
			if len(tt.wants) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want %v", tt.wants)
			}
			for _, w := range tt.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
	_, _, err := Parse("t.yaml", []byte(`
publicURL: https://mcp.example.com
authServer:
  clients:
    - {id: pub, grantTypes: [urn:ietf:params:oauth:grant-type:jwt-bearer]}
routes:
  - {name: w, path: /w/mcp, upstream: {url: http://127.0.0.1:9001/mcp}}
`), env(nil))
	if err == nil || !strings.Contains(err.Error(), "urn:ietf:params:oauth:grant-type:jwt-bearer needs a secret") {
		t.Fatalf("jwt-bearer without a secret: %v", err)
	}
}
