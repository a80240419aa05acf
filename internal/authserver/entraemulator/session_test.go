package entraemulator

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestSSOSession: a sign-in leaves a session cookie; later prompt=none requests (MSAL.js
// hidden iframe) and plain ones sign in without the form, as the same user, within what the
// session can do — consent or MFA it lacks, another login_hint, prompt=login and sign-out
// all end the silence as Entra does.
func TestSSOSession(t *testing.T) {
	e := newEnv(t)
	authz := func(q url.Values) (int, string, url.Values) {
		t.Helper()
		full := url.Values{"client_id": {clientID}, "response_type": {"code"}, "redirect_uri": {redirectURI}, "state": {"st4te"},
			"scope": {"api://mcp-api/access_as_user openid"}}
		for k, v := range q {
			full[k] = v
		}
		st, body, hdr := e.get(t, "/"+contosoID+"/oauth2/v2.0/authorize?"+full.Encode())
		loc, _ := url.Parse(hdr.Get("Location"))
		if loc == nil {
			return st, body, nil
		}
		return st, body, loc.Query()
	}
	// Bob signs in once (password; no MFA: the MCP API has no Conditional Access).
	e.authorize(t, contosoID, clientID, "bob@contoso.com", "bob-pw", "api://mcp-api/access_as_user openid", nil)
	u, _ := url.Parse(e.srv.URL)
	var sess *http.Cookie
	for _, c := range e.hc.Jar.Cookies(u) {
		if c.Name == sessionCookie {
			sess = c
		}
	}
	if sess == nil {
		t.Fatal("no session cookie after sign-in")
	}

	t.Run("prompt=none signs in silently", func(t *testing.T) {
		st, body, q := authz(url.Values{"prompt": {"none"}, "login_hint": {"bob@contoso.com"}})
		if st != http.StatusFound || q.Get("code") == "" {
			t.Fatalf("%d %v %s", st, q, body)
		}
		st, m := e.post(t, "/"+contosoID+"/oauth2/v2.0/token", url.Values{"grant_type": {"authorization_code"}, "client_id": {clientID},
			"code": {q.Get("code")}, "redirect_uri": {redirectURI}, "scope": {"api://mcp-api/access_as_user openid"}})
		if st != 200 {
			t.Fatalf("%d %v", st, m)
		}
		c, _ := e.verify(t, str(m, "access_token"), "/"+contosoID+"/discovery/v2.0/keys", e.srv.URL+"/"+contosoID+"/v2.0", mcpAPIID)
		if c["oid"] != bobOID {
			t.Fatalf("claims %v", c)
		}
	})
	t.Run("no prompt signs in silently", func(t *testing.T) {
		if st, body, q := authz(nil); st != http.StatusFound || q.Get("code") == "" {
			t.Fatalf("%d %v %s", st, q, body)
		}
	})
	t.Run("another login_hint", func(t *testing.T) {
		if _, _, q := authz(url.Values{"prompt": {"none"}, "login_hint": {"alice@contoso.com"}}); q.Get("error") != "login_required" {
			t.Fatalf("%v", q)
		}
	})
	t.Run("prompt=login shows the form", func(t *testing.T) {
		if st, body, _ := authz(url.Values{"prompt": {"login"}}); st != 200 || !strings.Contains(body, `name="passwd"`) {
			t.Fatalf("%d %s", st, body)
		}
	})
	t.Run("consent the session cannot give", func(t *testing.T) {
		_, _, q := authz(url.Values{"prompt": {"none"}, "scope": {"api://reports/Reports.Read"}})
		if q.Get("error") != "consent_required" {
			t.Fatalf("%v", q)
		}
	})
	t.Run("MFA the session lacks", func(t *testing.T) {
		// Conditional Access requires MFA for Bob at the Files API; the client's consent
		// comes from the user first.
		e.em.GrantConsent(contosoID, bobOID, clientID, "api://files/Files.Read")
		_, _, q := authz(url.Values{"prompt": {"none"}, "scope": {"api://files/Files.Read"}})
		if q.Get("error") != "interaction_required" {
			t.Fatalf("%v", q)
		}
	})
	t.Run("sign-out ends the session", func(t *testing.T) {
		if st, _, _ := e.get(t, "/"+contosoID+"/oauth2/v2.0/logout"); st != 200 {
			t.Fatalf("logout %d", st)
		}
		if _, _, q := authz(url.Values{"prompt": {"none"}}); q.Get("error") != "login_required" {
			t.Fatalf("%v", q)
		}
	})
}

// TestSessionCookie: over https the cookie is Secure, HttpOnly, SameSite=None (a hidden
// iframe on the application's site must send it) and scoped to the emulator's path.
func TestSessionCookie(t *testing.T) {
	e := newEnv(t)
	e.em.opts.BaseURL = e.srv.URL + "/entra"
	r, _ := http.NewRequest("GET", e.srv.URL+"/entra/x", nil)
	c := e.em.cookie(r, "v", 0)
	if !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteNoneMode || c.Path != "/entra/" {
		t.Fatalf("%+v", c)
	}
	e.em.opts.BaseURL = "http://127.0.0.1:8080/entra"
	if c := e.em.cookie(r, "v", 0); c.Secure || c.SameSite != http.SameSiteLaxMode {
		t.Fatalf("http: %+v", c)
	}
}
