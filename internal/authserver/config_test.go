package authserver

import (
	"context"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/internal/config"
	"github.com/mcpgate/mcpgate/internal/store"
)

func TestOptionsFromConfig(t *testing.T) {
	doc := `publicURL: https://mcp.example.com
store:
  memory: {}
authServer:
  signingAlgorithm: RS256
  accessTokenLifetime: 15m
  scopes: [mcp:tools]
  registration: {policy: allowedHosts, allowedHosts: [app.example.com], maxPerIPPerHour: 5}
  trustedClients: [cli]
  clients:
    - id: cli
      redirectURIs: ["http://127.0.0.1:8976/cb"]
  users:
    - username: carol
      passwordHash: "$argon2id$v=19$m=65536,t=3,p=2$c2FsdA$aGFzaA"
      groups: [ops]
routes:
  - name: demo
    path: /demo/mcp
    upstream: {url: "http://127.0.0.1:9/mcp"}
`
	cfg, _, err := config.Parse("t.yaml", []byte(doc), nil)
	if err != nil {
		t.Fatal(err)
	}
	o := OptionsFromConfig(cfg)
	if o.Issuer != "https://mcp.example.com" || o.SigningAlgorithm != "RS256" || o.AccessTokenLifetime != 15*time.Minute ||
		o.Registration != RegistrationAllowedHosts || o.RegistrationsPerIPPerHour != 5 || len(o.Clients) != 1 || len(o.Users) != 1 ||
		o.Users[0].Groups[0] != "ops" || o.TrustedClients[0] != "cli" {
		t.Fatalf("options = %+v", o)
	}
	st, err := store.Open(context.Background(), store.Backend{Memory: cfg.Store.Memory != nil}, nil)
	if err != nil {
		t.Fatal(err)
	}
	o.Store = st
	s, err := New(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if s.Issuer() != "https://mcp.example.com" {
		t.Fatal(s.Issuer())
	}
}
