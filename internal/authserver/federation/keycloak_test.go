package federation_test

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/internal/authn"
	"github.com/mcpgate/mcpgate/internal/testutil"
)

const (
	kcSecret  = "kc-mcpgate-secret-51f0"
	kcCarol   = "6f1c2a8e-5b1d-4c1e-9a77-0000000ca201"
	kcWeather = "https://weather.example.test"
)

// startNodeIdP runs an oidc-provider script of testdata and returns the issuer it announces.
func startNodeIdP(t *testing.T, script, redirectURI string) string {
	t.Helper()
	return testutil.StartOIDCProvider(t, filepath.Join("testdata", script),
		"REDIRECT_URI="+redirectURI, "WEATHER="+kcWeather, "AT_TTL=300")
}

// TestBridgeKeycloakLike is issue 8's done-when (b): the go-sdk MCP client signs in through
// mcpgate bridged to an OpenID provider mcpgate did not write (oidc-provider, configured
// like a Keycloak realm), with discovery, a confidential client, PKCE, Keycloak-shaped
// claims and group/role mapping; then calls a tool whose upstream gets a token exchanged
// (RFC 8693, as Keycloak does it) from the user's upstream token.
func TestBridgeKeycloakLike(t *testing.T) {
	testBridgeNodeIdP(t, nodeIdP{
		script: "keycloak-like.mjs", jwksPath: "/protocol/openid-connect/certs", config: "testdata/mcpgate-keycloak.yaml",
		env: func(issuer string) map[string]string {
			return map[string]string{"KC_ISSUER": issuer, "KC_CLIENT_SECRET": kcSecret}
		},
		connector: "keycloak", user: kcCarol, email: "carol@example.org", name: "Carol Keycloak",
	})
}

// nodeIdP describes an oidc-provider script shaped like a product's IdP, and the user it
// signs in.
type nodeIdP struct {
	script, jwksPath, config string
	env                      func(issuer string) map[string]string
	checkIssuer              func(t *testing.T, issuer string)
	connector                string // mcpgate subjects are "<connector>:<user>"
	user, email, name        string
}

// testBridgeNodeIdP signs the go-sdk MCP client in through mcpgate bridged to the IdP, calls a
// tool whose upstream receives a token exchanged from the user's upstream token, checks the
// mcpgate token's identity and mapped groups, and checks that the stored refresh token renews
// the upstream token once it is about to expire.
func testBridgeNodeIdP(t *testing.T, p nodeIdP) {
	logs := &syncBuffer{}
	front := newLazyServer(t)
	issuer := startNodeIdP(t, p.script, front.URL+"/login/callback")
	if p.checkIssuer != nil {
		p.checkIssuer(t, issuer)
	}
	reg, err := authn.NewRegistry(context.Background(), []authn.Issuer{{Name: p.connector, Issuer: issuer, JWKSURL: issuer + p.jwksPath}}, authn.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	wv, _ := reg.Verifier([]string{p.connector}, []string{kcWeather})
	env := p.env(issuer)
	env["WEATHER_URL"] = weatherServer(t, wv)
	e := newMCPGate(t, front, p.config, env, logs, nil)

	b := newBrowser(t, "http://127.0.0.1:5555/callback")
	sess, h := mcpClient(t, e.resource, b, p.connector+" e2e")
	text := callWhoami(t, sess)
	if !strings.Contains(text, "aud="+kcWeather+" ") || !strings.Contains(text, "sub="+p.user+" ") || !strings.Contains(text, "scp=weather.read") {
		t.Fatalf("upstream saw %q; want a Weather API token for %s", text, p.user)
	}
	ts, _ := h.TokenSource(context.Background())
	tok, err := ts.Token()
	if err != nil {
		t.Fatal(err)
	}
	c, _, err := e.as.VerifyAccessToken(context.Background(), tok.AccessToken, e.resource)
	if err != nil {
		t.Fatal(err)
	}
	groups := slices.Clone(c.Groups)
	slices.Sort(groups)
	if c.Subject != p.connector+":"+p.user || c.Email != p.email || c.Name != p.name || strings.Join(groups, ",") != "admins,mcp-users" {
		t.Fatalf("mcpgate token: sub=%q email=%q name=%q groups=%v; want %s:%s, %s, mapped groups [admins mcp-users]",
			c.Subject, c.Email, c.Name, c.Groups, p.connector, p.user, p.email)
	}

	// The stored refresh token renews the upstream token once it is about to expire.
	conn := e.fed.For(c.Subject)
	before, err := conn.UpstreamToken(context.Background(), c.Subject)
	if err != nil {
		t.Fatal(err)
	}
	e.clock.advance(10 * time.Minute)
	after, err := conn.UpstreamToken(context.Background(), c.Subject)
	if err != nil || after == before {
		t.Fatalf("refresh at %s: err=%v same=%v", p.script, err, after == before)
	}
}
