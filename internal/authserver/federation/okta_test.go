package federation_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/internal/authn"
	"github.com/mcpgate/mcpgate/internal/config"
)

const (
	oktaSecret = "okta-mcpgate-secret-7c21"
	oktaDana   = "00u8k2n4q6s8u0w2y4a6"
)

// TestBridgeOktaLike: the go-sdk MCP client signs in through mcpgate's okta preset bridged
// to oidc-provider shaped like an Okta custom authorization server (issuer .../oauth2/default,
// /v1/authorize|token|keys, the groups claim behind the groups scope); the user's Okta token
// is exchanged (Okta On-Behalf-Of token exchange) for the tool's upstream.
func TestBridgeOktaLike(t *testing.T) {
	logs := &syncBuffer{}
	front := newLazyServer(t)
	issuer := startNodeIdP(t, "okta-like.mjs", front.URL+"/login/callback")
	if !strings.HasSuffix(issuer, "/oauth2/default") {
		t.Fatalf("issuer %q is not Okta-shaped", issuer)
	}
	reg, err := authn.NewRegistry(context.Background(), []config.Issuer{{Name: "okta", Issuer: issuer, JWKSURL: issuer + "/v1/keys"}}, authn.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	wv, _ := reg.Verifier([]string{"okta"}, []string{kcWeather})
	e := newMCPGate(t, front, "testdata/mcpgate-okta.yaml", map[string]string{"OKTA_ISSUER": issuer, "OKTA_CLIENT_SECRET": oktaSecret,
		"WEATHER_URL": weatherServer(t, wv)}, logs, nil)

	b := newBrowser(t, "http://127.0.0.1:5555/callback")
	sess, h := mcpClient(t, e.resource, b, "okta e2e")
	text := callWhoami(t, sess)
	if !strings.Contains(text, "aud="+kcWeather+" ") || !strings.Contains(text, "sub="+oktaDana+" ") || !strings.Contains(text, "scp=weather.read") {
		t.Fatalf("upstream saw %q; want a Weather API token for dana (%s)", text, oktaDana)
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
	if c.Subject != "okta:"+oktaDana || c.Email != "dana@example.com" || c.Name != "Dana Okta" || strings.Join(groups, ",") != "admins,mcp-users" {
		t.Fatalf("mcpgate token: sub=%q email=%q name=%q groups=%v; want okta:%s, dana@example.com, mapped groups [admins mcp-users]",
			c.Subject, c.Email, c.Name, c.Groups, oktaDana)
	}

	// The stored refresh token renews the Okta token once it is about to expire.
	conn := e.fed.For(c.Subject)
	before, err := conn.UpstreamToken(context.Background(), c.Subject)
	if err != nil {
		t.Fatal(err)
	}
	e.clock.advance(10 * time.Minute)
	after, err := conn.UpstreamToken(context.Background(), c.Subject)
	if err != nil || after == before {
		t.Fatalf("refresh at the Okta-like provider: err=%v same=%v", err, after == before)
	}
}
