package authn

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const (
	tenantA  = "11111111-1111-1111-1111-111111111111"
	tenantB  = "22222222-2222-2222-2222-222222222222"
	tenantC  = "33333333-3333-3333-3333-333333333333"
	clientID = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
	appIDURI = "api://weather"
)

func TestEntraIssuersAndKeysURLs(t *testing.T) {
	v1, v2 := EntraIssuers("", tenantA)
	if v1 != "https://sts.windows.net/"+tenantA+"/" || v2 != "https://login.microsoftonline.com/"+tenantA+"/v2.0" {
		t.Fatalf("single tenant: %s %s", v1, v2)
	}
	v1, v2 = EntraIssuers("https://login.microsoftonline.com/", "organizations")
	if v1 != "https://sts.windows.net/{tenantid}/" || v2 != "https://login.microsoftonline.com/{tenantid}/v2.0" {
		t.Fatalf("multi tenant: %s %s", v1, v2)
	}
	if got := AuthorizationServer(Issuer{Entra: &EntraIssuer{Tenant: "organizations"}}); got != "https://login.microsoftonline.com/organizations/v2.0" {
		t.Fatalf("AuthorizationServer: %s", got)
	}
	if got := AuthorizationServer(Issuer{Issuer: "https://kc.example.com/realms/x"}); got != "https://kc.example.com/realms/x" {
		t.Fatalf("AuthorizationServer: %s", got)
	}
	k1, k2 := EntraKeysURLs("", tenantA)
	if k1 != "https://login.microsoftonline.com/"+tenantA+"/discovery/keys" || k2 != "https://login.microsoftonline.com/"+tenantA+"/discovery/v2.0/keys" {
		t.Fatalf("keys: %s %s", k1, k2)
	}
}

type entraFixture struct {
	idp *idp
	clk *clock
	key *testKey // published with the {tenantid} issuer template
	kB  *testKey // published with tenant B's issuer only
}

func newEntraFixture(t *testing.T) *entraFixture {
	f := &entraFixture{clk: newClock(), key: newRSA(t, 0, "entra-common"), kB: newRSA(t, 1, "entra-b")}
	f.idp = newIDP(t)
	f.key.issuer = f.idp.srv.URL + "/{tenantid}/v2.0"
	f.kB.issuer = f.idp.srv.URL + "/" + tenantB + "/v2.0"
	f.idp.setKeys(f.key, f.kB)
	return f
}

// token makes an Entra-shaped access token of version ver for tenant tid.
func (f *entraFixture) token(t *testing.T, k *testKey, ver int, tid, aud string, over map[string]any) string {
	c := jwt.MapClaims{"aud": aud, "tid": tid, "oid": "oid-1", "sub": "pairwise", "scp": "Tools.Call Tools.List",
		"exp": f.clk.unix(time.Hour), "iat": f.clk.unix(0), "nbf": f.clk.unix(0)}
	if ver == 1 {
		c["iss"], c["ver"], c["appid"], c["upn"] = "https://sts.windows.net/"+tid+"/", "1.0", "client-app", "ada@contoso.com"
	} else {
		c["iss"], c["ver"], c["azp"], c["preferred_username"] = f.idp.srv.URL+"/"+tid+"/v2.0", "2.0", "client-app", "ada@contoso.com"
	}
	for n, v := range over {
		if v == nil {
			delete(c, n)
		} else {
			c[n] = v
		}
	}
	return k.sign(t, c, map[string]any{"x5t": k.kid})
}

func TestEntraSingleTenant(t *testing.T) {
	f := newEntraFixture(t)
	reg := newTestRegistry(t, []Issuer{
		{Name: "entra", Entra: &EntraIssuer{Tenant: tenantA, ClientID: clientID, AppIDURI: appIDURI, Authority: f.idp.srv.URL}},
		{Name: "entra-v2", Entra: &EntraIssuer{Tenant: tenantA, ClientID: clientID, Versions: []int{2}, Authority: f.idp.srv.URL}},
	}, Options{Now: f.clk.Now})
	v := mustVerifier(t, reg, []string{"entra"}, []string{testAud})
	v2only := mustVerifier(t, reg, []string{"entra-v2"}, []string{testAud})
	for _, path := range []string{"/" + tenantA + "/discovery/keys", "/" + tenantA + "/discovery/v2.0/keys"} {
		if _, ok := f.idp.paths.Load(path); !ok {
			t.Errorf("JWKS %s not fetched", path)
		}
	}
	tests := []struct {
		name   string
		v      *JWTVerifier
		token  string
		reason string
		desc   string
	}{
		{"v2 token, GUID audience", v, f.token(t, f.key, 2, tenantA, clientID, nil), "", ""},
		{"v1 token, api:// audience", v, f.token(t, f.key, 1, tenantA, appIDURI, nil), "", ""},
		{"v1 token, GUID audience", v, f.token(t, f.key, 1, tenantA, clientID, nil), "", ""},
		{"v2 token, api:// audience", v, f.token(t, f.key, 2, tenantA, appIDURI, nil), "", ""},
		{"route audience also accepted", v, f.token(t, f.key, 2, tenantA, testAud, nil), "", ""},
		{"other tenant", v, f.token(t, f.key, 2, tenantB, clientID, nil), ReasonWrongIssuer, tenantB},
		{"tid disagrees with iss", v, f.token(t, f.key, 2, tenantA, clientID, map[string]any{"tid": tenantB}), ReasonTenantNotAllowed, tenantB},
		{"v1 token where only v2 is accepted", v2only, f.token(t, f.key, 1, tenantA, clientID, nil), ReasonVersionNotAllowed, "accessTokenAcceptedVersion"},
		{"ver claim disagrees with iss form", v, f.token(t, f.key, 2, tenantA, clientID, map[string]any{"ver": "1.0"}), ReasonVersionMismatch, ""},
		{"Graph token", v, f.token(t, f.key, 2, tenantA, "00000003-0000-0000-c000-000000000000", nil), ReasonWrongAudience, "Microsoft Graph"},
		{"wrong audience names the scope to request", v, f.token(t, f.key, 2, tenantA, "api://other", nil), ReasonWrongAudience, "api://weather/.default"},
		{"no kid", v, f.token(t, f.key, 2, tenantA, clientID, nil) + "", "", ""},
	}
	// Replace the last case with a token without kid.
	tests[len(tests)-1] = struct {
		name   string
		v      *JWTVerifier
		token  string
		reason string
		desc   string
	}{"no kid", v, f.key.sign(t, jwt.MapClaims{"iss": f.idp.srv.URL + "/" + tenantA + "/v2.0", "aud": clientID, "tid": tenantA, "exp": f.clk.unix(time.Hour)}, map[string]any{"kid": nil}), ReasonMalformed, "kid"}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := tc.v.Verify(context.Background(), tc.token)
			if tc.reason == "" {
				if err != nil {
					t.Fatalf("want accepted: %v", err)
				}
				if p.TenantID != tenantA || p.Email != "ada@contoso.com" || p.ClientID != "client-app" || len(p.Scopes) != 2 {
					t.Fatalf("principal: %+v", p)
				}
				return
			}
			e := wantReject(t, err, tc.reason, tc.token)
			if !strings.Contains(e.Description, tc.desc) {
				t.Errorf("description %q does not mention %q", e.Description, tc.desc)
			}
		})
	}
}

func TestEntraMultiTenant(t *testing.T) {
	f := newEntraFixture(t)
	reg := newTestRegistry(t, []Issuer{
		{Name: "orgs", Entra: &EntraIssuer{Tenant: "organizations", AllowedTenants: []string{tenantA, tenantB}, ClientID: clientID, AppIDURI: appIDURI, Authority: f.idp.srv.URL}},
	}, Options{Now: f.clk.Now})
	v := mustVerifier(t, reg, []string{"orgs"}, nil)
	for _, path := range []string{"/organizations/discovery/keys", "/organizations/discovery/v2.0/keys"} {
		if _, ok := f.idp.paths.Load(path); !ok {
			t.Errorf("JWKS %s not fetched", path)
		}
	}
	tests := []struct {
		name   string
		token  string
		reason string
		tid    string
	}{
		{"tenant A v2", f.token(t, f.key, 2, tenantA, clientID, nil), "", tenantA},
		{"tenant B v2", f.token(t, f.key, 2, tenantB, clientID, nil), "", tenantB},
		{"tenant A v1", f.token(t, f.key, 1, tenantA, appIDURI, nil), "", tenantA},
		{"tenant B with tenant B's own key", f.token(t, f.kB, 2, tenantB, clientID, nil), "", tenantB},
		{"tenant not on the allow-list", f.token(t, f.key, 2, tenantC, clientID, nil), ReasonTenantNotAllowed, ""},
		{"key of another tenant", f.token(t, f.kB, 2, tenantA, clientID, nil), ReasonKeyIssuerMismatch, ""},
		{"tid disagrees with iss", f.token(t, f.key, 2, tenantA, clientID, map[string]any{"tid": tenantB}), ReasonWrongIssuer, ""},
		{"iss without a GUID", f.token(t, f.key, 2, "contoso.com", clientID, map[string]any{"tid": "contoso.com"}), ReasonWrongIssuer, ""},
		{"tenant not on the allow-list, v1", f.token(t, f.key, 1, tenantC, appIDURI, nil), ReasonTenantNotAllowed, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := v.Verify(context.Background(), tc.token)
			if tc.reason == "" {
				if err != nil {
					t.Fatalf("want accepted: %v", err)
				}
				if p.TenantID != tc.tid {
					t.Fatalf("tenant %q, want %q", p.TenantID, tc.tid)
				}
				return
			}
			wantReject(t, err, tc.reason, tc.token)
		})
	}
}
