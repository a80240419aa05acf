package app_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpgate/mcpgate/internal/app/apptest"
	"github.com/mcpgate/mcpgate/internal/demo"
)

// TestRecipeWebCanvas runs examples/recipe-web-canvas.yaml (docs/recipes/web-canvas.md) with
// the HTTP requests the canvas page (MSAL.js) and the agent make: the canvas signs Alice in
// as a single-page app (authorization code + PKCE, the token request from the page's origin)
// for the agent's scope, without a consent prompt (the canvas is an authorized client of
// the agent's API); the agent exchanges that token On-Behalf-Of for one to mcpgate's API and
// calls whoami through the route, whose upstream sees Alice. The canvas's own token is
// refused by the route (it is for the agent), and the page's token request from another
// origin is refused as Entra does. TestCanvasSSO (internal/demo) drives the same scenario in
// Chromium with the real MSAL.js and Web Chat.
func TestRecipeWebCanvas(t *testing.T) {
	raw, err := os.ReadFile("../../examples/recipe-web-canvas.yaml")
	if err != nil {
		t.Fatal(err)
	}
	whoami := whoamiUpstream(t)
	y := strings.NewReplacer("127.0.0.1:8080", "$ADDR", "http://127.0.0.1:9001/mcp", whoami).Replace(string(raw))
	y = "store: {sqlite: {path: $DIR/mcpgate.db}}\n" + y // not ./mcpgate.db in the package folder
	const agentSecret = "agent-secret-value-1"
	base := serve(t, y, map[string]string{"AGENT_CLIENT_SECRET": agentSecret})
	const (
		tenant   = "7a1e5f00-0000-4000-8000-00000000c0de"
		canvasID = "ca4a5000-0000-4000-8000-0000000000c1"
		agentID  = "a9e47000-0000-4000-8000-0000000000a9"
	)
	authority := base + "/entra/" + tenant + "/oauth2/v2.0"
	redirect := base + "/canvas/redirect.html"

	// The canvas: MSAL's loginRedirect / acquireTokenSilent for the agent's scope.
	vb := make([]byte, 32)
	rand.Read(vb)
	verifier := base64.RawURLEncoding.EncodeToString(vb)
	sum := sha256.Sum256([]byte(verifier))
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: 10 * time.Second, CheckRedirect: func(r *http.Request, _ []*http.Request) error {
		if strings.HasPrefix(r.URL.String(), redirect) {
			return http.ErrUseLastResponse
		}
		return nil
	}}
	q := url.Values{"response_type": {"code"}, "client_id": {canvasID}, "redirect_uri": {redirect}, "state": {"s"},
		"scope": {"openid profile offline_access api://contoso-agent/agent.chat"}, "code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])},
		"code_challenge_method": {"S256"}}
	r, err := browser.Get(authority + "/authorize?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(r.Body)
	r.Body.Close()
	loc, _ := url.Parse(r.Header.Get("Location"))
	if loc == nil || loc.Query().Get("code") == "" {
		t.Fatalf("no code (a consent page or an error instead?): %d %s %s", r.StatusCode, r.Header.Get("Location"), body)
	}
	form := url.Values{"grant_type": {"authorization_code"}, "client_id": {canvasID}, "code": {loc.Query().Get("code")},
		"redirect_uri": {redirect}, "code_verifier": {verifier}, "scope": {"api://contoso-agent/agent.chat"}}
	token := func(origin string, form url.Values) map[string]any {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, authority+"/token", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		json.NewDecoder(resp.Body).Decode(&m)
		return m
	}
	// The page's token request comes from its origin; another site's is refused.
	if m := token("https://evil.example", form); m["access_token"] != nil || !strings.Contains(m["error_description"].(string), "AADSTS9002326") {
		t.Fatalf("token request from another origin: %v", m)
	}
	canvas := token(base, form)
	canvasToken, _ := canvas["access_token"].(string)
	if canvasToken == "" {
		t.Fatalf("canvas token: %v", canvas)
	}
	if c := decodeClaims(t, canvasToken); c["aud"] != agentID || c["scp"] != "agent.chat" || c["azp"] != canvasID {
		t.Fatalf("canvas token claims: aud %v scp %v azp %v", c["aud"], c["scp"], c["azp"])
	}

	// The agent: signin/tokenExchange gives it the canvas token; it exchanges it On-Behalf-Of.
	obo := token("", url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}, "requested_token_use": {"on_behalf_of"},
		"client_id": {agentID}, "client_secret": {agentSecret}, "assertion": {canvasToken}, "scope": {"api://mcpgate/access_as_user"}})
	agentToken, _ := obo["access_token"].(string)
	if agentToken == "" {
		t.Fatalf("On-Behalf-Of: %v", obo)
	}

	mcpURL := base + "/agent/whoami/mcp"
	waitKeys(t, mcpURL, agentToken)
	c := apptest.NewClient(t, mcpURL, agentToken)
	resp, msg := c.CallTool(2, "whoami", `{}`)
	if resp.StatusCode != http.StatusOK || msg["result"] == nil {
		t.Fatalf("whoami: %d %v", resp.StatusCode, msg)
	}
	var out struct {
		Result struct {
			Structured demo.Identity `json:"structuredContent"`
		} `json:"result"`
	}
	b, _ := json.Marshal(msg)
	json.Unmarshal(b, &out)
	if h := out.Result.Structured.Headers; h["X-Mcp-User-Email"] != "alice@contoso.onmicrosoft.com" || !out.Result.Structured.Authenticated {
		t.Fatalf("the upstream does not see Alice: %+v", out.Result.Structured)
	}
	// Policy: the agent may call whoami only.
	if resp, msg := c.CallTool(3, "get_forecast", `{}`); resp.StatusCode != http.StatusOK || msg["error"] == nil {
		t.Fatalf("another tool: %d %v", resp.StatusCode, msg)
	}

	// The canvas's own token is for the agent, not for mcpgate: the route refuses it.
	req, _ := http.NewRequest(http.MethodPost, mcpURL, strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"ping"}`))
	req.Header.Set("Authorization", "Bearer "+canvasToken)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	r, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusUnauthorized || !strings.Contains(r.Header.Get("WWW-Authenticate"), "invalid_token") {
		t.Fatalf("the canvas token at the route: %d %s", r.StatusCode, r.Header.Get("WWW-Authenticate"))
	}
}

// whoamiUpstream serves the demo's whoami MCP server on loopback.
func whoamiUpstream(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: demo.Whoami(nil)}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String() + "/mcp"
}

// TestRecipeEntraSSOBridge runs examples/recipe-entra-sso-bridge.yaml (docs/recipes/
// entra-sso-gateway.md, bridge mode): an MCP client without an Entra app registration of its
// own reads the route's metadata (mcpgate is the authorization server), registers itself,
// and signs the user in through mcpgate at Entra (the emulator) with mcpgate's one app
// registration; its tool call works with mcpgate's token.
func TestRecipeEntraSSOBridge(t *testing.T) {
	raw, err := os.ReadFile("../../examples/recipe-entra-sso-bridge.yaml")
	if err != nil {
		t.Fatal(err)
	}
	y := strings.NewReplacer("127.0.0.1:8080", "$ADDR", "http://127.0.0.1:9001/mcp", upstream(t)).Replace(string(raw))
	y = "store: {sqlite: {path: $DIR/mcpgate.db}}\n" + y
	keys := make([]byte, 32)
	rand.Read(keys)
	base := serve(t, y, map[string]string{"MCPGATE_ENTRA_SECRET": "entra-secret-value-1", "MCPGATE_SECRET_KEYS": "k1:" + base64.StdEncoding.EncodeToString(keys)})
	var prm struct {
		AuthorizationServers []string `json:"authorization_servers"`
	}
	getJSON(t, base+"/.well-known/oauth-protected-resource/mcp", &prm)
	if len(prm.AuthorizationServers) != 1 || prm.AuthorizationServers[0] != base {
		t.Fatalf("the metadata names %v, want mcpgate (%s)", prm.AuthorizationServers, base)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	_, cs := signIn(ctx, t, base+"/mcp", "alice@contoso.onmicrosoft.com", "alice-pw")
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "get_forecast", Arguments: map[string]any{"city": "Oslo"}})
	if err != nil || res.IsError {
		t.Fatalf("tool call: %v %+v", err, res)
	}
}
