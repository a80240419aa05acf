package federation_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/mcpgate/mcpgate/internal/authserver"
)

// TestFederatedSignInOutsideOAuth: a federated user signs in to mcpgate's own pages (My
// account, the device page) through the identity provider, with no OAuth client involved:
// /login?return=… goes to the provider at once (one provider, no passwords) and comes back
// signed in. The device page offers the provider to a visitor who is not signed in, and the
// device flow completes for the federated user. A return target off this server is refused.
func TestFederatedSignInOutsideOAuth(t *testing.T) {
	e, _ := goEnv(t, nil)

	t.Run("return to a page", func(t *testing.T) {
		b := newBrowser(t, "http://127.0.0.1:5555/unused")
		b.stopAt = e.url + "/account"
		resp, body := b.get(e.url + authserver.PathLogin + "?" + url.Values{authserver.ParamReturn: {"/account?x=1"}}.Encode())
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/account?x=1" {
			t.Fatalf("sign-in ended with %d %q: %.300s", resp.StatusCode, resp.Header.Get("Location"), body)
		}
		var session bool
		u, _ := url.Parse(e.url)
		for _, c := range b.c.Jar.Cookies(u) {
			session = session || strings.Contains(c.Name, "mcpgate_session")
		}
		if !session {
			t.Fatal("no session cookie after the federated sign-in")
		}
		if resp, _ := b.get(e.url + authserver.PathFederatedLogin + "?connector=corp&return=https://evil.example/"); resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("a return target off this server: %d", resp.StatusCode)
		}
	})

	t.Run("device flow", func(t *testing.T) {
		reg, _ := json.Marshal(map[string]any{"client_name": "TV", "grant_types": []string{"urn:ietf:params:oauth:grant-type:device_code"}, "token_endpoint_auth_method": "none"})
		resp, err := http.Post(e.url+authserver.PathRegister, "application/json", bytes.NewReader(reg))
		if err != nil {
			t.Fatal(err)
		}
		var client map[string]any
		json.NewDecoder(resp.Body).Decode(&client)
		resp.Body.Close()
		id, _ := client["client_id"].(string)
		resp, err = http.PostForm(e.url+authserver.PathDeviceAuthorization, url.Values{"client_id": {id}, "scope": {"mcp:tools"}, "resource": {e.resource}})
		if err != nil {
			t.Fatal(err)
		}
		var da map[string]any
		json.NewDecoder(resp.Body).Decode(&da)
		resp.Body.Close()
		code, _ := da["user_code"].(string)
		if code == "" {
			t.Fatalf("device authorization: %v", da)
		}

		b := newBrowser(t, "http://127.0.0.1:5555/unused")
		_, page := b.get(e.url + authserver.PathDevice + "?" + url.Values{"user_code": {code}}.Encode())
		m := regexp.MustCompile(`href="([^"]*)">Sign in with Corp SSO</a>`).FindStringSubmatch(page)
		if m == nil || strings.Contains(page, `name="password"`) {
			t.Fatalf("the device page does not offer the provider (or asks for a password nobody has): %.600s", page)
		}
		// The link signs in at the provider and comes back to the device page with the code.
		_, page = b.get(e.url + strings.ReplaceAll(m[1], "&amp;", "&"))
		if !strings.Contains(page, "Signed in as") || !strings.Contains(page, "Connect device") {
			t.Fatalf("back on the device page, not signed in: %.600s", page)
		}
		csrf := regexp.MustCompile(`name="csrf" value="([^"]*)"`).FindStringSubmatch(page)
		if csrf == nil {
			t.Fatal("no form")
		}
		_, page = b.post(e.url+authserver.PathDevice, url.Values{"csrf": {csrf[1]}, "user_code": {code}, "action": {"approve"}})
		if !strings.Contains(page, "Device connected") {
			t.Fatalf("approval: %.400s", page)
		}
		status, tok := tokenRequest(t, e, url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:device_code"}, "device_code": {da["device_code"].(string)}, "client_id": {id}})
		if status != http.StatusOK || tok["access_token"] == nil {
			t.Fatalf("device token: %d %v", status, tok)
		}
		if c := claim(t, tok["access_token"].(string), "sub"); c != "corp:dana" {
			t.Fatalf("the device's token is for %q, want corp:dana", c)
		}
	})
}
