package federation_test

import (
	"errors"
	"net/http"
	"net/url"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/mcpgate/mcpgate/internal/app"
	"github.com/mcpgate/mcpgate/internal/authserver"
	"github.com/mcpgate/mcpgate/internal/authserver/federation"
)

// TestBackchannelLogout: a logout token from the provider ends the user's sign-in: the
// stored provider tokens are deleted from the shared store (another replica no longer
// knows the user), and the next refresh — even within revalidateAfter — is refused with
// its access tokens revoked. Bad logout tokens are refused with 400.
func TestBackchannelLogout(t *testing.T) {
	e, idp := offboardingEnv(t)
	s := signInTokens(t, e)
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
		"sid only":     idp.logoutToken("dana", func(c jwt.MapClaims) { delete(c, "sub"); c["sid"] = "s1" }),
		"other client": idp.logoutToken("dana", func(c jwt.MapClaims) { c["aud"] = "someone-else" }),
		"not a JWT":    "garbage",
	} {
		if status := post(tok); status != http.StatusBadRequest {
			t.Fatalf("%s: status %d, want 400", name, status)
		}
	}
	if status, _ := s.refreshTokens(t, e); status != http.StatusOK {
		t.Fatal("a refused logout token ended the sign-in")
	}
	if status := post(idp.logoutToken("dana", nil)); status != http.StatusOK {
		t.Fatalf("logout: status %d", status)
	}
	replica, err := app.Federation(e.cfg, federation.Deps{Store: e.tokens, Keys: e.keys})
	if err != nil {
		t.Fatal(err)
	}
	defer replica.Close()
	if _, err := replica.For("corp:dana").Lookup(t.Context(), "corp:dana"); !errors.Is(err, authserver.ErrUnknownUser) {
		t.Fatalf("another replica still knows the user: %v", err)
	}
	refusedRefresh(t, e, &s, "holds no sign-in of this user")
}
