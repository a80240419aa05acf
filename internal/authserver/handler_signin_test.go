package authserver

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestLocalPath(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"/connections/tasks/connect", "/connections/tasks/connect", true},
		{"/connections/?connected=tasks", "/connections/?connected=tasks", true},
		{"/", "/", true},
		{"", "", false},
		{"connections/", "", false},
		{"//evil.example/x", "", false},
		{"/\\evil.example/x", "", false},
		{"/a\\b", "", false},
		{"https://evil.example/", "", false},
		{"javascript:alert(1)", "", false},
		{"/a\r\nSet-Cookie: x=1", "", false},
		{"/a\tb", "", false},
	}
	for _, tt := range tests {
		got, ok := localPath(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("localPath(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

// TestSignInWithoutAuthRequest: /login?return=PATH signs a browser in without an
// authorization request and sends it back to PATH; a session goes back at once; a return
// target off this server is refused.
func TestSignInWithoutAuthRequest(t *testing.T) {
	env := newTestEnv(t, nil)
	b := env.browser(env.issuer + "/connections/")
	start := env.issuer + env.as.LoginURL("/connections/tasks/connect?x=1")

	resp, body := b.get(start)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `name="password"`) || !strings.Contains(body, `name="return" value="/connections/tasks/connect?x=1"`) {
		t.Fatalf("GET %s: %d, want the login form with the return path:\n%s", start, resp.StatusCode, body)
	}
	csrf := csrfFrom(t, body)

	// A wrong password stays on the form.
	resp, body = b.post(env.issuer+PathLogin, url.Values{"csrf": {csrf}, "return": {"/connections/tasks/connect?x=1"}, "username": {"alice"}, "password": {"wrong"}})
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "Wrong username or password") {
		t.Fatalf("wrong password: %d\n%s", resp.StatusCode, body)
	}
	// The form's token is bound to the return path: it cannot be replayed for another one.
	resp, _ = b.post(env.issuer+PathLogin, url.Values{"csrf": {csrfFrom(t, body)}, "return": {"/elsewhere"}, "username": {"alice"}, "password": {testPassword}})
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("CSRF token for another return path: %d, want 403", resp.StatusCode)
	}
	_, body = b.get(start)
	resp, _ = b.post(env.issuer+PathLogin, url.Values{"csrf": {csrfFrom(t, body)}, "return": {"/connections/tasks/connect?x=1"}, "username": {"alice"}, "password": {testPassword}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/connections/tasks/connect?x=1" {
		t.Fatalf("after sign-in: %d Location %q, want 303 to the return path", resp.StatusCode, resp.Header.Get("Location"))
	}
	req, _ := http.NewRequest(http.MethodGet, env.issuer+"/connections/", nil)
	for _, c := range b.c.Jar.Cookies(req.URL) {
		req.AddCookie(c)
	}
	if sub, ok := env.as.CurrentUser(req); !ok || sub != "u-alice" {
		t.Fatalf("CurrentUser after sign-in = %q, %v", sub, ok)
	}

	// Signed in: straight back.
	resp, _ = b.get(env.issuer + env.as.LoginURL("/connections/"))
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/connections/" {
		t.Fatalf("with a session: %d Location %q, want 303 to /connections/", resp.StatusCode, resp.Header.Get("Location"))
	}

	// Never an open redirect, signed in or not.
	for _, ret := range []string{"https://evil.example/", "//evil.example/", "/\\evil.example"} {
		resp, body = b.get(env.issuer + PathLogin + "?return=" + url.QueryEscape(ret))
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "not on this server") {
			t.Errorf("return=%q: %d, want 400\n%s", ret, resp.StatusCode, body)
		}
	}
}
