package authserver

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestAuthorizeRejections: every rejection of the authorization request, each with the
// error the client sees.
func TestAuthorizeRejections(t *testing.T) {
	env := newTestEnv(t, nil)
	redirect := "http://127.0.0.1:5555/cb"
	client := env.register(redirect)
	tests := []struct {
		name      string
		extra     url.Values
		wantError string // error at the redirect URI
		wantPage  int    // or: no redirect, this status
		deny      bool
	}{
		{name: "missing PKCE", extra: url.Values{"code_challenge": nil, "code_challenge_method": nil}, wantError: "invalid_request"},
		{name: "plain PKCE", extra: url.Values{"code_challenge_method": {"plain"}}, wantError: "invalid_request"},
		{name: "PKCE without method", extra: url.Values{"code_challenge_method": nil}, wantError: "invalid_request"},
		{name: "unknown resource", extra: url.Values{"resource": {"https://evil.example.com/mcp"}}, wantError: "invalid_target"},
		{name: "malformed resource", extra: url.Values{"resource": {"not a url"}}, wantError: "invalid_target"},
		{name: "unregistered redirect URI", extra: url.Values{"redirect_uri": {"https://evil.example.com/cb"}}, wantPage: http.StatusBadRequest},
		{name: "redirect URI differing only in path", extra: url.Values{"redirect_uri": {"http://127.0.0.1:5555/cb/x"}}, wantPage: http.StatusBadRequest},
		{name: "unknown client", extra: url.Values{"client_id": {"nope"}}, wantPage: http.StatusBadRequest},
		{name: "consent denied", deny: true, wantError: "access_denied"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := env.browser(redirect)
			u := env.authorizeURL(client, redirect, newPKCE(), tc.extra)
			if tc.wantPage != 0 {
				resp, body := b.get(u)
				if resp.StatusCode != tc.wantPage || strings.HasPrefix(resp.Header.Get("Location"), "http://127.0.0.1:555") {
					t.Fatalf("got %d (Location %q), want %d and no redirect: %s", resp.StatusCode, resp.Header.Get("Location"), tc.wantPage, body)
				}
				return
			}
			var loc *url.URL
			if tc.deny {
				loc = b.signIn(u, "alice", testPassword, false)
			} else {
				resp, body := b.get(u)
				if resp.StatusCode/100 != 3 {
					t.Fatalf("got %d, want a redirect with error=%s: %s", resp.StatusCode, tc.wantError, body)
				}
				loc, _ = url.Parse(resp.Header.Get("Location"))
			}
			q := loc.Query()
			if q.Get("error") != tc.wantError || q.Get("state") != "st-123" || q.Get("error_description") == "" || q.Get("code") != "" {
				t.Fatalf("redirect %s: want error=%s with state and a description", loc, tc.wantError)
			}
		})
	}
}

// TestTokenRejections: wrong verifier, reused code (revokes what it issued), refresh replay,
// unknown resource at the token endpoint.
func TestTokenRejections(t *testing.T) {
	env := newTestEnv(t, nil)
	redirect := "http://127.0.0.1:5555/cb"
	client := env.register(redirect)
	getCode := func(p pkce) string {
		loc := env.browser(redirect).signIn(env.authorizeURL(client, redirect, p, nil), "alice", testPassword, true)
		return loc.Query().Get("code")
	}
	exchange := func(code, verifier string, extra url.Values) tokenResponse {
		f := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect}, "client_id": {client}, "code_verifier": {verifier}, "resource": {env.resource}}
		for k, v := range extra {
			f[k] = v
		}
		return env.token(f, "", "")
	}

	t.Run("wrong verifier", func(t *testing.T) {
		p := newPKCE()
		tr := exchange(getCode(p), newPKCE().verifier, nil)
		if tr.status != 400 || tr.Error != "invalid_grant" || tr.ErrorDescription == "" {
			t.Fatalf("got %+v", tr)
		}
	})
	t.Run("missing verifier", func(t *testing.T) {
		p := newPKCE()
		tr := exchange(getCode(p), "", url.Values{"code_verifier": nil})
		if tr.status != 400 || tr.AccessToken != "" {
			t.Fatalf("got %+v", tr)
		}
	})
	t.Run("reused code revokes its tokens", func(t *testing.T) {
		p := newPKCE()
		code := getCode(p)
		first := exchange(code, p.verifier, nil)
		if first.status != 200 {
			t.Fatalf("first exchange: %+v", first)
		}
		second := exchange(code, p.verifier, nil)
		if second.status != 400 || second.Error != "invalid_grant" || second.AccessToken != "" {
			t.Fatalf("second exchange: %+v", second)
		}
		r := env.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first.RefreshToken}, "client_id": {client}}, "", "")
		if r.Error != "invalid_grant" {
			t.Fatalf("refresh token from a replayed code still works: %+v", r)
		}
	})
	t.Run("redirect_uri mismatch at token endpoint", func(t *testing.T) {
		p := newPKCE()
		tr := exchange(getCode(p), p.verifier, url.Values{"redirect_uri": {"http://127.0.0.1:5555/other"}})
		if tr.status != 400 || tr.Error != "invalid_grant" {
			t.Fatalf("got %+v", tr)
		}
	})
	t.Run("unknown resource at token endpoint", func(t *testing.T) {
		p := newPKCE()
		tr := exchange(getCode(p), p.verifier, url.Values{"resource": {"https://elsewhere.example/mcp"}})
		if tr.status != 400 || tr.Error != "invalid_target" || tr.ErrorDescription == "" {
			t.Fatalf("got %+v", tr)
		}
	})
	t.Run("resource not authorized", func(t *testing.T) {
		p := newPKCE()
		tr := exchange(getCode(p), p.verifier, url.Values{"resource": {env.srv.URL + "/other"}})
		if tr.status != 400 || tr.Error != "invalid_target" {
			t.Fatalf("got %+v", tr)
		}
	})
	t.Run("refresh replay revokes family", func(t *testing.T) {
		tr := env.codeFlow(client, redirect)
		refresh := func(rt string) tokenResponse {
			return env.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {client}}, "", "")
		}
		a := refresh(tr.RefreshToken)
		b := refresh(a.RefreshToken)
		if a.status != 200 || b.status != 200 {
			t.Fatalf("rotation: %+v %+v", a, b)
		}
		if r := refresh(a.RefreshToken); r.Error != "invalid_grant" || !strings.Contains(r.ErrorDescription, "already used") {
			t.Fatalf("replay accepted: %+v", r)
		}
		if r := refresh(b.RefreshToken); r.Error != "invalid_grant" {
			t.Fatalf("family not revoked: %+v", r)
		}
	})
	t.Run("no scope", func(t *testing.T) {
		p := newPKCE()
		loc := env.browser(redirect).signIn(env.authorizeURL(client, redirect, p, url.Values{"scope": nil}), "alice", testPassword, true)
		tr := exchange(loc.Query().Get("code"), p.verifier, nil)
		if tr.status != 200 {
			t.Fatalf("got %+v", tr)
		}
	})
	t.Run("canonical resource accepted", func(t *testing.T) {
		p := newPKCE()
		u := env.authorizeURL(client, redirect, p, url.Values{"resource": {strings.Replace(env.resource, "http://", "HTTP://", 1) + "/"}})
		loc := env.browser(redirect).signIn(u, "alice", testPassword, true)
		tr := exchange(loc.Query().Get("code"), p.verifier, url.Values{"resource": nil})
		if tr.status != 200 {
			t.Fatalf("got %+v", tr)
		}
		c, _, err := env.as.VerifyAccessToken(context.Background(), tr.AccessToken, env.resource)
		if err != nil || len(c.Audience) != 1 || c.Audience[0] != env.resource {
			t.Fatalf("aud = %v, err %v", c, err)
		}
	})
}

// TestDeviceFlow: approval through the verification page; an expired device code.
func TestDeviceFlow(t *testing.T) {
	env := newTestEnv(t, func(o *Options) {
		o.Clients = []StaticClient{{ID: "tv", Name: "TV app", GrantTypes: []string{"urn:ietf:params:oauth:grant-type:device_code", "refresh_token"}}}
	})
	start := func() map[string]any {
		resp, err := http.PostForm(env.issuer+PathDeviceAuthorization, url.Values{"client_id": {"tv"}, "scope": {"openid mcp:tools offline_access"}, "resource": {env.resource}})
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		if resp.StatusCode != 200 {
			t.Fatalf("device authorization: %d %v", resp.StatusCode, out)
		}
		return out
	}
	poll := func(dc string) tokenResponse {
		return env.token(url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:device_code"}, "device_code": {dc}, "client_id": {"tv"}}, "", "")
	}
	d := start()
	if !strings.HasPrefix(d["verification_uri"].(string), env.issuer+PathDevice) {
		t.Fatalf("verification_uri = %v", d["verification_uri"])
	}
	if r := poll(d["device_code"].(string)); r.Error != "authorization_pending" {
		t.Fatalf("before approval: %+v", r)
	}
	b := env.browser("")
	resp, body := b.get(env.issuer + PathDevice)
	if resp.StatusCode != 200 {
		t.Fatalf("device page: %d", resp.StatusCode)
	}
	// The code shows what it asks for before anything is approved.
	for _, u := range []string{env.issuer + PathDevice + "?user_code=" + url.QueryEscape(d["user_code"].(string))} {
		if resp, body := b.get(u); resp.StatusCode != 200 || !strings.Contains(body, "Who runs it") || !strings.Contains(body, "(tv)") || !strings.Contains(body, "Connect device") {
			t.Fatalf("device page with the code: %d %s", resp.StatusCode, body)
		}
	}
	if resp, shown := b.post(env.issuer+PathDevice, url.Values{"csrf": {csrfFrom(t, body)}, "user_code": {d["user_code"].(string)}, "action": {"show"}}); resp.StatusCode != 200 || !strings.Contains(shown, "Who runs it") {
		t.Fatalf("device page, code entered: %d %s", resp.StatusCode, shown)
	}
	if _, wrong := b.get(env.issuer + PathDevice + "?user_code=NOPE-NOPE"); !strings.Contains(wrong, "not valid") {
		t.Fatalf("unknown code: %s", wrong)
	}
	resp, body = b.post(env.issuer+PathDevice, url.Values{"csrf": {csrfFrom(t, body)}, "user_code": {d["user_code"].(string)}, "username": {"alice"}, "password": {testPassword}, "action": {"approve"}})
	if resp.StatusCode != 200 || !strings.Contains(body, "Device connected") {
		t.Fatalf("approve: %d %s", resp.StatusCode, body)
	}
	tr := poll(d["device_code"].(string))
	if tr.status != 200 || tr.AccessToken == "" || tr.RefreshToken == "" {
		t.Fatalf("after approval: %+v", tr)
	}
	if _, _, err := env.as.VerifyAccessToken(context.Background(), tr.AccessToken, env.resource); err != nil {
		t.Fatal(err)
	}
	if r := poll(d["device_code"].(string)); r.AccessToken != "" {
		t.Fatal("device code exchanged twice")
	}

	t.Run("expired device code", func(t *testing.T) {
		env := newTestEnv(t, func(o *Options) {
			o.DeviceCodeLifetime = time.Second
			o.Clients = []StaticClient{{ID: "tv", GrantTypes: []string{"urn:ietf:params:oauth:grant-type:device_code"}}}
		})
		resp, err := http.PostForm(env.issuer+PathDeviceAuthorization, url.Values{"client_id": {"tv"}, "scope": {"openid"}})
		if err != nil {
			t.Fatal(err)
		}
		var d map[string]any
		json.NewDecoder(resp.Body).Decode(&d)
		resp.Body.Close()
		time.Sleep(1100 * time.Millisecond)
		r := env.token(url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:device_code"}, "device_code": {d["device_code"].(string)}, "client_id": {"tv"}}, "", "")
		if r.Error != "expired_token" {
			t.Fatalf("got %+v, want expired_token", r)
		}
		// The verification page says so too.
		b := env.browser("")
		_, body := b.get(env.issuer + PathDevice)
		resp2, body := b.post(env.issuer+PathDevice, url.Values{"csrf": {csrfFrom(t, body)}, "user_code": {d["user_code"].(string)}, "username": {"alice"}, "password": {testPassword}, "action": {"approve"}})
		if resp2.StatusCode != 400 || !strings.Contains(body, "expired") {
			t.Fatalf("verification page: %d %s", resp2.StatusCode, body)
		}
	})
}

// TestLoopbackRedirectAnyPort: a public client's registered loopback IP redirect URI matches
// at any port (OAuth 2.1 §8.4.2, RFC 8252 §7.3: native clients bind an ephemeral port at
// sign-in time), and the code is delivered to the port the request named.
func TestLoopbackRedirectAnyPort(t *testing.T) {
	env := newTestEnv(t, nil)
	client := env.register("http://127.0.0.1:5555/cb")
	other := "http://127.0.0.1:61234/cb"
	loc := env.browser(other).signIn(env.authorizeURL(client, other, newPKCE(), nil), "alice", testPassword, true)
	if loc.Host != "127.0.0.1:61234" || loc.Path != "/cb" || loc.Query().Get("code") == "" {
		t.Fatalf("sign-in with a loopback redirect on another port ended at %s, want a code at %s", loc, other)
	}
}

// TestLoopbackRedirectOnlyThePortVaries: for a public client's loopback redirect URI, only
// the port may differ. op compares only the path and query there; these reached the login
// page (and got a code) before CreateAuthRequest checked the redirect_uri itself. Found by
// FuzzRedirectURIMatch.
func TestLoopbackRedirectOnlyThePortVaries(t *testing.T) {
	env := newTestEnv(t, nil)
	client := env.register("http://127.0.0.1:5555/cb")
	for _, bad := range []string{
		"https://127.0.0.1:61234/cb",
		"http://localhost:61234/cb",
		"http://127.0.0.2:61234/cb",
		"http://[::1]:61234/cb",
		"http://127.0.0.1:61234/cb#frag",
		"http://user:pw@127.0.0.1:61234/cb",
		"http://127.0.0.1:61234/%63b",
	} {
		b := env.browser("http://")
		resp, body := b.get(env.authorizeURL(client, bad, newPKCE(), nil))
		if resp.StatusCode != http.StatusBadRequest || strings.Contains(body, `name="csrf"`) || resp.Header.Get("Location") != "" {
			t.Errorf("redirect_uri %s: %d %s, want a 400 error page without redirect", bad, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
}
