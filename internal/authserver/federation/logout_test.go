package federation_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/mcpgate/mcpgate/internal/app"
	"github.com/mcpgate/mcpgate/internal/authserver"
	"github.com/mcpgate/mcpgate/internal/authserver/federation"
	"github.com/mcpgate/mcpgate/internal/config"
)

// TestBackchannelLogout: a logout token from the provider ends the user's sign-in: the
// stored provider tokens are deleted from the shared store (another replica no longer
// knows the user), and the next refresh — even within revalidateAfter — is refused with
// its access tokens revoked. Bad logout tokens are refused with 400.
func TestBackchannelLogout(t *testing.T) {
	e, idp := offboardingEnv(t)
	s := signInTokens(t, e)
	danaSID := idp.sessions("dana")[0]
	post := func(tok string) int {
		resp, err := http.PostForm(e.url+authserver.PathBackchannelLogout, url.Values{"logout_token": {tok}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for name, tok := range map[string]string{
		"no event":     idp.logoutToken("dana", func(c jwt.MapClaims) { delete(c, "events") }),
		"nonce":        idp.logoutToken("dana", func(c jwt.MapClaims) { c["nonce"] = "n" }),
		"neither":      idp.logoutToken("dana", func(c jwt.MapClaims) { delete(c, "sub") }),
		"sid of other": idp.logoutToken("mallory", func(c jwt.MapClaims) { c["sid"] = danaSID }),
		"other client": idp.logoutToken("dana", func(c jwt.MapClaims) { c["aud"] = "someone-else" }),
		"not a JWT":    "garbage",
	} {
		if status := post(tok); status != http.StatusBadRequest {
			t.Fatalf("%s: status %d, want 400", name, status)
		}
	}
	// A session mcpgate does not hold (ended, replaced, never seen) is acknowledged.
	if status := post(idp.logoutToken("dana", func(c jwt.MapClaims) { delete(c, "sub"); c["sid"] = "not-a-session" })); status != http.StatusOK {
		t.Fatalf("unknown sid: status %d, want 200", status)
	}
	if status, _ := s.refreshTokens(t, e); status != http.StatusOK {
		t.Fatal("a refused logout token ended the sign-in")
	}
	if status := post(idp.logoutToken("dana", nil)); status != http.StatusOK {
		t.Fatalf("logout: status %d", status)
	}
	forgotten(t, e, "corp:dana")
	refusedRefresh(t, e, &s, "holds no sign-in of this user")
}

// TestBackchannelLogoutBySID: a logout token that names only the provider session (sid, as
// many providers send) ends the sign-in made in that session, on every replica.
func TestBackchannelLogoutBySID(t *testing.T) {
	e, idp := offboardingEnv(t)
	s := signInTokens(t, e)
	sids := idp.sessions("dana")
	if len(sids) != 1 {
		t.Fatalf("provider sessions: %v", sids)
	}
	tok := idp.logoutToken("", func(c jwt.MapClaims) { delete(c, "sub"); c["sid"] = sids[0] })
	resp, err := http.PostForm(e.url+authserver.PathBackchannelLogout, url.Values{"logout_token": {tok}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("sid-only logout: status %d", resp.StatusCode)
	}
	forgotten(t, e, "corp:dana")
	refusedRefresh(t, e, &s, "holds no sign-in of this user")
}

// TestRPInitiatedLogout: signing out of mcpgate (its end_session endpoint) deletes the
// provider tokens kept for the user, sends the browser to the provider's end-session
// endpoint with the provider's id_token as hint and mcpgate's signed-out page as
// post-logout redirect, and from there back to the client's post_logout_redirect_uri. With
// signOutAtProvider false the provider is not visited, and the tokens are deleted all the
// same.
func TestRPInitiatedLogout(t *testing.T) {
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(u string) *http.Response {
		t.Helper()
		resp, err := noRedirect.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	t.Run("at the provider", func(t *testing.T) {
		e, idp := offboardingEnv(t)
		s := signInTokens(t, e)
		after := "http://127.0.0.1:5555/signed-out"
		client := registerWithLogout(t, e.url, "http://127.0.0.1:5555/callback", after)
		s2 := signInAs(t, e, client, "http://127.0.0.1:5555/callback")
		resp := get(e.url + authserver.PathEndSession + "?" + url.Values{"id_token_hint": {s2.idToken}, "client_id": {client},
			"post_logout_redirect_uri": {after}, "state": {"client-state"}}.Encode())
		loc, _ := url.Parse(resp.Header.Get("Location"))
		if resp.StatusCode != http.StatusFound || loc == nil || !strings.HasPrefix(loc.String(), idp.URL+"/logout?") {
			t.Fatalf("end session: %d, Location %q; want the provider's end-session endpoint", resp.StatusCode, resp.Header.Get("Location"))
		}
		q := loc.Query()
		if q.Get("client_id") != "mcpgate" || q.Get("post_logout_redirect_uri") != e.url+authserver.PathSignedOut || q.Get("state") == "" {
			t.Fatalf("end-session request: %v", q)
		}
		if hint := q.Get("id_token_hint"); hint == "" || claim(t, hint, "iss") != idp.URL {
			t.Fatal("the id_token_hint is not the provider's id_token")
		}
		// The provider sends the browser back; mcpgate forwards it to the client.
		back := get(idp.URL + "/logout?" + q.Encode())
		resp = get(back.Header.Get("Location"))
		if resp.StatusCode != http.StatusFound || !strings.HasPrefix(resp.Header.Get("Location"), after+"?") ||
			!strings.Contains(resp.Header.Get("Location"), "state=client-state") {
			t.Fatalf("signed-out page: %d, Location %q; want the client's post-logout URI with its state", resp.StatusCode, resp.Header.Get("Location"))
		}
		// A forged or replayed-with-edits state does not redirect anywhere.
		bad := back.Header.Get("Location")
		if resp := get(strings.Replace(bad, "state=", "state=x", 1)); resp.StatusCode != http.StatusOK {
			t.Fatalf("tampered state: status %d, want the signed-out page", resp.StatusCode)
		}
		// The user's provider tokens are gone: every mcpgate sign-in of the user ends at its
		// next refresh (the first client's too).
		refusedRefresh(t, e, &s, "holds no sign-in of this user")
	})
	t.Run("signOutAtProvider false", func(t *testing.T) {
		e, idp := goEnv(t, func(c *config.Config) {
			off := false
			c.AuthServer.Connectors[0].SignOutAtProvider = &off
		})
		s := signInTokens(t, e)
		resp := get(e.url + authserver.PathEndSession + "?" + url.Values{"id_token_hint": {s.idToken}, "client_id": {s.client}}.Encode())
		if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != e.url+authserver.PathSignedOut {
			t.Fatalf("end session: %d, Location %q; want mcpgate's signed-out page", resp.StatusCode, resp.Header.Get("Location"))
		}
		if len(idp.ended) != 0 {
			t.Fatal("the provider's end-session endpoint was visited")
		}
		page, err := http.Get(resp.Header.Get("Location"))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(page.Body)
		page.Body.Close()
		if page.StatusCode != http.StatusOK || !strings.Contains(string(body), "You are signed out") {
			t.Fatalf("signed-out page: %d %s", page.StatusCode, body)
		}
		forgotten(t, e, "corp:dana")
	})
}

// registerWithLogout registers a public client with a post-logout redirect URI.
func registerWithLogout(t *testing.T, base, redirect, postLogout string) string {
	t.Helper()
	return registerMeta(t, base, map[string]any{"redirect_uris": []string{redirect}, "post_logout_redirect_uris": []string{postLogout},
		"client_name": "Client", "grant_types": []string{"authorization_code", "refresh_token"}, "token_endpoint_auth_method": "none"})
}

// forgotten checks that mcpgate holds no provider sign-in of subject any more, as another
// replica on the same store sees it.
func forgotten(t *testing.T, e *env, subject string) {
	t.Helper()
	replica, err := app.Federation(e.cfg, federation.Deps{Store: e.tokens, Keys: e.keys})
	if err != nil {
		t.Fatal(err)
	}
	defer replica.Close()
	if _, err := replica.For(subject).Lookup(t.Context(), subject); !errors.Is(err, authserver.ErrUnknownUser) {
		t.Fatalf("another replica still knows %s: %v", subject, err)
	}
}

// claim reads a claim from a JWT's payload (unverified; for assertions).
func claim(t *testing.T, raw, name string) string {
	t.Helper()
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT")
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	json.Unmarshal(b, &c)
	s, _ := c[name].(string)
	return s
}
