package entraemulator

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/internal/authn"
)

// TestGatewayEntraPreset checks that the gateway's Entra presets (internal/authn) accept the
// emulator's v1 and v2 tokens, single- and multi-tenant, fetching keys from the emulator as
// they would from login.microsoftonline.com.
func TestGatewayEntraPreset(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	reg, err := authn.NewRegistry(ctx, []authn.Issuer{
		{Name: "mcp-single", Entra: &authn.EntraIssuer{Tenant: contosoID, ClientID: mcpAPIID, AppIDURI: "api://mcp-api", Authority: e.srv.URL}},
		{Name: "files-single", Entra: &authn.EntraIssuer{Tenant: contosoID, ClientID: filesAPIID, AppIDURI: "api://files", Authority: e.srv.URL}},
		{Name: "mcp-multi", Entra: &authn.EntraIssuer{Tenant: "organizations", AllowedTenants: []string{contosoID, fabrikamID}, ClientID: mcpAPIID, AppIDURI: "api://mcp-api", Authority: e.srv.URL}},
		{Name: "files-multi", Entra: &authn.EntraIssuer{Tenant: "organizations", AllowedTenants: []string{contosoID, fabrikamID}, ClientID: filesAPIID, AppIDURI: "api://files", Authority: e.srv.URL}},
		{Name: "mcp-contoso-only", Entra: &authn.EntraIssuer{Tenant: "organizations", AllowedTenants: []string{contosoID}, ClientID: mcpAPIID, Authority: e.srv.URL}},
	}, authn.Options{HTTPClient: e.srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reg.Close() })
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := reg.WaitReady(wctx); err != nil {
		t.Fatal(err)
	}
	verifier := func(name string) *authn.JWTVerifier {
		v, err := reg.Verifier([]string{name}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	aliceV2 := str(e.login(t, contosoID, clientID, "alice@contoso.com", "alice-pw", "api://mcp-api/access_as_user", nil), "access_token")
	daveV2 := str(e.login(t, "organizations", clientID, "dave@fabrikam.onmicrosoft.com", "dave-pw", "api://mcp-api/access_as_user", nil), "access_token")
	daveV1 := str(e.login(t, "organizations", clientID, "dave@fabrikam.onmicrosoft.com", "dave-pw", "api://files/Files.Read", nil), "access_token")
	_, obo := e.post(t, "/"+contosoID+"/oauth2/v2.0/token", map[string][]string{"grant_type": {grantJWTBearer}, "requested_token_use": {"on_behalf_of"},
		"assertion": {aliceV2}, "client_id": {mcpAPIID}, "client_secret": {mcpSecret}, "scope": {"api://files/Files.Read"}})
	aliceV1 := str(obo, "access_token")

	cases := []struct {
		name, verifier, token, tid, reason string
	}{
		{"v2 single-tenant", "mcp-single", aliceV2, contosoID, ""},
		{"v1 single-tenant (OBO token)", "files-single", aliceV1, contosoID, ""},
		{"v2 multi-tenant, home tenant", "mcp-multi", aliceV2, contosoID, ""},
		{"v2 multi-tenant, other tenant", "mcp-multi", daveV2, fabrikamID, ""},
		{"v1 multi-tenant, other tenant", "files-multi", daveV1, fabrikamID, ""},
		{"other tenant on a single-tenant issuer", "mcp-single", daveV2, "", authn.ReasonWrongIssuer},
		{"tenant not on the allow-list", "mcp-contoso-only", daveV2, "", authn.ReasonTenantNotAllowed},
		{"token for another API", "mcp-single", aliceV1, "", authn.ReasonWrongAudience},
	}
	// A plain issuer in the v2 form meets a v1 token: the rejection names the token version,
	// the setting that decides it and the preset that accepts both.
	t.Run("v1 token on a plain v2 issuer", func(t *testing.T) {
		plain, err := authn.NewRegistry(ctx, []authn.Issuer{{Name: "v2-only", Issuer: e.em.V2Issuer(contosoID),
			JWKSURL: e.srv.URL + "/" + contosoID + "/discovery/v2.0/keys", Audiences: []string{"api://files"}}}, authn.Options{HTTPClient: e.srv.Client()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = plain.Close() })
		v, err := plain.Verifier([]string{"v2-only"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, err = v.Verify(ctx, aliceV1)
		var ae *authn.Error
		if !errors.As(err, &ae) || ae.Reason != authn.ReasonWrongIssuer {
			t.Fatalf("want wrong_issuer, got %v", err)
		}
		for _, want := range []string{"Entra v1 access token (ver 1.0", "accessTokenAcceptedVersion", "entra: issuer preset", "accepts both versions"} {
			if !strings.Contains(ae.Description, want) {
				t.Errorf("rejection lacks %q: %s", want, ae.Description)
			}
		}
	})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := verifier(c.verifier).Verify(ctx, c.token)
			if c.reason != "" {
				var ae *authn.Error
				if !errors.As(err, &ae) || ae.Reason != c.reason {
					t.Fatalf("want rejection %s, got %v", c.reason, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("gateway rejected an emulator token: %v", err)
			}
			if p.TenantID != c.tid || p.Subject == "" {
				t.Fatalf("principal %+v", p)
			}
		})
	}
}
