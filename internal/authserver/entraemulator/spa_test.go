package entraemulator

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/mcpgate/mcpgate/internal/config"
)

const (
	spaID       = "aaaaaaaa-0000-4000-8000-000000000007"
	spaRedirect = "https://canvas.example:8443/app/"
	spaOrigin   = "https://canvas.example:8443"
	// otherSPAOrigin is the origin of the canvas app's second SPA redirect URI.
	otherSPAOrigin = "https://canvas2.example"
)

// withSPA adds a canvas app with a Single-page application redirect URI, pre-authorized on
// the MCP API.
func withSPA(c *config.Entra) {
	c.Apps = append(c.Apps, config.EntraApp{Name: "Canvas", ClientID: spaID, Tenant: contosoID,
		SPARedirectURIs: []string{spaRedirect, otherSPAOrigin + "/"}, AccessTokenAcceptedVersion: 2,
		RequiredResourceAccess: []config.EntraRequiredAccess{{Resource: "api://mcp-api", Scopes: []string{"access_as_user"}}}})
	c.Apps[0].PreAuthorizedApplications = append(c.Apps[0].PreAuthorizedApplications, config.EntraPreAuthorized{AppID: spaID, Scopes: []string{"access_as_user"}})
}

// spaCode signs alice in for the canvas (SPA redirect URI) and returns the code and verifier.
func (e *env) spaCode(t *testing.T, pkce bool) (code, verifier string) {
	t.Helper()
	verifier = "spa-verifier-spa-verifier-spa-verifier-spa-verifier"
	h := sha256.Sum256([]byte(verifier))
	q := url.Values{"client_id": {spaID}, "response_type": {"code"}, "redirect_uri": {spaRedirect}, "response_mode": {"fragment"},
		"scope": {"api://mcp-api/access_as_user openid profile offline_access"}, "state": {"st4te"}}
	if pkce {
		q.Set("code_challenge", base64.RawURLEncoding.EncodeToString(h[:]))
		q.Set("code_challenge_method", "S256")
	}
	_, landed := e.signInSteps(t, e.srv.URL+"/"+contosoID+"/oauth2/v2.0/authorize?"+q.Encode(), "alice@contoso.com", "alice-pw")
	u, err := url.Parse(landed)
	if err != nil || !strings.HasPrefix(landed, spaRedirect+"#") {
		t.Fatalf("landed on %s", landed)
	}
	f, _ := url.ParseQuery(u.Fragment)
	if f.Get("code") == "" {
		t.Fatalf("no code: %s", landed)
	}
	return f.Get("code"), verifier
}

// postOrigin posts a token request as a browser page on origin would ("" = not a browser).
func (e *env) postOrigin(t *testing.T, origin string, form url.Values) (int, map[string]any, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/"+contosoID+"/oauth2/v2.0/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	resp, err := e.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m, resp.Header
}

func aadCode(m map[string]any) float64 {
	codes, _ := m["error_codes"].([]any)
	if len(codes) == 0 {
		return 0
	}
	f, _ := codes[0].(float64)
	return f
}

// TestSPARedirect: a Single-page application redirect URI gets codes that redeem only
// cross-origin, without a client secret, with PKCE; the refresh token lives 24 hours from
// the sign-in and redeeming it does not extend that; web redirect URIs cannot redeem
// cross-origin.
func TestSPARedirect(t *testing.T) {
	e := newEnv(t, withSPA)
	redeem := func(code, verifier string) url.Values {
		return url.Values{"grant_type": {"authorization_code"}, "client_id": {spaID}, "code": {code}, "redirect_uri": {spaRedirect},
			"code_verifier": {verifier}, "scope": {"api://mcp-api/access_as_user openid profile offline_access"}}
	}
	t.Run("same-origin redemption refused", func(t *testing.T) {
		code, v := e.spaCode(t, true)
		st, m, _ := e.postOrigin(t, "", redeem(code, v))
		if st != 400 || aadCode(m) != 9002327 {
			t.Fatalf("%d %v", st, m)
		}
	})
	t.Run("PKCE required", func(t *testing.T) {
		code, _ := e.spaCode(t, false)
		st, m, _ := e.postOrigin(t, spaOrigin, redeem(code, ""))
		if st != 400 || aadCode(m) != 9002325 {
			t.Fatalf("%d %v", st, m)
		}
	})
	t.Run("cross-origin redemption and refresh", func(t *testing.T) {
		code, v := e.spaCode(t, true)
		st, m, h := e.postOrigin(t, spaOrigin, redeem(code, v))
		if st != 200 || h.Get("Access-Control-Allow-Origin") != spaOrigin {
			t.Fatalf("%d %v %v", st, m, h)
		}
		c, _ := e.verify(t, str(m, "access_token"), "/"+contosoID+"/discovery/v2.0/keys", e.srv.URL+"/"+contosoID+"/v2.0", mcpAPIID)
		if c["azp"] != spaID || c["azpacr"] != "0" {
			t.Fatalf("claims %v", c)
		}
		first, _ := m["refresh_token_expires_in"].(float64)
		if first < 86390 || first > 86400 {
			t.Fatalf("refresh_token_expires_in %v", m["refresh_token_expires_in"])
		}
		rf := url.Values{"grant_type": {"refresh_token"}, "client_id": {spaID}, "refresh_token": {str(m, "refresh_token")}, "scope": {"api://mcp-api/access_as_user offline_access"}}
		if st, m, _ := e.postOrigin(t, "", rf); st != 400 || aadCode(m) != 9002327 {
			t.Fatalf("refresh without Origin: %d %v", st, m)
		}
		st, m2, _ := e.postOrigin(t, spaOrigin, rf)
		if st != 200 {
			t.Fatalf("refresh: %d %v", st, m2)
		}
		if second, _ := m2["refresh_token_expires_in"].(float64); second > first || second < first-5 {
			t.Fatalf("refresh token lifetime slid: %v then %v", first, second)
		}
	})
	t.Run("redeemed from another origin refused", func(t *testing.T) {
		// The Origin must be the origin of the code's redirect URI (as Entra checks it); a
		// refresh token redeems from the origin of any SPA redirect URI of its app.
		for _, origin := range []string{"https://evil.example", otherSPAOrigin, "https://canvas.example:8444", "http://canvas.example:8443"} {
			code, v := e.spaCode(t, true)
			st, m, _ := e.postOrigin(t, origin, redeem(code, v))
			if st != 400 || aadCode(m) != 9002326 || !strings.Contains(str(m, "error_description"), origin) {
				t.Fatalf("code from %s: %d %v", origin, st, m)
			}
		}
		code, v := e.spaCode(t, true)
		st, m, _ := e.postOrigin(t, spaOrigin, redeem(code, v))
		if st != 200 {
			t.Fatalf("%d %v", st, m)
		}
		rf := url.Values{"grant_type": {"refresh_token"}, "client_id": {spaID}, "refresh_token": {str(m, "refresh_token")}, "scope": {"api://mcp-api/access_as_user offline_access"}}
		if st, m, _ := e.postOrigin(t, "https://evil.example", rf); st != 400 || aadCode(m) != 9002326 {
			t.Fatalf("refresh from another origin: %d %v", st, m)
		}
		if st, m, h := e.postOrigin(t, otherSPAOrigin, rf); st != 200 || h.Get("Access-Control-Allow-Origin") != otherSPAOrigin {
			t.Fatalf("refresh from the app's other SPA origin: %d %v %v", st, m, h)
		}
	})
	t.Run("web redirect redeemed cross-origin refused", func(t *testing.T) {
		code, v := e.authorize(t, contosoID, webAppID, "alice@contoso.com", "alice-pw", "api://files/Files.Read", nil)
		st, m, h := e.postOrigin(t, "https://web.example", url.Values{"grant_type": {"authorization_code"}, "client_id": {webAppID},
			"client_secret": {"web-secret"}, "code": {code}, "redirect_uri": {redirectURI}, "code_verifier": {v}})
		if st != 400 || aadCode(m) != 9002326 || h.Get("Access-Control-Allow-Origin") != "" {
			t.Fatalf("%d %v %v", st, m, h)
		}
	})
}

// TestCORS: preflights of the token endpoint succeed for SPA redirect URI origins only;
// discovery and keys are readable from any origin.
func TestCORS(t *testing.T) {
	e := newEnv(t, withSPA)
	for _, c := range []struct {
		method, path, origin, want string
	}{
		{"OPTIONS", "/" + contosoID + "/oauth2/v2.0/token", spaOrigin, spaOrigin},
		{"OPTIONS", "/" + contosoID + "/oauth2/v2.0/token", "https://evil.example", ""},
		{"OPTIONS", "/" + contosoID + "/oauth2/v2.0/token", "http://localhost:3000", ""}, // a web redirect URI's origin
		{"GET", "/" + contosoID + "/v2.0/.well-known/openid-configuration", "https://anyone.example", "*"},
		{"GET", "/" + contosoID + "/discovery/v2.0/keys", "https://anyone.example", "*"},
	} {
		req, _ := http.NewRequest(c.method, e.srv.URL+c.path, nil)
		req.Header.Set("Origin", c.origin)
		if c.method == "OPTIONS" {
			req.Header.Set("Access-Control-Request-Method", "POST")
		}
		resp, err := e.hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("Access-Control-Allow-Origin"); got != c.want {
			t.Errorf("%s %s from %s: Access-Control-Allow-Origin %q, want %q", c.method, c.path, c.origin, got, c.want)
		}
	}
}
