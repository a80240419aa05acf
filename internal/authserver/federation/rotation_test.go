package federation_test

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/mcpgate/mcpgate/internal/authserver"
	"github.com/mcpgate/mcpgate/internal/config"
)

// goEnv is mcpgate with the generic oidc connector "corp" in front of a goIdP.
func goEnv(t *testing.T, mutate func(*config.Config)) (*env, *goIdP) {
	t.Helper()
	idp := startGoIdP(t)
	up := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(up.Close)
	e := newMCPGate(t, newLazyServer(t), "testdata/mcpgate-goidp.yaml", map[string]string{"IDP_ISSUER": idp.URL, "UPSTREAM_URL": up.URL}, &syncBuffer{}, mutate)
	return e, idp
}

// signedIn is an MCP client's sign-in: its client id and tokens.
type signedIn struct {
	client, access, refresh string
	// idToken is mcpgate's id_token (the id_token_hint of signing out).
	idToken string
}

// signInTokens signs dana in through mcpgate in a new browser and redeems the code.
func signInTokens(t *testing.T, e *env) signedIn {
	t.Helper()
	redirect := "http://127.0.0.1:5555/callback"
	return signInAs(t, e, register(t, e.url, redirect, "Client"), redirect)
}

// signInAs signs dana in through mcpgate for the registered client id in a new browser.
func signInAs(t *testing.T, e *env, id, redirect string) signedIn {
	t.Helper()
	b := newBrowser(t, redirect)
	v := make([]byte, 32)
	rand.Read(v)
	verifier := base64.RawURLEncoding.EncodeToString(v)
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{"response_type": {"code"}, "client_id": {id}, "redirect_uri": {b.redirect}, "state": {"st-1"},
		"scope": {"openid offline_access mcp:tools"}, "code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
		"resource": {e.resource}}
	loc := b.signIn(e.url + authserver.PathAuthorize + "?" + q.Encode())
	code := loc.Query().Get("code")
	if code == "" {
		t.Fatalf("no code: %s", loc)
	}
	status, tok := tokenRequest(t, e, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {b.redirect},
		"code_verifier": {verifier}, "client_id": {id}, "resource": {e.resource}})
	if status != http.StatusOK || tok["refresh_token"] == nil {
		t.Fatalf("token: %d %v", status, tok)
	}
	idt, _ := tok["id_token"].(string)
	return signedIn{client: id, access: tok["access_token"].(string), refresh: tok["refresh_token"].(string), idToken: idt}
}

func tokenRequest(t *testing.T, e *env, form url.Values) (int, map[string]any) {
	t.Helper()
	resp, err := http.PostForm(e.url+authserver.PathToken, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// refreshTokens uses s's refresh token; on success s holds the new tokens.
func (s *signedIn) refreshTokens(t *testing.T, e *env) (int, map[string]any) {
	t.Helper()
	status, tok := tokenRequest(t, e, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {s.refresh}, "client_id": {s.client}})
	if status == http.StatusOK {
		s.access, s.refresh = tok["access_token"].(string), tok["refresh_token"].(string)
	}
	return status, tok
}

// TestKeyRotationTwice is issue 24's "two key rotations seconds apart": the provider signs
// with a new key as soon as it rotates; sign-ins keep working after each rotation (the
// second one within the verifier's own five-minute unknown-kid limit).
func TestKeyRotationTwice(t *testing.T) {
	e, idp := goEnv(t, nil)
	signInTokens(t, e)
	for i := range 2 {
		idp.rotate()
		s := signInTokens(t, e)
		c, _, err := e.as.VerifyAccessToken(t.Context(), s.access, e.resource)
		if err != nil || c.Subject != "corp:dana" {
			t.Fatalf("after rotation %d: %+v %v", i+1, c, err)
		}
	}
	if strings.Contains(e.logs.String(), "does not publish") {
		t.Fatalf("a sign-in failed on the new key:\n%s", e.logs.String())
	}
	if n := strings.Count(e.logs.String(), "signing keys were reloaded"); n != 1 {
		t.Fatalf("want the second rotation to force one reload, got %d:\n%s", n, e.logs.String())
	}
}
