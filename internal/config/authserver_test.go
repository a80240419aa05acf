package config

import (
	"strings"
	"testing"
)

func TestAuthServerValidation(t *testing.T) {
	base := "publicURL: https://mcp.example.com\nroutes:\n  - name: demo\n    path: %PATH%\n    upstream:\n      url: http://127.0.0.1:9/mcp\n"
	tests := []struct {
		name, yaml, path string
		want             []string // substrings of the error; empty = valid
	}{
		{name: "minimal", yaml: "authServer: {}\n"},
		{name: "full", yaml: `authServer:
  signingAlgorithm: RS256
  accessTokenLifetime: 15m
  registration: {policy: allowedHosts, allowedHosts: [app.example.com]}
  clients:
    - id: cli
      redirectURIs: ["http://127.0.0.1:8976/cb"]
      trusted: true
    - id: job
      secret: s
      grantTypes: [client_credentials]
  users:
    - username: carol
      passwordHash: "$argon2id$v=19$m=65536,t=3,p=2$c2FsdA$aGFzaA"
`},
		{name: "logo from another origin", yaml: "authServer:\n  issuer: https://mcp.example.com\n  branding: {name: Contoso, logoURL: https://cdn.example.com/l.png}\n", want: []string{"authServer.branding.logoURL", "path on this server"}},
		{name: "http issuer", yaml: "authServer:\n  issuer: http://mcp.example.com\n", want: []string{"authServer.issuer", "must be https"}},
		{name: "issuer with path", yaml: "authServer:\n  issuer: https://mcp.example.com/as\n", want: []string{"must not have a path"}},
		{name: "bad alg", yaml: "authServer:\n  signingAlgorithm: HS256\n", want: []string{"signingAlgorithm"}},
		{name: "bad policy", yaml: "authServer:\n  registration: {policy: sometimes}\n", want: []string{"registration.policy"}},
		{name: "allowedHosts empty", yaml: "authServer:\n  registration: {policy: allowedHosts}\n", want: []string{"registration.allowedHosts"}},
		{name: "bad redirect", yaml: "authServer:\n  clients:\n    - id: x\n      redirectURIs: [\"http://evil.example/cb\"]\n", want: []string{"clients[0].redirectURIs[0]", "https"}},
		{name: "cc without secret", yaml: "authServer:\n  clients:\n    - id: x\n      grantTypes: [client_credentials]\n", want: []string{"needs a secret"}},
		{name: "duplicate client", yaml: "authServer:\n  clients:\n    - {id: x, redirectURIs: [\"https://a/cb\"]}\n    - {id: x, redirectURIs: [\"https://a/cb\"]}\n", want: []string{"defined twice"}},
		{name: "plain password", yaml: "authServer:\n  users:\n    - {username: a, passwordHash: hunter2}\n", want: []string{"users[0].passwordHash", "never a plain password"}},
		{name: "route collides", yaml: "authServer: {}\n", path: "/token", want: []string{"routes[0].path", "collides"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := tc.path
			if path == "" {
				path = "/demo/mcp"
			}
			doc := strings.Replace(base, "%PATH%", path, 1) + tc.yaml
			_, _, err := Parse("test.yaml", []byte(doc), nil)
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}
