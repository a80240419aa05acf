package app_test

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/mcpgate/mcpgate/internal/authserver"
)

// signedIn returns a client with a cookie jar signed in as user (the /login page, as a
// browser would), and the admin console's form token when it is an admin.
func signedIn(t *testing.T, base, user string) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	csrf := formToken(t, c, base+authserver.PathLogin+"?"+authserver.ParamReturn+"=/")
	resp, err := c.PostForm(base+authserver.PathLogin, url.Values{"csrf": {csrf}, authserver.ParamReturn: {"/"}, "username": {user}, "password": {"correct horse"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in as %s: %d", user, resp.StatusCode)
	}
	return c
}

// serveAliceAndBob serves mcpgate with two local users whose password is "correct horse":
// alice, an administrator, and bob; extra is appended to the configuration.
func serveAliceAndBob(t *testing.T, extra string) string {
	t.Helper()
	hash, err := authserver.HashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	return serve(t, `
listen: $ADDR
publicURL: http://$ADDR
store: {sqlite: {path: $DIR/mcpgate.db}}
log: {level: error}
authServer:
  allowInsecureHTTP: true
  adminGroups: [gateway-admins]
  users:
    - {username: alice, name: Alice, email: alice@example.com, passwordHash: "${HASH}", groups: [gateway-admins]}
    - {username: bob, name: Bob, email: bob@example.com, passwordHash: "${HASH}", groups: [eng]}
routes:
  - {name: docs, path: /docs/mcp, upstream: {url: "http://127.0.0.1:9/mcp"}}
`+extra, map[string]string{"HASH": hash})
}

// formToken opens page and returns the form token of its first form.
func formToken(t *testing.T, c *http.Client, page string) string {
	t.Helper()
	resp, err := c.Get(page)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("no form on %s: %d %s", page, resp.StatusCode, b)
	}
	return string(m[1])
}

// TestConsoleRefusals: the console and My account refuse by default: other methods,
// unknown pages and actions, posts without the form token or from another origin, bad
// filters, and anonymous or non-admin visitors; each refused action is audited.
func TestConsoleRefusals(t *testing.T) {
	auditPath := filepath.Join(t.TempDir(), "audit.jsonl")
	base := serveAliceAndBob(t, "audit: {store: true, file: {path: "+auditPath+"}}\n")
	anon := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	alice, bob := signedIn(t, base, "alice"), signedIn(t, base, "bob")
	adminToken := formToken(t, alice, base+"/admin/keys")
	accountToken := formToken(t, alice, base+"/account")

	tests := []struct {
		name   string
		client *http.Client
		method string
		path   string
		form   url.Values
		origin string
		status int
		want   string
	}{
		{"anonymous page: sign in first", anon, "GET", "/admin/audit", nil, "", http.StatusFound, ""},
		{"anonymous post", anon, "POST", "/admin/keys/rotate", url.Values{"csrf": {adminToken}}, "", http.StatusForbidden, "Sign in first"},
		{"anonymous account", anon, "GET", "/account", nil, "", http.StatusFound, ""},
		{"anonymous account post", anon, "POST", "/account/signout-everywhere", url.Values{"csrf": {accountToken}}, "", http.StatusForbidden, "not signed in"},
		{"non-admin page", bob, "GET", "/admin/users", nil, "", http.StatusForbidden, "gateway-admins"},
		{"non-admin post", bob, "POST", "/admin/keys/rotate", url.Values{"csrf": {adminToken}}, "", http.StatusForbidden, "gateway-admins"},
		{"other method", alice, "PUT", "/admin", nil, "", http.StatusMethodNotAllowed, "nothing else"},
		{"unknown page", alice, "GET", "/admin/nope", nil, "", http.StatusNotFound, "no page"},
		{"unknown action", alice, "POST", "/admin/nope", url.Values{"csrf": {adminToken}}, "", http.StatusNotFound, "no action"},
		{"no form token", alice, "POST", "/admin/keys/rotate", nil, "", http.StatusForbidden, "expired or came from another site"},
		{"wrong form token", alice, "POST", "/admin/keys/rotate", url.Values{"csrf": {strings.Repeat("x", 40)}}, "", http.StatusForbidden, "expired"},
		{"another origin", alice, "POST", "/admin/keys/rotate", url.Values{"csrf": {adminToken}}, "https://evil.example", http.StatusForbidden, "expired"},
		{"account token on the console", alice, "POST", "/admin/keys/rotate", url.Values{"csrf": {accountToken}}, "", http.StatusForbidden, "expired"},
		{"unknown client", alice, "POST", "/admin/clients/disable", url.Values{"csrf": {adminToken}, "client": {"nope"}}, "", http.StatusNotFound, "No client nope"},
		{"unknown connection", alice, "POST", "/admin/connections/revoke", url.Values{"csrf": {adminToken}, "user": {"config:bob"}, "provider": {"tasks"}}, "", http.StatusNotFound, "no connection"},
		{"ended sign-in", alice, "POST", "/admin/signins/revoke", url.Values{"csrf": {adminToken}, "user": {"config:bob"}, "signin": {"0123456789abcdef"}}, "", http.StatusNotFound, "already ended"},
		{"bad decision filter", alice, "GET", "/admin/audit?decision=bogus", nil, "", http.StatusOK, "no such decision"},
		{"bad since", alice, "GET", "/admin/audit?since=yesterday", nil, "", http.StatusOK, "not a date and time"},
		{"long filter clipped", alice, "GET", "/admin/audit?user=" + strings.Repeat("a", 5000), nil, "", http.StatusOK, "No event matches"},
		{"user page without a user", alice, "GET", "/admin/user", nil, "", http.StatusBadRequest, "Which user"},
		{"notice is a fixed text", alice, "GET", "/admin/keys?done=<b>x</b>&what=y", nil, "", http.StatusOK, "Signing keys"},
		{"account: app not allowed", alice, "POST", "/account/apps/revoke", url.Values{"csrf": {accountToken}, "client": {"nope"}}, "", http.StatusNotFound, "have not allowed"},
		{"account: no such service", alice, "POST", "/account/connections/disconnect", url.Values{"csrf": {accountToken}, "provider": {"tasks"}}, "", http.StatusNotFound, "No service tasks"},
		{"account: console token", alice, "POST", "/account/apps/revoke", url.Values{"csrf": {adminToken}, "client": {"x"}}, "", http.StatusForbidden, "expired"},
		{"account: unknown page", alice, "GET", "/account/nope", nil, "", http.StatusNotFound, "no page"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, base+tt.path, strings.NewReader(tt.form.Encode()))
			if tt.form != nil {
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
			if tt.origin != "" {
				req.Header.Set("Origin", tt.origin)
			}
			resp, err := tt.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status || !strings.Contains(string(b), tt.want) {
				t.Fatalf("%s %s: %d, want %d with %q:\n%s", tt.method, tt.path, resp.StatusCode, tt.status, tt.want, b)
			}
			if strings.Contains(string(b), "<b>x</b>") {
				t.Fatalf("page echoes markup from the URL:\n%s", b)
			}
			if csp := resp.Header.Get("Content-Security-Policy"); resp.StatusCode != http.StatusFound && !strings.Contains(csp, "default-src 'none'") {
				t.Errorf("Content-Security-Policy %q", csp)
			}
		})
	}
	// Refused actions are audited with who tried.
	waitAudit(t, auditPath, `"method":"admin/keys/rotate","decision":"deny"`)
	b, _ := os.ReadFile(auditPath)
	if !strings.Contains(string(b), `"user":"config:bob","email":"bob@example.com","method":"admin/keys/rotate","decision":"deny"`) {
		t.Errorf("the non-admin's attempt is not audited:\n%s", b)
	}
}
