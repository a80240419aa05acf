package federation_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestUserinfoFaults: the generic oidc connector reads userinfo after the code exchange. A
// userinfo naming another user than the id_token refuses the sign-in (OpenID Connect Core
// section 5.3.4), with the reason logged; a userinfo that cannot be used (error status,
// malformed, oversized, not an object, no sub) is logged and the sign-in goes on with the
// id_token's claims.
func TestUserinfoFaults(t *testing.T) {
	for _, tc := range []struct {
		name     string
		userinfo func(u *idpUser) (int, string)
		refused  bool
		log      string
	}{
		{name: "another user's sub", userinfo: func(*idpUser) (int, string) { return 200, `{"sub":"mallory","email":"mallory@example.org"}` },
			refused: true, log: "userinfo and id_token name different users"},
		{name: "server error", userinfo: func(*idpUser) (int, string) { return 500, `{}` }, log: "userinfo could not be read"},
		{name: "not JSON", userinfo: func(*idpUser) (int, string) { return 200, `<html>` }, log: "not a JSON object"},
		{name: "no sub", userinfo: func(*idpUser) (int, string) { return 200, `{"email":"dana@example.org"}` }, log: "no sub claim"},
		{name: "oversized", userinfo: func(u *idpUser) (int, string) {
			return 200, `{"sub":"` + u.Sub + `","pad":"` + strings.Repeat("x", 70<<10) + `"}`
		}, log: "larger than 65536 bytes"},
		{name: "too deep", userinfo: func(u *idpUser) (int, string) {
			return 200, `{"sub":"` + u.Sub + `","x":` + strings.Repeat("[", 200) + strings.Repeat("]", 200) + `}`
		}, log: "nests deeper"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, idp := goEnv(t, nil)
			idp.set(func(p *goIdP) { p.userinfoFault = tc.userinfo })
			b := newBrowser(t, "http://127.0.0.1:5555/callback")
			resp, body := b.get(authorizeURL(e, register(t, e.url, b.redirect, "Client"), b.redirect))
			for i := 0; i < 2 && resp.StatusCode == http.StatusOK && isConsentPage(body); i++ {
				resp, body = b.consent(resp, body, true)
			}
			signedIn := resp.StatusCode/100 == 3 && strings.Contains(resp.Header.Get("Location"), "code=")
			if signedIn == tc.refused {
				t.Fatalf("signed in = %v, want %v: %d %s\n%s", signedIn, !tc.refused, resp.StatusCode, resp.Header.Get("Location"), body)
			}
			if !strings.Contains(e.logs.String(), tc.log) {
				t.Fatalf("want %q logged:\n%s", tc.log, e.logs.String())
			}
			if tc.refused {
				if !strings.Contains(body, "userinfo names another user") {
					t.Errorf("the error page does not say why:\n%s", body)
				}
				return
			}
			id, err := e.fed.For("corp:dana").Lookup(t.Context(), "corp:dana")
			if err != nil || id.Email != "dana@example.org" || len(id.Groups) != 2 {
				t.Fatalf("identity from the id_token alone: %+v %v", id, err)
			}
		})
	}
}
