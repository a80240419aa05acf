package authserver

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/mcpgate/mcpgate/internal/ui"
)

// TestAuthorizeErrorPages: the requests /authorize cannot redirect are answered with the
// shared page design, carry the reason, and are logged below ERROR.
func TestAuthorizeErrorPages(t *testing.T) {
	logs := &logBuffer{t: t}
	env := newTestEnv(t, func(o *Options) {
		o.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	env.as.SetBranding(ui.Branding{Name: "Contoso AI"})
	redirect := "http://127.0.0.1:5555/cb"
	client := env.register(redirect)
	tests := []struct {
		name  string
		extra url.Values
		want  []string
	}{
		{"unknown client", url.Values{"client_id": {"nope"}}, []string{"Unknown application", "not registered"}},
		{"missing client_id", url.Values{"client_id": {""}}, []string{"incomplete", "client_id"}},
		{"unregistered redirect URI", url.Values{"redirect_uri": {"https://evil.example.com/cb"}}, []string{"does not work", "redirect_uri"}},
		{"fragment in redirect URI", url.Values{"redirect_uri": {redirect + "#x"}}, []string{"does not work", "fragment"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := env.browser(redirect)
			resp, body := b.get(env.authorizeURL(client, redirect, newPKCE(), tc.extra))
			if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
				t.Fatalf("got %d (Location %q), want 400 and no redirect", resp.StatusCode, resp.Header.Get("Location"))
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
				t.Fatalf("Content-Type %q, want the HTML page", ct)
			}
			for _, w := range append(tc.want, "Contoso AI", "/authserver/static/style.css", `class="card`) {
				if !strings.Contains(body, w) {
					t.Errorf("page lacks %q:\n%s", w, body)
				}
			}
		})
	}
	if strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("client mistakes logged as errors:\n%s", logs.String())
	}
	resp, err := http.Get(env.issuer + PathStatic + "style.css")
	if err != nil || resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/css") {
		t.Fatalf("stylesheet: %v %v", resp, err)
	}
}

// TestConsentSaysWhatWillHappen: the consent page names who runs the application, the
// route, its tools and policy, and whether the gateway acts as the user upstream; with
// no describer it still says the application will call the server's tools as the user.
func TestConsentSaysWhatWillHappen(t *testing.T) {
	env := newTestEnv(t, nil)
	redirect := "http://127.0.0.1:5555/cb"
	client := env.register(redirect)
	consent := func(t *testing.T) string {
		b := env.browser(redirect)
		resp, body := b.get(env.authorizeURL(client, redirect, newPKCE(), url.Values{"scope": {"openid"}}))
		if strings.Contains(body, `name="password"`) {
			id := resp.Request.URL.Query().Get("authRequestID")
			resp, body = b.post(resp.Request.URL.String(), url.Values{"csrf": {csrfFrom(t, body)}, "authRequestID": {id}, "username": {"alice"}, "password": {testPassword}})
		}
		if resp.StatusCode != 200 || !strings.Contains(body, `value="approve"`) {
			t.Fatalf("no consent page: %d %s", resp.StatusCode, body)
		}
		return body
	}
	body := consent(t)
	for _, w := range []string{"call MCP tools as you", "can call any of", "with your identity on every call", env.resource, "registered itself with this server (dynamic registration)", "To take this access back"} {
		if !strings.Contains(body, w) {
			t.Errorf("consent without describer lacks %q:\n%s", w, body)
		}
	}
	env.as.SetResourceDescriber(func(_ context.Context, resource, subject string, groups []string) (ResourceView, bool) {
		if !slices.Contains(groups, "eng") {
			t.Errorf("describer got groups %v", groups)
		}
		return ResourceView{Name: "crm", Tools: []string{"search_*"}, Policy: "each call is checked against the server's policy (rules eng-read)",
			Upstream: "The gateway exchanges your sign-in for a Microsoft Entra token (on-behalf-of) and calls crm as you."}, true
	})
	body = consent(t)
	for _, w := range []string{"<strong>crm</strong>", "only the tools <code>search_*</code>", "rules eng-read", "Acts as you upstream:", "on-behalf-of"} {
		if !strings.Contains(body, w) {
			t.Errorf("consent lacks %q:\n%s", w, body)
		}
	}
}
