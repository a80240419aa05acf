package entraemulator

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// claimCheck describes what a token must and must not carry.
type claimCheck struct {
	equal  map[string]any // claim → value (strings, or []string for arrays)
	absent []string
	header map[string]bool // header member → must be present
}

func checkClaims(t *testing.T, c jwt.MapClaims, tok *jwt.Token, want claimCheck) {
	t.Helper()
	for k, v := range want.equal {
		got := c[k]
		switch v := v.(type) {
		case []string:
			arr, _ := got.([]any)
			var s []string
			for _, a := range arr {
				s = append(s, a.(string))
			}
			if !slices.Equal(s, v) {
				t.Errorf("claim %s = %v, want %v", k, got, v)
			}
		default:
			if got != v {
				t.Errorf("claim %s = %v, want %v", k, got, v)
			}
		}
	}
	for _, k := range want.absent {
		if _, ok := c[k]; ok {
			t.Errorf("claim %s must be absent, is %v", k, c[k])
		}
	}
	for k, present := range want.header {
		if _, ok := tok.Header[k]; ok != present {
			t.Errorf("header %s present=%v, want %v (%v)", k, ok, present, tok.Header)
		}
	}
	for _, k := range []string{"iat", "nbf", "exp", "uti", "aio", "rh", "tid", "oid", "sub", "ver"} {
		if _, ok := c[k]; !ok {
			t.Errorf("claim %s missing", k)
		}
	}
	if exp, _ := c.GetExpirationTime(); exp == nil || time.Until(exp.Time) < 59*time.Minute || time.Until(exp.Time) > 91*time.Minute {
		t.Errorf("lifetime not 60–90 minutes: exp %v", exp)
	}
}

func TestUserTokens(t *testing.T) {
	e := newEnv(t)
	v2Contoso := e.srv.URL + "/" + contosoID + "/v2.0"
	v1Contoso := "https://sts.windows.net/" + contosoID + "/"
	v2Keys := "/" + contosoID + "/discovery/v2.0/keys"
	v1Keys := "/" + contosoID + "/discovery/keys"

	cases := []struct {
		name                 string
		tenant, client, user string
		password, scope      string
		jwks, iss, aud       string
		want                 claimCheck
		wantIDToken, wantRT  bool
	}{
		{name: "v2 token for the MCP API (pre-authorized public client)", tenant: contosoID, client: clientID,
			user: "alice@contoso.com", password: "alice-pw", scope: "api://mcp-api/access_as_user openid profile offline_access",
			jwks: v2Keys, iss: v2Contoso, aud: mcpAPIID, wantIDToken: true, wantRT: true,
			want: claimCheck{equal: map[string]any{"ver": "2.0", "azp": clientID, "azpacr": "0", "preferred_username": "alice@contoso.com",
				"scp": "access_as_user", "roles": []string{"Tools.Admin"}, "oid": aliceOID, "tid": contosoID, "idtyp": "user",
				"groups": []string{"9a000000-0000-4000-8000-000000000001", "9a000000-0000-4000-8000-000000000002"}, "name": "Alice Example"},
				absent: []string{"appid", "upn", "unique_name", "appidacr", "_claim_names", "amr", "acr"}, header: map[string]bool{"kid": true, "x5t": false}}},
		{name: "v1 token for the Files API after user consent (confidential web app)", tenant: "contoso.com", client: webAppID,
			user: "alice@contoso.com", password: "alice-pw", scope: "api://files/Files.Read",
			jwks: v1Keys, iss: v1Contoso, aud: "api://files",
			want: claimCheck{equal: map[string]any{"ver": "1.0", "appid": webAppID, "appidacr": "1", "upn": "alice@contoso.com",
				"unique_name": "alice@contoso.com", "scp": "Files.Read", "amr": []string{"pwd"}, "idtyp": "user"},
				absent: []string{"azp", "azpacr", "preferred_username", "roles", "groups"}, header: map[string]bool{"kid": true, "x5t": true}}},
		{name: "bare scope goes to Microsoft Graph", tenant: contosoID, client: clientID,
			user: "alice@contoso.com", password: "alice-pw", scope: "User.Read",
			jwks: v1Keys, iss: v1Contoso, aud: GraphResource,
			want: claimCheck{equal: map[string]any{"ver": "1.0", "appid": clientID, "scp": "User.Read"}}},
		{name: "multi-tenant: Fabrikam user through organizations", tenant: "organizations", client: clientID,
			user: "dave@fabrikam.onmicrosoft.com", password: "dave-pw", scope: "api://mcp-api/.default openid",
			jwks: "/common/discovery/v2.0/keys", iss: e.srv.URL + "/" + fabrikamID + "/v2.0", aud: mcpAPIID, wantIDToken: true,
			want: claimCheck{equal: map[string]any{"tid": fabrikamID, "oid": daveOID, "scp": "access_as_user", "ver": "2.0"}}},
		{name: "group overage above 200 groups", tenant: contosoID, client: clientID,
			user: "carol@contoso.com", password: "carol-pw", scope: "api://mcp-api/access_as_user",
			jwks: v2Keys, iss: v2Contoso, aud: mcpAPIID,
			want: claimCheck{absent: []string{"groups"}}},
		{name: "Conditional Access: MFA on the login page gives amr mfa", tenant: contosoID, client: webAppID,
			user: "bob@contoso.com", password: "bob-pw", scope: "api://files/Files.Read",
			jwks: v1Keys, iss: v1Contoso, aud: "api://files",
			want: claimCheck{equal: map[string]any{"amr": []string{"pwd", "mfa"}, "upn": "bob@contoso.com"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp := e.login(t, c.tenant, c.client, c.user, c.password, c.scope, nil)
			claims, tok := e.verify(t, str(resp, "access_token"), c.jwks, c.iss, c.aud)
			checkClaims(t, claims, tok, c.want)
			if claims["sub"] == claims["oid"] {
				t.Errorf("user token sub must be pairwise, not the oid")
			}
			if _, ok := resp["id_token"]; ok != c.wantIDToken {
				t.Errorf("id_token present=%v, want %v", ok, c.wantIDToken)
			}
			if c.wantIDToken {
				idc, _ := e.verify(t, str(resp, "id_token"), "/common/discovery/v2.0/keys", c.iss, c.client)
				if idc["nonce"] != "n0nce" || idc["preferred_username"] != c.user {
					t.Errorf("id_token claims: %v", idc)
				}
			}
			if _, ok := resp["refresh_token"]; ok != c.wantRT {
				t.Errorf("refresh_token present=%v, want %v", ok, c.wantRT)
			}
			if resp["token_type"] != "Bearer" || resp["expires_in"] == nil || resp["ext_expires_in"] == nil {
				t.Errorf("response: %v", resp)
			}
			if strings.HasPrefix(c.name, "group overage") {
				names, _ := claims["_claim_names"].(map[string]any)
				srcs, _ := claims["_claim_sources"].(map[string]any)
				src1, _ := srcs["src1"].(map[string]any)
				if names["groups"] != "src1" || str(src1, "endpoint") != e.srv.URL+"/v1.0/users/"+carolOID+"/getMemberObjects" {
					t.Errorf("overage claims: %v %v", names, srcs)
				}
			}
			if c.tenant == "organizations" {
				// A multi-tenant relying party: the key's issuer template with tid substituted is the iss.
				_, kb, _ := e.get(t, "/common/discovery/v2.0/keys")
				if !strings.Contains(kb, `"issuer":"`+e.srv.URL+`/{tenantid}/v2.0"`) {
					t.Errorf("common keys lack the {tenantid} issuer template: %s", kb)
				}
			}
		})
	}
}

func TestRefreshToken(t *testing.T) {
	e := newEnv(t)
	resp := e.login(t, contosoID, clientID, "alice@contoso.com", "alice-pw", "api://mcp-api/access_as_user offline_access", nil)
	rt := str(resp, "refresh_token")
	cases := []struct{ name, scope, aud, iss, jwks string }{
		{"same resource", "api://mcp-api/access_as_user", mcpAPIID, e.srv.URL + "/" + contosoID + "/v2.0", "/" + contosoID + "/discovery/v2.0/keys"},
		{"another resource (multi-resource refresh token)", "https://graph.microsoft.com/User.Read", GraphResource, "https://sts.windows.net/" + contosoID + "/", "/" + contosoID + "/discovery/keys"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st, m := e.post(t, "/"+contosoID+"/oauth2/v2.0/token", url.Values{"grant_type": {"refresh_token"}, "client_id": {clientID},
				"refresh_token": {rt}, "scope": {c.scope}})
			if st != 200 {
				t.Fatalf("%d %v", st, m)
			}
			e.verify(t, str(m, "access_token"), c.jwks, c.iss, c.aud)
			if str(m, "refresh_token") == "" {
				t.Fatal("no new refresh token")
			}
		})
	}
}

func TestClientCredentials(t *testing.T) {
	e := newEnv(t)
	tokenURL := e.srv.URL + "/" + contosoID + "/oauth2/v2.0/token"
	cases := []struct {
		name string
		form url.Values
		want claimCheck
	}{
		{"secret: v1 app token with roles", e.secretForm(daemonID, daemonSecret, "grant_type", "client_credentials", "scope", "api://files/.default"),
			claimCheck{equal: map[string]any{"ver": "1.0", "appid": daemonID, "appidacr": "1", "roles": []string{"Files.ReadAll"}, "idtyp": "app"},
				absent: []string{"scp", "upn", "name"}}},
		{"certificate PS256 + x5t#S256", url.Values{"grant_type": {"client_credentials"}, "client_id": {mcpAPIID}, "scope": {"api://files/.default"},
			"client_assertion_type": {assertionType}, "client_assertion": {assertion(t, e.cert.cert, e.cert.key, jwt.SigningMethodPS256, "x5t#S256", mcpAPIID, tokenURL, 5*time.Minute)}},
			claimCheck{equal: map[string]any{"appid": mcpAPIID, "appidacr": "2"}, absent: []string{"scp", "roles"}}},
		{"certificate RS256 + x5t, basic-auth-free", url.Values{"grant_type": {"client_credentials"}, "scope": {"api://files/.default"},
			"client_assertion_type": {assertionType}, "client_assertion": {assertion(t, e.cert.cert, e.cert.key, jwt.SigningMethodRS256, "x5t", mcpAPIID, tokenURL, 5*time.Minute)}},
			claimCheck{equal: map[string]any{"appid": mcpAPIID, "appidacr": "2"}, absent: []string{"scp"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st, m := e.post(t, "/"+contosoID+"/oauth2/v2.0/token", c.form)
			if st != 200 {
				t.Fatalf("%d %v", st, m)
			}
			if _, ok := m["refresh_token"]; ok {
				t.Error("client credentials must not return a refresh token")
			}
			claims, tok := e.verify(t, str(m, "access_token"), "/"+contosoID+"/discovery/keys", "https://sts.windows.net/"+contosoID+"/", "api://files")
			checkClaims(t, claims, tok, c.want)
			if claims["oid"] != claims["sub"] {
				t.Errorf("app-only token: oid %v != sub %v", claims["oid"], claims["sub"])
			}
		})
	}
	t.Run("client_secret_basic", func(t *testing.T) {
		req := url.Values{"grant_type": {"client_credentials"}, "scope": {"api://files/.default"}}
		hr, _ := http.NewRequest("POST", tokenURL, strings.NewReader(req.Encode()))
		hr.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		hr.SetBasicAuth(daemonID, daemonSecret)
		r, err := e.hc.Do(hr)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		if r.StatusCode != 200 {
			t.Fatalf("basic auth: %d", r.StatusCode)
		}
	})
	t.Run("v1 endpoint with resource", func(t *testing.T) {
		st, m := e.post(t, "/"+contosoID+"/oauth2/token", e.secretForm(daemonID, daemonSecret, "grant_type", "client_credentials", "resource", "api://files"))
		if st != 200 || m["resource"] != "api://files" {
			t.Fatalf("%d %v", st, m)
		}
		if _, ok := m["expires_in"].(string); !ok {
			t.Errorf("v1 expires_in is a string: %v", m["expires_in"])
		}
	})
}

func TestOnBehalfOf(t *testing.T) {
	e := newEnv(t)
	user := e.login(t, contosoID, clientID, "alice@contoso.com", "alice-pw", "api://mcp-api/access_as_user", nil)
	at := str(user, "access_token")
	tokenURL := e.srv.URL + "/" + contosoID + "/oauth2/v2.0/token"
	obo := func(kv ...string) url.Values {
		f := url.Values{"grant_type": {grantJWTBearer}, "requested_token_use": {"on_behalf_of"}, "assertion": {at}, "client_id": {mcpAPIID}}
		for i := 0; i+1 < len(kv); i += 2 {
			f.Set(kv[i], kv[i+1])
		}
		return f
	}
	cases := []struct {
		name, jwks, iss, aud string
		form                 url.Values
		want                 claimCheck
		wantRT               bool
	}{
		{"secret, v1 downstream", "/" + contosoID + "/discovery/keys", "https://sts.windows.net/" + contosoID + "/", "api://files",
			obo("client_secret", mcpSecret, "scope", "api://files/Files.Read"),
			claimCheck{equal: map[string]any{"appid": mcpAPIID, "appidacr": "1", "scp": "Files.Read", "upn": "alice@contoso.com", "oid": aliceOID}, absent: []string{"roles", "azp"}}, false},
		{".default with offline_access", "/" + contosoID + "/discovery/keys", "https://sts.windows.net/" + contosoID + "/", "api://files",
			obo("client_secret", mcpSecret, "scope", "api://files/.default offline_access openid profile"),
			claimCheck{equal: map[string]any{"scp": "Files.Read"}}, true},
		{"certificate assertion", "/" + contosoID + "/discovery/keys", "https://sts.windows.net/" + contosoID + "/", "api://files",
			obo("scope", "api://files/Files.Read", "client_assertion_type", assertionType,
				"client_assertion", assertion(t, e.cert.cert, e.cert.key, jwt.SigningMethodPS256, "x5t#S256", mcpAPIID, tokenURL, 5*time.Minute)),
			claimCheck{equal: map[string]any{"appidacr": "2"}}, false},
		{"Graph by bare scope", "/" + contosoID + "/discovery/keys", "https://sts.windows.net/" + contosoID + "/", GraphResource,
			obo("client_secret", mcpSecret, "scope", "User.Read"),
			claimCheck{equal: map[string]any{"scp": "User.Read", "appid": mcpAPIID}}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st, m := e.post(t, "/"+contosoID+"/oauth2/v2.0/token", c.form)
			if st != 200 {
				t.Fatalf("%d %v", st, m)
			}
			if _, ok := m["issued_token_type"]; ok {
				t.Error("OBO responses carry no issued_token_type")
			}
			if _, ok := m["refresh_token"]; ok != c.wantRT {
				t.Errorf("refresh_token present=%v want %v", ok, c.wantRT)
			}
			claims, tok := e.verify(t, str(m, "access_token"), c.jwks, c.iss, c.aud)
			checkClaims(t, claims, tok, c.want)
		})
	}
}

func TestDeviceCode(t *testing.T) {
	e := newEnv(t)
	st, dc := e.post(t, "/"+contosoID+"/oauth2/v2.0/devicecode", url.Values{"client_id": {clientID}, "scope": {"api://mcp-api/access_as_user offline_access"}})
	if st != 200 || str(dc, "user_code") == "" || !strings.HasSuffix(str(dc, "verification_uri"), "/devicelogin") {
		t.Fatalf("%d %v", st, dc)
	}
	poll := url.Values{"grant_type": {grantDeviceCode}, "client_id": {clientID}, "device_code": {str(dc, "device_code")}}
	st, m := e.post(t, "/"+contosoID+"/oauth2/v2.0/token", poll)
	if st != 400 || m["error"] != "authorization_pending" {
		t.Fatalf("before sign-in: %d %v", st, m)
	}
	resp, err := e.hc.PostForm(e.srv.URL+"/devicelogin", url.Values{"code": {str(dc, "user_code")}, "login": {"alice@contoso.com"}, "passwd": {"alice-pw"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	st, m = e.post(t, "/"+contosoID+"/oauth2/v2.0/token", poll)
	if st != 200 {
		t.Fatalf("after sign-in: %d %v", st, m)
	}
	claims, _ := e.verify(t, str(m, "access_token"), "/"+contosoID+"/discovery/v2.0/keys", e.srv.URL+"/"+contosoID+"/v2.0", mcpAPIID)
	if claims["oid"] != aliceOID || str(m, "refresh_token") == "" {
		t.Fatalf("claims %v", claims)
	}
	st, m = e.post(t, "/"+contosoID+"/oauth2/v2.0/token", poll)
	if st != 400 || m["error"] != "invalid_grant" {
		t.Fatalf("device code reuse: %d %v", st, m)
	}
}
