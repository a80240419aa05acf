package authserver

import (
	"log/slog"
	"net/http"
	"net/url"
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
