package federation_test

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

var returnLinkRE = regexp.MustCompile(`<meta http-equiv="refresh" content="\d+;url=([^"]+)">`)

// TestIdPErrorReachesClient is issue 24's "a refused IdP sign-in reaches the MCP client's
// redirect URI with the error and state": the user sees mcpgate's error page, which then
// sends the browser to the client's redirect_uri with error, error_description, state and
// iss (RFC 6749 §4.1.2.1, RFC 9207). A failure that is not the provider's answer (here the
// provider unreachable when the sign-in starts) reaches the client too.
func TestIdPErrorReachesClient(t *testing.T) {
	for _, tc := range []struct {
		name, code, page string
		setup            func(p *goIdP)
	}{
		{"refused at the provider", "access_denied", "not assigned to this application", func(p *goIdP) { p.refuse = "access_denied" }},
		{"provider misconfigured", "server_error", "unauthorized_client", func(p *goIdP) { p.refuse = "unauthorized_client" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, idp := goEnv(t, nil)
			idp.set(tc.setup)
			b := newBrowser(t, "http://127.0.0.1:5555/callback")
			resp, body := b.get(authorizeURL(e, register(t, e.url, b.redirect, "Client"), b.redirect))
			if isConsentPage(body) {
				resp, body = b.consent(resp, body, true)
			}
			if resp.StatusCode != http.StatusBadGateway || !strings.Contains(body, "Corp SSO refused the sign-in") || !strings.Contains(body, tc.page) {
				t.Fatalf("want mcpgate's error page, got %d:\n%s", resp.StatusCode, body)
			}
			m := returnLinkRE.FindStringSubmatch(body)
			if m == nil || !strings.Contains(body, `id="return"`) {
				t.Fatalf("the error page does not return to the client:\n%s", body)
			}
			u, err := url.Parse(html.UnescapeString(m[1]))
			if err != nil || !strings.HasPrefix(u.String(), b.redirect+"?") {
				t.Fatalf("return URL %q is not the client's redirect URI", m[1])
			}
			q := u.Query()
			if q.Get("error") != tc.code || q.Get("state") != "st-1" || q.Get("iss") != e.url || !strings.Contains(q.Get("error_description"), "Corp SSO refused the sign-in") {
				t.Fatalf("client gets %v; want error=%s, the state, iss and the description", q, tc.code)
			}
		})
	}
	t.Run("provider unreachable", func(t *testing.T) {
		e, idp := goEnv(t, nil)
		idp.set(func(p *goIdP) { p.down = true })
		b := newBrowser(t, "http://127.0.0.1:5555/callback")
		resp, body := b.get(authorizeURL(e, register(t, e.url, b.redirect, "Client"), b.redirect))
		if isConsentPage(body) {
			resp, body = b.consent(resp, body, true)
		}
		m := returnLinkRE.FindStringSubmatch(body)
		if resp.StatusCode != http.StatusBadGateway || m == nil {
			t.Fatalf("want the unavailable page returning to the client, got %d:\n%s", resp.StatusCode, body)
		}
		u, _ := url.Parse(html.UnescapeString(m[1]))
		if q := u.Query(); q.Get("error") != "temporarily_unavailable" || q.Get("state") != "st-1" {
			t.Fatalf("client gets %v", q)
		}
	})
}
