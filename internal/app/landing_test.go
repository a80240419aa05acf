package app_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestLandingPage: / says what the server is, lists each MCP URL with a copy button and
// client snippets, links to sign-in and My connections, and wears the operator's brand.
func TestLandingPage(t *testing.T) {
	up := upstream(t)
	base := serve(t, `
listen: $ADDR
publicURL: http://$ADDR
store: {sqlite: {path: $DIR/mcpgate.db}}
log: {level: warn}
authServer:
  allowInsecureHTTP: true
  branding: {name: Contoso AI gateway, logoURL: "data:image/svg+xml,%3Csvg%3E%3C/svg%3E"}
routes:
  - {name: weather, path: /weather/mcp, upstream: {url: `+up+`}, auth: {scopes: [weather.read]}}
  - {name: docs, path: /docs/mcp, upstream: {url: `+up+`}, auth: {mode: permissive}}
`, nil)
	resp, err := http.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	body := string(b)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET / = %d %s", resp.StatusCode, body)
	}
	for _, want := range []string{
		"Welcome to Contoso AI gateway", "MCP gateway",
		base + "/weather/mcp", base + "/docs/mcp", `data-copy="url-0"`,
		"claude mcp add --transport http weather " + base + "/weather/mcp",
		`mcp.json`, "/login?return=/", "/authserver/static/style.css", "sign-in required", "open",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("landing page lacks %q", want)
		}
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'sha256-") || strings.Contains(csp, "script-src 'unsafe-inline'") {
		t.Errorf("CSP %q: the copy script must be allowed by hash only", csp)
	}
	// Other unknown paths still answer 404.
	if resp, err := http.Get(base + "/nope"); err != nil || resp.StatusCode != 404 {
		t.Fatalf("GET /nope: %v %v", resp, err)
	}
}
