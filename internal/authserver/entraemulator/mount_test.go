package entraemulator

import (
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// TestMountedLoginForm signs a user in through the login page with the emulator mounted
// under a prefix, and at the root: the form must post back under the prefix.
func TestMountedLoginForm(t *testing.T) {
	actionRE := regexp.MustCompile(`<form method="post" action="([^"]*)"`)
	ctxRE := regexp.MustCompile(`name="ctx" value="([^"]*)"`)
	for _, prefix := range []string{"", "/entra", "/idp/entra"} {
		t.Run("prefix "+prefix, func(t *testing.T) {
			srv := httptest.NewServer(nil)
			t.Cleanup(srv.Close)
			em, err := New(Options{Config: fixture(newClientCert(t)), BaseURL: srv.URL + prefix})
			if err != nil {
				t.Fatal(err)
			}
			if prefix == "" {
				srv.Config.Handler = em.Handler()
			} else {
				mux := http.NewServeMux()
				em.Mount(mux, prefix)
				srv.Config.Handler = mux
			}
			jar, _ := cookiejar.New(nil)
			c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			q := url.Values{"client_id": {webAppID}, "response_type": {"code"}, "redirect_uri": {redirectURI}, "scope": {"openid"}, "state": {"s1"},
				"code_challenge": {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"}, "code_challenge_method": {"S256"}}
			resp, err := c.Get(srv.URL + prefix + "/" + contosoID + "/oauth2/v2.0/authorize?" + q.Encode())
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			m, cm := actionRE.FindSubmatch(body), ctxRE.FindSubmatch(body)
			if m == nil || cm == nil {
				t.Fatalf("no login form (%d): %s", resp.StatusCode, body)
			}
			action := html.UnescapeString(string(m[1]))
			if want := prefix + "/" + contosoID + "/oauth2/v2.0/authorize"; action != want {
				t.Fatalf("form action = %q, want %q", action, want)
			}
			form := url.Values{"ctx": {string(cm[1])}, "login": {"alice@contoso.com"}, "passwd": {"alice-pw"}}
			resp, err = c.Post(srv.URL+action, "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			loc, _ := url.Parse(resp.Header.Get("Location"))
			if resp.StatusCode != http.StatusFound || loc == nil || !strings.HasPrefix(loc.String(), redirectURI) || loc.Query().Get("code") == "" {
				t.Fatalf("login post: %d Location %q, want a redirect with a code to %s", resp.StatusCode, resp.Header.Get("Location"), redirectURI)
			}
		})
	}
}
