package config

import (
	"strings"
	"testing"
)

func TestUpstreamAuthValidation(t *testing.T) {
	const conn = `
publicURL: https://mcp.example.com
upstreamCredentials:
  connections:
    - name: github
      authorizeURL: https://github.example/login/oauth/authorize
      tokenURL: https://github.example/login/oauth/access_token
      clientId: abc
      clientSecret: ${GH_SECRET}
`
	route := func(ua string) string {
		return `
issuers:
  - name: idp
    issuer: https://idp.example.com
routes:
  - name: weather
    path: /weather/mcp
    upstream: {url: http://127.0.0.1:9001/mcp}
    auth: {issuers: [idp]}
    upstreamAuth: ` + ua + "\n"
	}
	tests := []struct {
		name  string
		doc   string
		wants []string // empty: valid
	}{
		{"obo secret", route(`{obo: {tenant: 11111111-2222-3333-4444-555555555555, clientId: app, clientSecret: s, scope: api://weather/.default}}`), nil},
		{"obo emulator tokenURL", route(`{obo: {tokenURL: http://127.0.0.1:9000/t/oauth2/v2.0/token, clientId: app, clientSecret: s, scope: api://weather/read api://weather/write}}`), nil},
		{"two modes", route(`{passthrough: true, static: {value: x}}`), []string{"sets passthrough and static: choose exactly one mode per route"}},
		{"no mode", route(`{}`), []string{"choose one mode: obo, tokenExchange"}},
		{"obo common", route(`{obo: {tenant: common, clientId: app, clientSecret: s, scope: api://w/.default}}`), []string{`"common" cannot be used for On-Behalf-Of`}},
		{"obo two resources", route(`{obo: {tenant: organizations, clientId: app, clientSecret: s, scope: "api://a/read api://b/read"}}`), []string{"names several resources (api://a, api://b)"}},
		{"obo default plus scope", route(`{obo: {tenant: organizations, clientId: app, clientSecret: s, scope: "api://a/.default api://a/read"}}`), []string{"/.default cannot be combined"}},
		{"obo secret and none", route(`{obo: {tenant: organizations, clientId: app, scope: api://a/.default}}`), []string{"give exactly one of clientSecret or certificate"}},
		{"obo missing cert file", route(`{obo: {tenant: organizations, clientId: app, scope: api://a/.default, certificate: {certFile: /nope.pem, keyFile: /nope.key}}}`), []string{"certificate.certFile: cannot read /nope.pem"}},
		{"token exchange ok", route(`{tokenExchange: {tokenURL: https://kc.example/token, clientId: gw, clientSecret: s, audience: inventory, resource: [https://inv.example/mcp]}}`), nil},
		{"token exchange no target", route(`{tokenExchange: {tokenURL: https://kc.example/token}}`), []string{"name the target with audience, resource or scopes"}},
		{"token exchange bad type", route(`{tokenExchange: {tokenURL: https://kc.example/token, audience: a, subjectTokenType: access_token}}`), []string{"is not a token type URI"}},
		{"token exchange bad actor", route(`{tokenExchange: {tokenURL: https://kc.example/token, audience: a, actorToken: me}}`), []string{`"me" is not clientCredentials or gatewayJWT`}},
		{"client credentials", route(`{clientCredentials: {tokenURL: https://as.example/token, clientId: c, clientSecret: s, resource: [https://api.example]}}`), nil},
		{"client credentials no auth", route(`{clientCredentials: {tokenURL: not-a-url, clientId: c}}`), []string{`"not-a-url" is not an absolute http(s) URL`, "give exactly one of clientSecret or certificate"}},
		{"gatewayJWT needs issuer", route(`{gatewayJWT: {audience: https://weather.internal}}`), []string{"needs an issuer: set publicURL"}},
		{"gatewayJWT long", "publicURL: https://mcp.example.com\n" + route(`{gatewayJWT: {lifetime: 1h}}`), []string{"is out of range"}},
		{"static both", route(`{static: {value: a, valueFile: /x}}`), []string{"give exactly one of value"}},
		{"connection ok", conn + route(`{connection: {provider: github}}`), nil},
		{"connection typo", conn + route(`{connection: {provider: githb}}`), []string{`"githb" is not defined under upstreamCredentials.connections (did you mean "github"?)`}},
		{"connection needs publicURL", strings.Replace(conn, "publicURL: https://mcp.example.com\n", "", 1) + route(`{connection: {provider: github}}`), []string{"publicURL: is required when upstreamCredentials.connections"}},
		{"connection provider incomplete", "publicURL: https://mcp.example.com\nupstreamCredentials:\n  connections:\n    - {name: a/b, authorizeURL: x}\n" + route(`{static: {value: v}}`),
			[]string{"may not contain", `authorizeURL: "x" is not an absolute`, "tokenURL: is required", "clientId: is required: register mcpgate as an OAuth app"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Parse("t.yaml", []byte(tt.doc), env(map[string]string{"GH_SECRET": "x"}))
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

func TestOBOTokenURL(t *testing.T) {
	o := &OBOAuth{Tenant: "t1"}
	if got := o.OBOTokenURL(); got != "https://login.microsoftonline.com/t1/oauth2/v2.0/token" {
		t.Fatal(got)
	}
	o.Authority = "http://127.0.0.1:9/"
	if got := o.OBOTokenURL(); got != "http://127.0.0.1:9/t1/oauth2/v2.0/token" {
		t.Fatal(got)
	}
}
