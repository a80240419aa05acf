package entraemulator

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/internal/testutil"
)

// TestBrowserLogin signs Bob in with a real Chromium on the login page: password, then the
// MFA code that Conditional Access requires for the Files API, then the consent screen,
// then the redirect with a code that redeems (PKCE) into a token with amr pwd+mfa.
func TestBrowserLogin(t *testing.T) {
	nodeDir := testutil.NodeModules(t)
	chromium := testutil.Chromium(t)
	e := newEnv(t)
	verifier := "browser-verifier-browser-verifier-browser-verifier"
	h := sha256.Sum256([]byte(verifier))
	q := url.Values{"client_id": {webAppID}, "response_type": {"code"}, "redirect_uri": {redirectURI}, "scope": {"api://files/Files.Read openid"},
		"state": {"st4te"}, "nonce": {"n0nce"}, "code_challenge": {base64.RawURLEncoding.EncodeToString(h[:])}, "code_challenge_method": {"S256"}}
	in, _ := json.Marshal(map[string]string{"nodeModules": nodeDir, "chromium": chromium,
		"url": e.srv.URL + "/" + contosoID + "/oauth2/v2.0/authorize?" + q.Encode(), "user": "bob@contoso.com", "password": "bob-pw",
		"mfaCode": "424242", "redirectPrefix": redirectURI})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", filepath.Join("testdata", "browser_login.mjs"))
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("browser: %v\n%s", err, stderr.String())
	}
	var res struct {
		Landed string   `json:"landed"`
		Steps  []string `json:"steps"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if !slices.Equal(res.Steps, []string{"password", "mfa", "consent"}) {
		t.Fatalf("steps %v", res.Steps)
	}
	code := codeFrom(t, res.Landed)
	st, m := e.post(t, "/"+contosoID+"/oauth2/v2.0/token", url.Values{"grant_type": {"authorization_code"}, "client_id": {webAppID},
		"client_secret": {"web-secret"}, "code": {code}, "redirect_uri": {redirectURI}, "code_verifier": {verifier}})
	if st != 200 {
		t.Fatalf("%d %v", st, m)
	}
	c, _ := e.verify(t, str(m, "access_token"), "/"+contosoID+"/discovery/keys", "https://sts.windows.net/"+contosoID+"/", "api://files")
	if amr, _ := c["amr"].([]any); len(amr) != 2 || c["upn"] != "bob@contoso.com" {
		t.Fatalf("claims %v", c)
	}
}
