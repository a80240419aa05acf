package entraemulator

import (
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var guidRE = `[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`

// checkAADError asserts Entra's error document shape.
func checkAADError(t *testing.T, m map[string]any, wantErr string, code int, sub string) {
	t.Helper()
	if m["error"] != wantErr {
		t.Errorf("error = %v, want %s (%v)", m["error"], wantErr, m["error_description"])
	}
	re := regexp.MustCompile(fmt.Sprintf(`^AADSTS%d: .+ Trace ID: %s Correlation ID: %s Timestamp: \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$`, code, guidRE, guidRE))
	if !re.MatchString(str(m, "error_description")) {
		t.Errorf("error_description %q does not look like Entra's for AADSTS%d", m["error_description"], code)
	}
	codes, _ := m["error_codes"].([]any)
	if len(codes) != 1 || codes[0] != float64(code) {
		t.Errorf("error_codes = %v, want [%d]", m["error_codes"], code)
	}
	for _, k := range []string{"timestamp", "trace_id", "correlation_id"} {
		if str(m, k) == "" {
			t.Errorf("%s missing", k)
		}
	}
	if !strings.HasSuffix(str(m, "error_uri"), fmt.Sprintf("/error?code=%d", code)) {
		t.Errorf("error_uri = %v", m["error_uri"])
	}
	if str(m, "suberror") != sub {
		t.Errorf("suberror = %q, want %q", m["suberror"], sub)
	}
}

func TestErrors(t *testing.T) {
	e := newEnv(t)
	alice := e.login(t, contosoID, clientID, "alice@contoso.com", "alice-pw", "api://mcp-api/access_as_user openid", nil)
	bob := e.login(t, contosoID, clientID, "bob@contoso.com", "bob-pw", "api://mcp-api/access_as_user", nil)
	tokenURL := e.srv.URL + "/" + contosoID + "/oauth2/v2.0/token"
	_, appOnly := e.post(t, "/"+contosoID+"/oauth2/v2.0/token", e.secretForm(daemonID, daemonSecret, "grant_type", "client_credentials", "scope", "api://mcp-api/.default"))
	// An expired user token for the MCP API, signed by the emulator.
	expired := e.em.sign(jwt.MapClaims{"aud": mcpAPIID, "iss": e.srv.URL + "/" + contosoID + "/v2.0", "tid": contosoID, "oid": aliceOID,
		"azp": clientID, "scp": "access_as_user", "exp": time.Now().Add(-time.Hour).Unix(), "iat": time.Now().Add(-2 * time.Hour).Unix()},
		map[string]any{"kid": e.em.KeyID()})
	tampered := str(alice, "access_token")
	tampered = tampered[:len(tampered)-6] + "AAAAAA"
	other := newClientCert(t)

	obo := func(assertion string, kv ...string) url.Values {
		f := url.Values{"grant_type": {grantJWTBearer}, "requested_token_use": {"on_behalf_of"}, "assertion": {assertion},
			"client_id": {mcpAPIID}, "client_secret": {mcpSecret}}
		for i := 0; i+1 < len(kv); i += 2 {
			f.Set(kv[i], kv[i+1])
		}
		return f
	}
	cc := func(kv ...string) url.Values {
		return e.secretForm(daemonID, daemonSecret, append([]string{"grant_type", "client_credentials"}, kv...)...)
	}
	aliceAT := str(alice, "access_token")

	cases := []struct {
		name       string
		tenant     string
		form       url.Values
		status     int
		err        string
		code       int
		sub        string
		wantClaims string
	}{
		{"50013 tampered assertion", contosoID, obo(tampered, "scope", "api://files/Files.Read"), 400, "invalid_grant", 50013, "", ""},
		{"50013 assertion for another app", contosoID, func() url.Values {
			f := obo(aliceAT, "scope", "api://files/Files.Read")
			f.Set("client_id", daemonID)
			f.Set("client_secret", daemonSecret)
			return f
		}(), 400, "invalid_grant", 50013, "", ""},
		{"500133 expired assertion", contosoID, obo(expired, "scope", "api://files/Files.Read"), 400, "invalid_grant", 500133, "", ""},
		{"65001 no consent middle→downstream", contosoID, obo(aliceAT, "scope", "api://reports/Reports.Read"), 400, "invalid_grant", 65001, "consent_required", ""},
		{"65001 /.default with nothing configured", contosoID, obo(aliceAT, "scope", "api://reports/.default"), 400, "invalid_grant", 65001, "consent_required", ""},
		{"50076 Conditional Access needs MFA", contosoID, obo(str(bob, "access_token"), "scope", "api://files/Files.Read"), 400, "interaction_required", 50076, "basic_action", "cad00000-0000-4000-8000-000000000001"},
		{"7000114 app-only assertion", contosoID, obo(str(appOnly, "access_token"), "scope", "api://files/Files.Read"), 400, "unauthorized_client", 7000114, "", ""},
		{"240002 id_token assertion", contosoID, obo(str(alice, "id_token"), "scope", "api://files/Files.Read"), 400, "invalid_grant", 240002, "", ""},
		{"700016 unknown app", contosoID, e.secretForm("aaaaaaaa-0000-4000-8000-0000000000ff", "x", "grant_type", "client_credentials", "scope", "api://files/.default"), 400, "unauthorized_client", 700016, "", ""},
		{"700016 single-tenant app in another tenant", fabrikamID, cc("scope", "api://files/.default"), 400, "unauthorized_client", 700016, "", ""},
		{"500011 unknown resource", contosoID, cc("scope", "api://nope/.default"), 400, "invalid_resource", 500011, "", ""},
		{"7000215 wrong secret", contosoID, e.secretForm(daemonID, "wrong", "grant_type", "client_credentials", "scope", "api://files/.default"), 401, "invalid_client", 7000215, "", ""},
		{"7000222 expired secret", contosoID, e.secretForm(mcpAPIID, "old-secret", "grant_type", "client_credentials", "scope", "api://files/.default"), 401, "invalid_client", 7000222, "", ""},
		{"7000218 no credential", contosoID, url.Values{"grant_type": {"client_credentials"}, "client_id": {daemonID}, "scope": {"api://files/.default"}}, 401, "invalid_client", 7000218, "", ""},
		{"700027 assertion signed by an unknown certificate", contosoID, url.Values{"grant_type": {"client_credentials"}, "client_id": {mcpAPIID}, "scope": {"api://files/.default"},
			"client_assertion_type": {assertionType}, "client_assertion": {assertion(t, other.cert, other.key, jwt.SigningMethodPS256, "x5t#S256", mcpAPIID, tokenURL, 5*time.Minute)}}, 401, "invalid_client", 700027, "", ""},
		{"700027 assertion for another audience", contosoID, url.Values{"grant_type": {"client_credentials"}, "client_id": {mcpAPIID}, "scope": {"api://files/.default"},
			"client_assertion_type": {assertionType}, "client_assertion": {assertion(t, e.cert.cert, e.cert.key, jwt.SigningMethodPS256, "x5t#S256", mcpAPIID, "https://login.microsoftonline.com/x/oauth2/v2.0/token", 5*time.Minute)}}, 401, "invalid_client", 700027, "", ""},
		{"700024 expired client assertion", contosoID, url.Values{"grant_type": {"client_credentials"}, "client_id": {mcpAPIID}, "scope": {"api://files/.default"},
			"client_assertion_type": {assertionType}, "client_assertion": {assertion(t, e.cert.cert, e.cert.key, jwt.SigningMethodRS256, "x5t", mcpAPIID, tokenURL, -10*time.Minute)}}, 401, "invalid_client", 700024, "", ""},
		{"70011 scope not exposed", contosoID, obo(aliceAT, "scope", "api://files/Files.Delete"), 400, "invalid_scope", 70011, "", ""},
		{"28000 two resources", contosoID, obo(aliceAT, "scope", "api://files/Files.Read api://reports/Reports.Read"), 400, "invalid_scope", 28000, "", ""},
		{"1002012 client credentials without /.default", contosoID, cc("scope", "api://files/Files.Read"), 400, "invalid_scope", 1002012, "", ""},
		{"9010010 resource parameter does not match the scopes", contosoID, obo(aliceAT, "scope", "api://files/Files.Read", "resource", "https://mcp.example.com"), 400, "invalid_request", 9010010, "", ""},
		{"90002 unknown tenant", "nowhere.example", cc("scope", "api://files/.default"), 400, "invalid_request", 90002, "", ""},
		{"50059 client credentials on common", "common", cc("scope", "api://files/.default"), 400, "invalid_request", 50059, "", ""},
		{"70003 unsupported grant", contosoID, url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:token-exchange"}}, 400, "unsupported_grant_type", 70003, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st, m := e.post(t, "/"+c.tenant+"/oauth2/v2.0/token", c.form)
			if st != c.status {
				t.Errorf("status %d, want %d: %v", st, c.status, m)
			}
			checkAADError(t, m, c.err, c.code, c.sub)
			if c.wantClaims != "" {
				var claims struct {
					AccessToken struct {
						Capolids struct {
							Essential bool     `json:"essential"`
							Values    []string `json:"values"`
						} `json:"capolids"`
					} `json:"access_token"`
				}
				if err := json.Unmarshal([]byte(str(m, "claims")), &claims); err != nil || !claims.AccessToken.Capolids.Essential ||
					len(claims.AccessToken.Capolids.Values) != 1 || claims.AccessToken.Capolids.Values[0] != c.wantClaims {
					t.Errorf("claims challenge %q: %v", m["claims"], err)
				}
			}
		})
	}
}

// TestStepUp: after interaction_required, signing in again with the claims challenge asks
// for the MFA code, and the new token passes OBO.
func TestStepUp(t *testing.T) {
	e := newEnv(t)
	claims := `{"access_token":{"capolids":{"essential":true,"values":["cad00000-0000-4000-8000-000000000001"]}}}`
	bob := e.login(t, contosoID, clientID, "bob@contoso.com", "bob-pw", "api://mcp-api/access_as_user", url.Values{"claims": {claims}})
	st, m := e.post(t, "/"+contosoID+"/oauth2/v2.0/token", url.Values{"grant_type": {grantJWTBearer}, "requested_token_use": {"on_behalf_of"},
		"assertion": {str(bob, "access_token")}, "client_id": {mcpAPIID}, "client_secret": {mcpSecret}, "scope": {"api://files/Files.Read"}})
	if st != 200 {
		t.Fatalf("OBO after MFA: %d %v", st, m)
	}
	c, _ := e.verify(t, str(m, "access_token"), "/"+contosoID+"/discovery/keys", "https://sts.windows.net/"+contosoID+"/", "api://files")
	if amr, _ := c["amr"].([]any); len(amr) != 2 || amr[1] != "mfa" {
		t.Fatalf("amr = %v", c["amr"])
	}
}

func TestCodeErrors(t *testing.T) {
	e := newEnv(t)
	redeem := func(code, verifier string) (int, map[string]any) {
		return e.post(t, "/"+contosoID+"/oauth2/v2.0/token", url.Values{"grant_type": {"authorization_code"}, "client_id": {clientID},
			"code": {code}, "redirect_uri": {redirectURI}, "code_verifier": {verifier}, "scope": {"api://mcp-api/access_as_user"}})
	}
	t.Run("501481 wrong PKCE verifier", func(t *testing.T) {
		code, _ := e.authorize(t, contosoID, clientID, "alice@contoso.com", "alice-pw", "api://mcp-api/access_as_user", nil)
		st, m := redeem(code, "not-the-verifier-not-the-verifier-not-the-verifier")
		if st != 400 {
			t.Fatalf("%d", st)
		}
		checkAADError(t, m, "invalid_grant", 501481, "")
	})
	t.Run("54005 code redeemed twice", func(t *testing.T) {
		code, verifier := e.authorize(t, contosoID, clientID, "alice@contoso.com", "alice-pw", "api://mcp-api/access_as_user", nil)
		if st, m := redeem(code, verifier); st != 200 {
			t.Fatalf("first: %d %v", st, m)
		}
		_, m := redeem(code, verifier)
		checkAADError(t, m, "invalid_grant", 54005, "")
	})
	authorizeErr := func(t *testing.T, q url.Values) url.Values {
		t.Helper()
		st, body, hdr := e.get(t, "/"+contosoID+"/oauth2/v2.0/authorize?"+q.Encode())
		if st != 302 {
			t.Fatalf("%d %s", st, body)
		}
		u, _ := url.Parse(hdr.Get("Location"))
		return u.Query()
	}
	base := url.Values{"client_id": {clientID}, "response_type": {"code"}, "redirect_uri": {redirectURI}, "state": {"s"}}
	with := func(kv ...string) url.Values {
		q := url.Values{}
		for k, v := range base {
			q[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			q.Set(kv[i], kv[i+1])
		}
		return q
	}
	for _, c := range []struct {
		name string
		q    url.Values
		err  string
		code string
	}{
		{"9010010 at authorize (MCP clients sending resource)", with("scope", "api://mcp-api/access_as_user", "resource", "https://mcp.example.com/mcp"), "invalid_request", "AADSTS9010010:"},
		{"650053 bare scope lands on Graph", with("scope", "mcp.read"), "invalid_scope", "AADSTS650053:"},
		{"500011 unknown resource", with("scope", "api://unknown/.default"), "invalid_resource", "AADSTS500011:"},
	} {
		t.Run(c.name, func(t *testing.T) {
			q := authorizeErr(t, c.q)
			if q.Get("error") != c.err || !strings.HasPrefix(q.Get("error_description"), c.code) || q.Get("state") != "s" {
				t.Fatalf("redirect: %v", q)
			}
		})
	}
	t.Run("50011 unregistered redirect URI is shown, not redirected", func(t *testing.T) {
		st, body, _ := e.get(t, "/"+contosoID+"/oauth2/v2.0/authorize?"+with("redirect_uri", "https://evil.example/cb", "scope", "openid").Encode())
		if st != 400 || !strings.Contains(body, "AADSTS50011") {
			t.Fatalf("%d %s", st, body)
		}
	})
	t.Run("50194 single-tenant app on common", func(t *testing.T) {
		q := url.Values{"client_id": {webAppID}, "response_type": {"code"}, "redirect_uri": {redirectURI}, "scope": {"openid"}}
		st, body, _ := e.get(t, "/common/oauth2/v2.0/authorize?"+q.Encode())
		if st != 400 || !strings.Contains(body, "AADSTS50194") {
			t.Fatalf("%d %s", st, body)
		}
	})
	t.Run("wrong password re-renders the form", func(t *testing.T) {
		e.freshBrowser()
		_, body, _ := e.get(t, "/"+contosoID+"/oauth2/v2.0/authorize?"+with("scope", "openid").Encode())
		ctx := ctxRE.FindStringSubmatch(body)[1]
		resp, _ := e.hc.PostForm(e.srv.URL+"/"+contosoID+"/oauth2/v2.0/authorize", url.Values{"ctx": {ctx}, "login": {"alice@contoso.com"}, "passwd": {"nope"}})
		b := make([]byte, 8192)
		n, _ := resp.Body.Read(b)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b[:n]), "incorrect") {
			t.Fatalf("%d %s", resp.StatusCode, b[:n])
		}
	})
}
