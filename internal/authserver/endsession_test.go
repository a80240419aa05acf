package authserver

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestEndSession: RP-initiated logout clears the browser session and revokes the user's
// refresh tokens for the client.
func TestEndSession(t *testing.T) {
	env := newTestEnv(t, nil)
	redirect := "http://127.0.0.1:5555/cb"
	client := env.register(redirect)
	tr := env.codeFlow(client, redirect)
	if tr.IDToken == "" {
		t.Fatal("no id_token for an openid request")
	}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.Get(env.issuer + PathEndSession + "?" + url.Values{"id_token_hint": {tr.IDToken}, "client_id": {client}}.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 3 && resp.StatusCode != 200 {
		t.Fatalf("end session: %d", resp.StatusCode)
	}
	cleared := false
	for _, c := range resp.Cookies() {
		if c.Name == sessionCookie && c.MaxAge < 0 {
			cleared = true
		}
	}
	if !cleared {
		t.Error("session cookie not cleared")
	}
	if r := env.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tr.RefreshToken}, "client_id": {client}}, "", ""); r.Error != "invalid_grant" {
		t.Fatalf("refresh token survived logout: %+v", r)
	}
}

// TestSecureCookies: on an https issuer, cookies are __Host- prefixed and Secure.
func TestSecureCookies(t *testing.T) {
	env := newTestEnv(t, nil)
	mux := http.NewServeMux()
	srv := newTLSServer(t, mux)
	opts := Options{Issuer: srv.URL, Store: env.store, Resources: func() []string { return []string{srv.URL + "/mcp"} }}
	as, err := New(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle("/", as.Handler())
	body := `{"redirect_uris":["http://127.0.0.1:5555/cb"]}`
	c := srv.Client()
	resp, err := c.Post(srv.URL+PathRegister, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var reg struct {
		ClientID string `json:"client_id"`
	}
	decodeJSON(t, resp, &reg)
	p := newPKCE()
	q := url.Values{"response_type": {"code"}, "client_id": {reg.ClientID}, "redirect_uri": {"http://127.0.0.1:5555/cb"}, "scope": {"openid"},
		"code_challenge": {p.challenge}, "code_challenge_method": {"S256"}, "state": {"s"}}
	resp, err = c.Get(srv.URL + PathAuthorize + "?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Request.URL.Path != PathLogin {
		t.Fatalf("login page: %d %s", resp.StatusCode, resp.Request.URL)
	}
	set := resp.Header.Values("Set-Cookie")
	if len(set) == 0 {
		t.Fatal("the login page set no cookie")
	}
	for _, h := range set {
		if !strings.HasPrefix(h, "__Host-") || !strings.Contains(h, "Secure") || !strings.Contains(h, "HttpOnly") || !strings.Contains(h, "SameSite=Lax") || !strings.Contains(h, "Path=/") {
			t.Errorf("cookie flags: %s", h)
		}
	}
}
