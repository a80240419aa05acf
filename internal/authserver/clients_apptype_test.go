package authserver

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestResolveApplicationType: the redirect URI rules of each application_type, the default
// and its native inference, in production (dev false) and development mode.
func TestResolveApplicationType(t *testing.T) {
	tests := []struct {
		name     string
		appType  string
		uris     []string
		dev      bool
		want     string
		wantCode string // error code; "" = accepted
		wantMsg  string
	}{
		{"native loopback", "native", []string{"http://127.0.0.1:33418/callback"}, false, "native", "", ""},
		{"native localhost and ::1", "native", []string{"http://localhost/cb", "http://[::1]:9/cb"}, false, "native", "", ""},
		{"native private scheme", "native", []string{"com.example.app:/oauth2redirect"}, false, "native", "", ""},
		{"native claimed https", "native", []string{"https://app.example.com/cb"}, false, "native", "", ""},
		{"native http remote", "native", []string{"http://app.example.com/cb"}, false, "", "invalid_redirect_uri", "must use https, or http on a loopback address"},
		{"native javascript", "native", []string{"javascript:alert(1)"}, false, "", "invalid_redirect_uri", "the javascript: scheme cannot be a redirect URI"},
		{"native data", "native", []string{"data:text/html,x"}, false, "", "invalid_redirect_uri", "the data: scheme"},
		{"native file", "native", []string{"file:///etc/passwd"}, false, "", "invalid_redirect_uri", "the file: scheme"},
		{"native fragment", "native", []string{"myapp://cb#x"}, false, "", "invalid_redirect_uri", "fragment"},
		{"web https", "web", []string{"https://app.example.com/cb"}, false, "web", "", ""},
		{"web loopback in production", "web", []string{"http://127.0.0.1:3000/cb"}, false, "", "invalid_redirect_uri", "web clients may not register"},
		{"web loopback in dev", "web", []string{"http://127.0.0.1:3000/cb"}, true, "web", "", ""},
		{"web private scheme", "web", []string{"myapp://cb"}, true, "", "invalid_redirect_uri", "only native clients may register (application_type native"},
		{"web http remote", "web", []string{"http://app.example.com/cb"}, true, "", "invalid_redirect_uri", "must use https"},
		{"unknown type", "browser", []string{"https://app.example.com/cb"}, false, "", "invalid_client_metadata", `application_type "browser" is not supported; use native or web`},
		{"default https is web", "", []string{"https://app.example.com/cb"}, false, "web", "", ""},
		{"default loopback is native", "", []string{"http://127.0.0.1:3000/cb"}, false, "native", "", ""},
		{"default private scheme is native", "", []string{"cursor://anysphere.cursor-mcp/oauth/callback"}, false, "native", "", ""},
		{"default mixed is native", "", []string{"http://127.0.0.1:33418/", "https://vscode.dev/redirect"}, false, "native", "", ""},
		{"default no redirect is web", "", nil, false, "web", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := resolveApplicationType(tt.appType, tt.uris, nil, tt.dev)
			if tt.wantCode == "" {
				if err != nil || got != tt.want {
					t.Fatalf("got %q, %v; want %q", got, err, tt.want)
				}
				return
			}
			ae, ok := err.(*appTypeError)
			if !ok || ae.code != tt.wantCode || !strings.Contains(ae.msg, tt.wantMsg) {
				t.Fatalf("got %q, %v; want %s containing %q", got, err, tt.wantCode, tt.wantMsg)
			}
		})
	}
}

// TestRegistrationApplicationType: DCR echoes and stores application_type, and a native
// client registered with a private-use scheme signs in (the code goes to that URI).
func TestRegistrationApplicationType(t *testing.T) {
	env := newTestEnv(t, nil)
	register := func(body string) (int, map[string]any) {
		resp, err := http.Post(env.issuer+PathRegister, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	status, out := register(`{"redirect_uris":["com.example.app:/cb"],"application_type":"native"}`)
	if status != 201 || out["application_type"] != "native" {
		t.Fatalf("native: %d %v", status, out)
	}
	id := out["client_id"].(string)
	if c, err := env.store.GetClient(t.Context(), id); err != nil || c.ApplicationType != AppTypeNative {
		t.Fatalf("stored client %+v, %v", c, err)
	}
	status, out = register(`{"redirect_uris":["com.example.app:/cb"],"application_type":"web"}`)
	if status != 400 || out["error"] != "invalid_redirect_uri" || !strings.Contains(out["error_description"].(string), "only native clients") {
		t.Fatalf("web with a private scheme: %d %v", status, out)
	}
	status, out = register(`{"redirect_uris":["https://a.example/cb"],"application_type":"service"}`)
	if status != 400 || out["error"] != "invalid_client_metadata" {
		t.Fatalf("unknown application_type: %d %v", status, out)
	}
	status, out = register(`{"redirect_uris":["https://a.example/cb"]}`)
	if status != 201 || out["application_type"] != "web" {
		t.Fatalf("default: %d %v", status, out)
	}

	// Sign in with the native client: the browser is sent to com.example.app:/cb?code=…
	p := newPKCE()
	b := env.browser("com.example.app:")
	loc := b.signIn(env.authorizeURL(id, "com.example.app:/cb", p, nil), "alice", testPassword, true)
	if loc.Scheme != "com.example.app" || loc.Query().Get("code") == "" {
		t.Fatalf("redirect %s", loc)
	}
	tr := env.token(url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")}, "redirect_uri": {"com.example.app:/cb"},
		"client_id": {id}, "code_verifier": {p.verifier}, "resource": {env.resource}}, "", "")
	if tr.status != 200 || tr.AccessToken == "" {
		t.Fatalf("token: %d %s %s", tr.status, tr.Error, tr.ErrorDescription)
	}
}
