package federation_test

import (
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/internal/config"
)

// TestOffboardingOIDCProvider runs offboarding against a third-party OpenID provider
// (oidc-provider shaped like Keycloak): the user's grant is revoked through the provider's
// revocation endpoint (RFC 7009, what an administrator's "sign out / revoke" does), and
// mcpgate's next refresh past revalidateAfter is refused with the sign-in's access tokens
// revoked; before that, a refresh past the bound is confirmed by the provider.
func TestOffboardingOIDCProvider(t *testing.T) {
	front := newLazyServer(t)
	issuer := startNodeIdP(t, "keycloak-like.mjs", front.URL+"/login/callback")
	up := newLazyServer(t)
	e := newMCPGate(t, front, "testdata/mcpgate-keycloak.yaml", map[string]string{"KC_ISSUER": issuer, "KC_CLIENT_SECRET": kcSecret, "WEATHER_URL": up.URL},
		&syncBuffer{}, func(c *config.Config) { c.AuthServer.Connectors[0].RevalidateAfter = config.Duration(5 * time.Minute) })
	s := signInTokens(t, e)
	sub := "keycloak:" + kcCarol

	// Past the bound, the provider confirms the sign-in (its refresh token is redeemed) and
	// the mapped groups come back from the new id_token.
	e.clock.advance(6 * time.Minute)
	if status, tok := s.refreshTokens(t, e); status != http.StatusOK {
		t.Fatalf("refresh past the bound = %d %v", status, tok)
	}
	c, _, err := e.as.VerifyAccessToken(t.Context(), s.access, e.resource)
	if err != nil || !slices.Contains(c.Groups, "mcp-users") {
		t.Fatalf("after the confirmation: %+v %v", c, err)
	}

	// The administrator revokes the user's grant at the provider.
	rt, err := e.fed.For(sub).StoredRefreshToken(t.Context(), sub)
	if err != nil || rt == "" {
		t.Fatalf("stored refresh token: %q %v", rt, err)
	}
	resp, err := http.PostForm(issuer+"/protocol/openid-connect/revoke", url.Values{"token": {rt}, "token_type_hint": {"refresh_token"},
		"client_id": {"mcpgate"}, "client_secret": {kcSecret}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("revocation at the provider: %d", resp.StatusCode)
	}
	if status, _ := s.refreshTokens(t, e); status != http.StatusOK {
		t.Fatal("refused within the bound") // the provider is not asked yet
	}
	e.clock.advance(6 * time.Minute)
	refusedRefresh(t, e, &s, "no longer accepts this user")
}
