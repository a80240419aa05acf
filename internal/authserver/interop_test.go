package authserver

import (
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/internal/testutil"
)

// TestTypeScriptSDKClient runs the same flow with the official TypeScript MCP SDK client
// (testdata/ts_client.cjs) against the gateway + authorization server: DCR, PKCE,
// resource, login + consent, tools/call through the gateway, refresh via the SDK, and the
// old refresh token refused.
func TestTypeScriptSDKClient(t *testing.T) {
	nodeDir := testutil.NodeModules(t)
	env := newGatewayEnv(t)
	var res struct {
		AuthorizationURL     string `json:"authorizationURL"`
		ToolText             string `json:"toolText"`
		HadRefreshToken      bool   `json:"hadRefreshToken"`
		RefreshResult        string `json:"refreshResult"`
		Rotated              bool   `json:"rotated"`
		ToolTextAfterRefresh string `json:"toolTextAfterRefresh"`
		ReplayStatus         int    `json:"replayStatus"`
		ReplayError          string `json:"replayError"`
	}
	out := testutil.RunNodeDriver(t, nodeDir, 60*time.Second, nil, &res, "ts_client.cjs", env.resource, "alice", testPassword)
	t.Logf("TypeScript SDK result: %s", out)
	if !strings.Contains(res.AuthorizationURL, "code_challenge_method=S256") || !strings.Contains(res.AuthorizationURL, "resource=") {
		t.Errorf("authorization URL lacks PKCE S256 or resource: %s", res.AuthorizationURL)
	}
	if !strings.Contains(res.ToolText, "sub=u-alice email=alice@example.com auth=\"\"") || !strings.Contains(res.ToolTextAfterRefresh, "sub=u-alice") {
		t.Errorf("tool results: %q / %q", res.ToolText, res.ToolTextAfterRefresh)
	}
	if !res.HadRefreshToken || res.RefreshResult != "AUTHORIZED" || !res.Rotated {
		t.Errorf("refresh: had=%v result=%q rotated=%v", res.HadRefreshToken, res.RefreshResult, res.Rotated)
	}
	if res.ReplayStatus != 400 || res.ReplayError != "invalid_grant" {
		t.Errorf("old refresh token: %d %s", res.ReplayStatus, res.ReplayError)
	}
}

// TestBrowserLoginAndConsent signs in through the login and consent pages in headless
// Chromium (playwright-core). MCPGATE_UPDATE_SCREENSHOTS=1 refreshes docs/screenshots.
func TestBrowserLoginAndConsent(t *testing.T) {
	nodeDir := testutil.NodeModules(t)
	chromium := testutil.Chromium(t)
	env := newTestEnv(t, nil)
	redirect := env.srv.URL + "/callback"
	client := env.register(redirect)
	p := newPKCE()
	shots := testutil.ScreenshotDir(t)
	var res struct {
		LoginTitle, WrongPasswordMessage, ConsentTitle, ConsentText, FinalURL string
		ConsoleErrors                                                         []string
	}
	testutil.RunNodeDriver(t, nodeDir, 90*time.Second, []string{"CHROMIUM=" + chromium}, &res, "browser_login.cjs",
		env.authorizeURL(client, redirect, p, nil), redirect, "alice", testPassword, shots)
	if res.LoginTitle != "Sign in · mcpgate" || res.WrongPasswordMessage != "Wrong username or password." {
		t.Errorf("login page: %+v", res)
	}
	if res.ConsentTitle != "Allow access? · mcpgate" || !strings.Contains(res.ConsentText, "Test Client") || !strings.Contains(res.ConsentText, strings.TrimPrefix(env.srv.URL, "http://")) || !strings.Contains(res.ConsentText, "mcp:tools") {
		t.Errorf("consent page: %s", res.ConsentText)
	}
	for _, e := range res.ConsoleErrors {
		// 401 (the wrong password) and 404 (favicon, the fake client callback) are expected.
		if strings.Contains(e, "Content Security Policy") || strings.Contains(e, "Refused") {
			t.Errorf("browser console error: %s", e)
		}
	}
	u, err := url.Parse(res.FinalURL)
	if err != nil || u.Query().Get("code") == "" || u.Query().Get("state") != "st-123" {
		t.Fatalf("final URL %q", res.FinalURL)
	}
	tr := env.token(url.Values{"grant_type": {"authorization_code"}, "code": {u.Query().Get("code")}, "redirect_uri": {redirect},
		"client_id": {client}, "code_verifier": {p.verifier}, "resource": {env.resource}}, "", "")
	if tr.status != 200 {
		t.Fatalf("exchanging the browser's code: %+v", tr)
	}
	for _, f := range []string{"authserver-login.png", "authserver-consent.png"} {
		if st, err := os.Stat(filepath.Join(shots, f)); err != nil || st.Size() < 1000 {
			t.Errorf("screenshot %s missing or empty: %v", f, err)
		}
	}
}
