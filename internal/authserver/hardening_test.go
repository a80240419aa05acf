package authserver

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// logBuffer is a goroutine-safe log sink, for asserting what was (not) logged.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
	t  *testing.T
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.t.Output().Write(p)
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func captureLogs(t *testing.T) (*logBuffer, func(*Options)) {
	lb := &logBuffer{t: t}
	return lb, func(o *Options) {
		o.Logger = slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
}

func post(t *testing.T, u, contentType string, body io.Reader) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Post(u, contentType, body)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// TestOversizedBodies: a multi-megabyte body to any endpoint that reads one is refused with
// 413 and an OAuth error, and neither echoed nor logged.
func TestOversizedBodies(t *testing.T) {
	logs, withLogs := captureLogs(t)
	env := newTestEnv(t, withLogs)
	marker := "zqxmarker"
	big := "client_id=" + marker + strings.Repeat("A", 3<<20)
	for _, tc := range []struct {
		path, contentType, body, wantError string
	}{
		{PathToken, "application/x-www-form-urlencoded", "grant_type=client_credentials&" + big, "invalid_request"},
		{PathAuthorize, "application/x-www-form-urlencoded", big, "invalid_request"},
		{PathDeviceAuthorization, "application/x-www-form-urlencoded", big, "invalid_request"},
		{PathDevice, "application/x-www-form-urlencoded", big, "invalid_request"},
		{PathLogin, "application/x-www-form-urlencoded", big, "invalid_request"},
		{PathConsent, "application/x-www-form-urlencoded", big, "invalid_request"},
		{PathRevoke, "application/x-www-form-urlencoded", big, "invalid_request"},
		{PathIntrospect, "application/x-www-form-urlencoded", big, "invalid_request"},
		{PathUserinfo, "application/x-www-form-urlencoded", big, "invalid_request"},
		{PathRegister, "application/json", `{"client_name":"` + marker + strings.Repeat("A", 3<<20) + `"}`, "invalid_client_metadata"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			resp, body := post(t, env.issuer+tc.path, tc.contentType, strings.NewReader(tc.body))
			var e struct{ Error, ErrorDescription string }
			json.Unmarshal(body, &struct {
				Error            *string `json:"error"`
				ErrorDescription *string `json:"error_description"`
			}{&e.Error, &e.ErrorDescription})
			if resp.StatusCode != http.StatusRequestEntityTooLarge || e.Error != tc.wantError || !strings.Contains(e.ErrorDescription, "64 KiB") {
				t.Fatalf("got %d %s, want 413 %s naming the limit", resp.StatusCode, body, tc.wantError)
			}
			if bytes.Contains(body, []byte(marker)) || len(body) > 512 {
				t.Fatalf("response echoes the body (%d bytes)", len(body))
			}
		})
	}
	if strings.Contains(logs.String(), marker) {
		t.Fatal("a request body was logged")
	}
	// The limit is a cap, not a ban: a normal registration still works.
	env.register("http://127.0.0.1:5555/cb")
}

// TestRegistrationJSONLimits: deeply nested or overlong registration JSON gets a 400 that
// names the limit.
func TestRegistrationJSONLimits(t *testing.T) {
	env := newTestEnv(t, nil)
	deep := `{"redirect_uris":["http://127.0.0.1/cb"],"x":` + strings.Repeat("[", 50) + strings.Repeat("]", 50) + `}`
	wide := `{"redirect_uris":["http://127.0.0.1/cb"],"x":[` + strings.Repeat("1,", 5000) + `1]}`
	for name, tc := range map[string]struct{ body, want string }{
		"deep": {deep, "nests deeper than 8 levels"},
		"wide": {wide, "more than 2000 values"},
	} {
		t.Run(name, func(t *testing.T) {
			resp, body := post(t, env.issuer+PathRegister, "application/json", strings.NewReader(tc.body))
			if resp.StatusCode != http.StatusBadRequest || !bytes.Contains(body, []byte("invalid_client_metadata")) || !bytes.Contains(body, []byte(tc.want)) {
				t.Fatalf("got %d %s, want 400 naming %q", resp.StatusCode, body, tc.want)
			}
		})
	}
}

// TestNoUnboundedEcho: long client-supplied values come back (and are logged) clipped.
func TestNoUnboundedEcho(t *testing.T) {
	logs, withLogs := captureLogs(t)
	env := newTestEnv(t, withLogs)
	long := strings.Repeat("x", 5000)
	// DCR: a redirect URI that is refused is quoted in the error, clipped.
	b, _ := json.Marshal(map[string]any{"redirect_uris": []string{"ftp://" + long}})
	resp, body := post(t, env.issuer+PathRegister, "application/json", bytes.NewReader(b))
	if resp.StatusCode != http.StatusBadRequest || bytes.Contains(body, []byte(long[:200])) || !bytes.Contains(body, []byte("…")) {
		t.Fatalf("registration: %d %d bytes: %.300s", resp.StatusCode, len(body), body)
	}
	// Token endpoint: an unknown resource is quoted, clipped.
	tr := env.token(url.Values{"grant_type": {"client_credentials"}, "resource": {"https://" + long + ".example/mcp"}}, "", "")
	if tr.Error != "invalid_target" || strings.Contains(tr.ErrorDescription, long[:200]) || len(tr.ErrorDescription) > 400 {
		t.Fatalf("token: %+v", tr)
	}
	// An unknown client_id is not echoed, and logged clipped.
	tr = env.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"r"}, "client_id": {"c" + long}}, "", "")
	if tr.Error != "invalid_client" || strings.Contains(tr.ErrorDescription, long[:200]) {
		t.Fatalf("token: %+v", tr)
	}
	if l := logs.String(); strings.Contains(l, long[:200]) {
		t.Fatal("a long client-supplied value was logged whole")
	}
}

// TestUnknownClientEveryGrant: an unknown client_id is 401 invalid_client on every grant,
// whether it comes in the form or in HTTP Basic, and is logged below ERROR.
func TestUnknownClientEveryGrant(t *testing.T) {
	logs, withLogs := captureLogs(t)
	env := newTestEnv(t, withLogs)
	const unknown = "no-such-client"
	tests := []struct {
		name  string
		form  url.Values
		basic bool
	}{
		{"authorization_code", url.Values{"grant_type": {"authorization_code"}, "code": {"c"}, "redirect_uri": {"http://127.0.0.1:5555/cb"}, "code_verifier": {strings.Repeat("v", 43)}}, false},
		{"refresh_token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"r"}}, false},
		{"refresh_token basic", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"r"}}, true},
		{"client_credentials", url.Values{"grant_type": {"client_credentials"}}, true},
		{"client_credentials post", url.Values{"grant_type": {"client_credentials"}, "client_secret": {"s"}}, false},
		{"device_code", url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:device_code"}, "device_code": {"d"}}, false},
		{"token-exchange", url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:token-exchange"}, "subject_token": {"t"},
			"subject_token_type": {"urn:ietf:params:oauth:token-type:access_token"}, "resource": {env.resource}}, true},
		{"token-exchange post", url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:token-exchange"}, "subject_token": {"t"},
			"subject_token_type": {"urn:ietf:params:oauth:token-type:access_token"}, "resource": {env.resource}, "client_secret": {"s"}}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var tr tokenResponse
			if tc.basic {
				tr = env.token(tc.form, unknown, "secret")
			} else {
				f := url.Values{"client_id": {unknown}}
				for k, v := range tc.form {
					f[k] = v
				}
				tr = env.token(f, "", "")
			}
			if tr.status != http.StatusUnauthorized || tr.Error != "invalid_client" || tr.ErrorDescription == "" || strings.Contains(tr.ErrorDescription, unknown) {
				t.Fatalf("got %d %s %q, want 401 invalid_client not echoing the id", tr.status, tr.Error, tr.ErrorDescription)
			}
		})
	}
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, unknown) && strings.Contains(line, "level=ERROR") {
			t.Fatalf("a client mistake logged at ERROR: %s", line)
		}
	}
}

// TestUserinfoRejectsIDToken: /userinfo takes access tokens only.
func TestUserinfoRejectsIDToken(t *testing.T) {
	env := newTestEnv(t, nil)
	redirect := "http://127.0.0.1:5555/cb"
	tr := env.codeFlow(env.register(redirect), redirect)
	if tr.IDToken == "" {
		t.Fatal("no id_token to test with")
	}
	get := func(tok string) (int, string, http.Header) {
		req, _ := http.NewRequest(http.MethodGet, env.issuer+PathUserinfo, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header
	}
	if code, body, _ := get(tr.AccessToken); code != 200 || !strings.Contains(body, "alice@example.com") {
		t.Fatalf("access token: %d %s", code, body)
	}
	code, body, h := get(tr.IDToken)
	if code != http.StatusUnauthorized || !strings.Contains(body, "invalid_token") || !strings.Contains(h.Get("WWW-Authenticate"), `error="invalid_token"`) || strings.Contains(body, "alice") {
		t.Fatalf("id token: %d %s %v", code, body, h)
	}
	// The same as a form parameter (RFC 6750 §2.2).
	resp, b := post(t, env.issuer+PathUserinfo, "application/x-www-form-urlencoded", strings.NewReader(url.Values{"access_token": {tr.IDToken}}.Encode()))
	if resp.StatusCode != http.StatusUnauthorized || bytes.Contains(b, []byte("alice")) {
		t.Fatalf("id token in form: %d %s", resp.StatusCode, b)
	}
}

// TestRedirectURIFragment: a redirect URI with a fragment is refused at registration and at
// /authorize (RFC 6749 §3.1.2), also when it otherwise matches a registered loopback URI.
func TestRedirectURIFragment(t *testing.T) {
	env := newTestEnv(t, nil)
	for _, u := range []string{"http://127.0.0.1:5555/cb#frag", "http://127.0.0.1:5555/cb#", "http://localhost/cb#x", "https://app.example.com/cb#x"} {
		b, _ := json.Marshal(map[string]any{"redirect_uris": []string{u}})
		resp, body := post(t, env.issuer+PathRegister, "application/json", bytes.NewReader(b))
		if resp.StatusCode != http.StatusBadRequest || !bytes.Contains(body, []byte("invalid_redirect_uri")) || !bytes.Contains(body, []byte("fragment")) {
			t.Errorf("register %s: %d %s", u, resp.StatusCode, body)
		}
	}
	redirect := "http://127.0.0.1:5555/cb"
	client := env.register(redirect)
	for _, u := range []string{redirect + "#frag", redirect + "#", "http://127.0.0.1:6000/cb#x"} {
		resp, body := env.browser("http://127.0.0.1:").get(env.authorizeURL(client, redirect, newPKCE(), url.Values{"redirect_uri": {u}}))
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" || !strings.Contains(body, "fragment") {
			t.Errorf("authorize %s: %d (Location %q) %s", u, resp.StatusCode, resp.Header.Get("Location"), body)
		}
	}
	// Without the fragment the same request proceeds to sign-in.
	resp, body := env.browser(redirect).get(env.authorizeURL(client, redirect, newPKCE(), nil))
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `name="password"`) {
		t.Fatalf("authorize without fragment: %d %s", resp.StatusCode, body)
	}
}
