package entraemulator

import (
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/mcpgate/mcpgate/internal/config"
)

// TestCombinedConsent: without admin consent in Fabrikam, OBO fails with 65001 until the
// user signs in to the known client application asking for the middle tier's /.default,
// whose consent screen also grants the middle tier's own permissions.
func TestCombinedConsent(t *testing.T) {
	e := newEnv(t, func(c *config.Entra) { c.Tenants[1].AdminConsent = nil })
	obo := func(assertion string) (int, map[string]any) {
		return e.post(t, "/"+fabrikamID+"/oauth2/v2.0/token", url.Values{"grant_type": {grantJWTBearer}, "requested_token_use": {"on_behalf_of"},
			"assertion": {assertion}, "client_id": {mcpAPIID}, "client_secret": {mcpSecret}, "scope": {"api://files/Files.Read"}})
	}
	// A token for the MCP API without the combined consent (pre-authorized scope only).
	plain := e.login(t, fabrikamID, clientID, "dave@fabrikam.onmicrosoft.com", "dave-pw", "api://mcp-api/access_as_user", nil)
	st, m := obo(str(plain, "access_token"))
	if st != 400 {
		t.Fatalf("OBO before consent: %d %v", st, m)
	}
	checkAADError(t, m, "invalid_grant", 65001, "consent_required")

	// The consent screen lists the middle tier's downstream permissions.
	_, body, _ := e.get(t, "/"+fabrikamID+"/oauth2/v2.0/authorize?"+url.Values{"client_id": {clientID}, "response_type": {"code"},
		"redirect_uri": {redirectURI}, "scope": {"api://mcp-api/.default"}}.Encode())
	ctx := ctxRE.FindStringSubmatch(body)[1]
	resp, err := e.hc.PostForm(e.srv.URL+"/"+fabrikamID+"/oauth2/v2.0/authorize", url.Values{"ctx": {ctx}, "login": {"dave@fabrikam.onmicrosoft.com"}, "passwd": {"dave-pw"}})
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 16<<10)
	n, _ := resp.Body.Read(b)
	resp.Body.Close()
	page := string(b[:n])
	if !strings.Contains(page, "Permissions requested") || !strings.Contains(page, "Files.Read") || !strings.Contains(page, "User.Read") {
		t.Fatalf("no combined consent screen: %s", page)
	}
	combined := e.login(t, fabrikamID, clientID, "dave@fabrikam.onmicrosoft.com", "dave-pw", "api://mcp-api/.default", nil)
	if st, m := obo(str(combined, "access_token")); st != 200 {
		t.Fatalf("OBO after combined consent: %d %v", st, m)
	}
}

// TestAuthorizeOptions covers autoLogin, response_mode=form_post, prompt=none, the v1
// authorize endpoint and admin-only scopes.
func TestAuthorizeOptions(t *testing.T) {
	auto := newEnv(t, func(c *config.Entra) { c.AutoLogin = "alice@contoso.com" })
	q := url.Values{"client_id": {clientID}, "response_type": {"code"}, "redirect_uri": {redirectURI}, "scope": {"api://mcp-api/access_as_user"}, "state": {"st4te"}}
	t.Run("autoLogin redirects at once", func(t *testing.T) {
		st, _, hdr := auto.get(t, "/"+contosoID+"/oauth2/v2.0/authorize?"+q.Encode())
		if st != 302 || codeFrom(t, hdr.Get("Location")) == "" {
			t.Fatalf("%d %v", st, hdr)
		}
	})
	t.Run("form_post", func(t *testing.T) {
		fq := url.Values{}
		for k, v := range q {
			fq[k] = v
		}
		fq.Set("response_mode", "form_post")
		st, body, _ := auto.get(t, "/"+contosoID+"/oauth2/v2.0/authorize?"+fq.Encode())
		if st != 200 || !strings.Contains(body, `action="`+redirectURI+`"`) || !strings.Contains(body, `name="code"`) || !strings.Contains(body, `value="st4te"`) {
			t.Fatalf("%d %s", st, body)
		}
	})
	e := newEnv(t)
	t.Run("prompt=none without a session", func(t *testing.T) {
		pq := url.Values{}
		for k, v := range q {
			pq[k] = v
		}
		pq.Set("prompt", "none")
		st, _, hdr := e.get(t, "/"+contosoID+"/oauth2/v2.0/authorize?"+pq.Encode())
		u, _ := url.Parse(hdr.Get("Location"))
		if st != 302 || u.Query().Get("error") != "login_required" || !strings.HasPrefix(u.Query().Get("error_description"), "AADSTS50058:") {
			t.Fatalf("%d %v", st, hdr)
		}
	})
	t.Run("v1 authorize with resource gives a v1 token", func(t *testing.T) {
		verifier := "v1-verifier-v1-verifier-v1-verifier-v1-verifier"
		vq := url.Values{"client_id": {clientID}, "response_type": {"code"}, "redirect_uri": {redirectURI}, "resource": {"https://graph.microsoft.com"},
			"state": {"st4te"}, "code_challenge": {verifier}, "code_challenge_method": {"plain"}}
		st, _, hdr := auto.get(t, "/"+contosoID+"/oauth2/authorize?"+vq.Encode())
		if st != 302 {
			t.Fatalf("v1 authorize: %d", st)
		}
		code := codeFrom(t, hdr.Get("Location"))
		st, m := auto.post(t, "/"+contosoID+"/oauth2/token", url.Values{"grant_type": {"authorization_code"}, "client_id": {clientID},
			"code": {code}, "redirect_uri": {redirectURI}, "code_verifier": {verifier}, "resource": {"https://graph.microsoft.com"}})
		if st != 200 || m["resource"] != "https://graph.microsoft.com" {
			t.Fatalf("%d %v", st, m)
		}
		c, _ := auto.verify(t, str(m, "access_token"), "/common/discovery/keys", "https://sts.windows.net/"+contosoID+"/", GraphResource)
		if c["ver"] != "1.0" || !slices.Contains(strings.Fields(str(c, "scp")), "User.Read") {
			t.Fatalf("claims %v", c)
		}
	})
	t.Run("admin-only scope without admin consent", func(t *testing.T) {
		aq := url.Values{"client_id": {webAppID}, "response_type": {"code"}, "redirect_uri": {redirectURI}, "scope": {"api://files/Files.Write"}, "state": {"s"}}
		st, _, hdr := auto.get(t, "/"+contosoID+"/oauth2/v2.0/authorize?"+aq.Encode())
		u, _ := url.Parse(hdr.Get("Location"))
		if st != 302 || !strings.HasPrefix(u.Query().Get("error_description"), "AADSTS90094:") {
			t.Fatalf("%d %v", st, hdr)
		}
	})
}
