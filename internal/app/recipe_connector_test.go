package app_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/internal/app/apptest"
	"github.com/mcpgate/mcpgate/internal/authserver"
	"github.com/mcpgate/mcpgate/internal/testutil"
)

// TestRecipePowerPlatformConnector runs examples/recipe-power-platform-connector.yaml
// (docs/recipes/power-platform-connector.md) as the connector does: authorization code with
// PKCE and its client secret, a tool call, a refresh; the CORS preflight from Copilot Studio;
// and the clear refusal of an Entra-style api:// "Resource URL".
func TestRecipePowerPlatformConnector(t *testing.T) {
	raw, err := os.ReadFile("../../examples/recipe-power-platform-connector.yaml")
	if err != nil {
		t.Fatal(err)
	}
	hash, err := authserver.HashPassword("ops-pw")
	if err != nil {
		t.Fatal(err)
	}
	y := strings.NewReplacer("127.0.0.1:8080", "$ADDR", "http://127.0.0.1:9001/mcp", upstream(t),
		"/var/lib/mcpgate/mcpgate.db", "$DIR/mcpgate.db").Replace(string(raw))
	const secret = "connector-secret-value-3"
	base := serve(t, y, map[string]string{"MCPGATE_APP_SECRET": secret, "MCPGATE_OPS_PASSWORD_HASH": hash})
	mcpURL := base + "/mcp"
	const redirect = "https://global.consent.azure-apim.net/redirect"

	var as struct {
		AuthorizationEndpoint string `json:"authorization_endpoint"`
		TokenEndpoint         string `json:"token_endpoint"`
	}
	getJSON(t, base+"/.well-known/oauth-authorization-server", &as)
	token := func(form url.Values) (int, map[string]any) {
		form.Set("client_id", "power-platform-connector")
		form.Set("client_secret", secret) // client_secret_post, as the connector sends it
		resp, err := http.PostForm(as.TokenEndpoint, form)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	authorize := func(resource string) *url.URL {
		verifier := "recipe-verifier-0123456789-0123456789-0123456789"
		sum := sha256.Sum256([]byte(verifier))
		q := url.Values{"response_type": {"code"}, "client_id": {"power-platform-connector"}, "redirect_uri": {redirect},
			"scope": {"mcp:tools offline_access"}, "state": {"st"}, "code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])},
			"code_challenge_method": {"S256"}}
		if resource != "" {
			q.Set("resource", resource)
		}
		p := &testutil.Person{Username: "ops", Password: "ops-pw", StopAt: redirect}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		loc, err := p.Authorize(ctx, as.AuthorizationEndpoint+"?"+q.Encode())
		if err != nil {
			t.Fatalf("authorize: %v (visited %v)", err, p.Seen)
		}
		u, _ := url.Parse(loc)
		return u
	}

	// Authorization code + PKCE + secret, then a tool call.
	cb := authorize(mcpURL)
	code := cb.Query().Get("code")
	if code == "" {
		t.Fatalf("no code: %s", cb)
	}
	st, tr := token(url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect},
		"code_verifier": {"recipe-verifier-0123456789-0123456789-0123456789"}, "resource": {mcpURL}})
	at, _ := tr["access_token"].(string)
	rt, _ := tr["refresh_token"].(string)
	if st != 200 || at == "" || rt == "" {
		t.Fatalf("code exchange: %d %v", st, tr)
	}
	c := apptest.NewClient(t, mcpURL, at)
	if resp, msg := c.CallTool(2, "get_forecast", `{"city":"Oslo"}`); resp.StatusCode != 200 || msg["result"] == nil {
		t.Fatalf("tool call: %d %v", resp.StatusCode, msg)
	}

	// Refresh, as the connector does when the access token expires.
	st, tr = token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "resource": {mcpURL}})
	if at2, _ := tr["access_token"].(string); st != 200 || at2 == "" {
		t.Fatalf("refresh: %d %v", st, tr)
	}

	// CORS preflight from Copilot Studio.
	req, _ := http.NewRequest(http.MethodOptions, mcpURL, nil)
	req.Header.Set("Origin", "https://copilotstudio.microsoft.com")
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "authorization, content-type")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("Access-Control-Allow-Origin") != "https://copilotstudio.microsoft.com" {
		t.Fatalf("preflight: %d %v", resp.StatusCode, resp.Header)
	}

	// The Power Apps habit: Resource URL api://… is refused with what to send instead.
	st, tr = token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "resource": {"api://contoso-mcp"}})
	if d, _ := tr["error_description"].(string); st != 400 || tr["error"] != "invalid_target" || !strings.Contains(d, "App ID URI") || !strings.Contains(d, mcpURL) {
		t.Fatalf("api:// resource: %d %v", st, tr)
	}
}
