package authserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/crypto/bcrypt"

	"github.com/mcpgate/mcpgate/internal/authn"
	"github.com/mcpgate/mcpgate/internal/store"
)

func getJSON(t *testing.T, u string) (int, map[string]any, http.Header) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out, resp.Header
}

func TestMetadata(t *testing.T) {
	env := newTestEnv(t, nil)
	for _, p := range []string{PathOAuthMetadata, PathOIDCDiscovery} {
		status, m, _ := getJSON(t, env.issuer+p)
		if status != 200 {
			t.Fatalf("%s: %d", p, status)
		}
		if m["issuer"] != env.issuer || m["registration_endpoint"] != env.issuer+PathRegister || m["client_id_metadata_document_supported"] != true ||
			fmt.Sprint(m["code_challenge_methods_supported"]) != "[S256]" || m["token_endpoint"] != env.issuer+PathToken {
			t.Fatalf("%s: %v", p, m)
		}
	}
	status, jwks, _ := getJSON(t, env.issuer+PathJWKS)
	keys, _ := jwks["keys"].([]any)
	if status != 200 || len(keys) != 1 || keys[0].(map[string]any)["alg"] != "ES256" {
		t.Fatalf("jwks: %d %v", status, jwks)
	}
	// Registration off removes the endpoint from metadata.
	off := newTestEnv(t, func(o *Options) { o.Registration = RegistrationOff; o.CIMD.Disabled = true })
	_, m, _ := getJSON(t, off.issuer+PathOAuthMetadata)
	if _, ok := m["registration_endpoint"]; ok || m["client_id_metadata_document_supported"] != false {
		t.Fatalf("metadata with registration off: %v", m)
	}
}

func TestSigningKeysPersistAndRotate(t *testing.T) {
	st := store.NewMemory()
	now := time.Now()
	clock := func() time.Time { return now }
	mk := func(alg string) *Server {
		s, err := New(context.Background(), Options{Issuer: "http://127.0.0.1:1", Store: st, AllowInsecureHTTP: true, SigningAlgorithm: alg,
			KeyRotation: time.Hour, KeyOverlap: 10 * time.Minute, AccessTokenLifetime: 5 * time.Minute, Now: clock})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	ctx := context.Background()
	a := mk("ES256")
	k1, _ := a.keys.signing(ctx)
	b := mk("ES256") // a second instance (restart or replica) reuses the stored key
	if k2, _ := b.keys.signing(ctx); k2.ID() != k1.ID() {
		t.Fatalf("restart made a new key: %s vs %s", k1.ID(), k2.ID())
	}
	// Inside the overlap window a successor is published but the old key still signs.
	now = now.Add(55 * time.Minute)
	set, _ := a.keys.load(ctx, true)
	if len(set) != 2 {
		t.Fatalf("%d keys, want 2 (successor published)", len(set))
	}
	if k, _ := a.keys.signing(ctx); k.ID() != k1.ID() {
		t.Fatal("successor signs before the old key retired")
	}
	// After retirement the successor signs; the old key stays published for verification.
	now = now.Add(10 * time.Minute)
	a.keys.load(ctx, true)
	k3, _ := a.keys.signing(ctx)
	if k3.ID() == k1.ID() {
		t.Fatal("old key still signing after retirement")
	}
	pub, _ := a.PublicKeys(ctx)
	if len(pub.Keys) != 2 {
		t.Fatalf("published %d keys, want old+new", len(pub.Keys))
	}
	// Tokens signed by the old key verify until it is removed.
	tok, err := a.mint(ctx, AccessClaims{Issuer: a.issuer, Subject: "x"}, nil)
	if err != nil || !strings.Contains(tok, ".") {
		t.Fatal(err)
	}
	r := mk("RS256")
	if k, _ := r.keys.signing(ctx); k.SignatureAlgorithm() != "RS256" {
		t.Fatalf("RS256 server signs with %s", k.SignatureAlgorithm())
	}
}

func TestClientCredentialsAndTokenExchange(t *testing.T) {
	env := newTestEnv(t, func(o *Options) {
		o.Clients = []StaticClient{
			{ID: "svc", Secret: "s3cret", GrantTypes: []string{"client_credentials"}},
			{ID: "agent", Secret: "agent-secret", GrantTypes: []string{"urn:ietf:params:oauth:grant-type:token-exchange"}},
		}
	})
	ctx := context.Background()
	tr := env.token(url.Values{"grant_type": {"client_credentials"}, "scope": {"mcp:tools"}, "resource": {env.resource}}, "svc", "s3cret")
	if tr.status != 200 {
		t.Fatalf("client credentials: %+v", tr)
	}
	c, _, err := env.as.VerifyAccessToken(ctx, tr.AccessToken, env.resource)
	if err != nil || c.Subject != "svc" || c.ClientID != "svc" || c.Scope != "mcp:tools" {
		t.Fatalf("claims %+v err %v", c, err)
	}
	for _, bad := range []struct {
		name, user, pass, resource, want string
	}{
		{"wrong secret", "svc", "nope", env.resource, "invalid_client"},
		{"unknown resource", "svc", "s3cret", "https://x.example/mcp", "invalid_target"},
		{"an Entra App ID URI as resource", "svc", "s3cret", "api://mcpgate", "invalid_target"},
		{"grant not allowed", "agent", "agent-secret", env.resource, "invalid_client"},
	} {
		tr := env.token(url.Values{"grant_type": {"client_credentials"}, "resource": {bad.resource}}, bad.user, bad.pass)
		if tr.Error != bad.want || tr.ErrorDescription == "" {
			t.Errorf("%s: got %+v, want %s", bad.name, tr, bad.want)
		}
		if strings.HasPrefix(bad.resource, "api://") && (!strings.Contains(tr.ErrorDescription, "App ID URI") || !strings.Contains(tr.ErrorDescription, env.resource)) {
			t.Errorf("%s: the answer should say what to send instead: %s", bad.name, tr.ErrorDescription)
		}
	}

	// Token exchange: a user's token for /mcp becomes one for /other, acted by "agent".
	redirect := "http://127.0.0.1:5555/cb"
	user := env.codeFlow(env.register(redirect), redirect)
	other := env.srv.URL + "/other"
	ex := func(form url.Values, id, secret string) tokenResponse {
		f := url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:token-exchange"}, "subject_token": {user.AccessToken},
			"subject_token_type": {"urn:ietf:params:oauth:token-type:access_token"}, "resource": {other}}
		for k, v := range form {
			f[k] = v
		}
		return env.token(f, id, secret)
	}
	got := ex(nil, "agent", "agent-secret")
	if got.status != 200 {
		t.Fatalf("exchange: %+v", got)
	}
	xc, all, err := env.as.VerifyAccessToken(ctx, got.AccessToken, other)
	if err != nil || xc.Subject != "u-alice" || xc.Email != "alice@example.com" || fmt.Sprint(all["act"]) != "map[sub:agent]" {
		t.Fatalf("exchanged claims %+v %v err %v", xc, all["act"], err)
	}
	if _, _, err := env.as.VerifyAccessToken(ctx, got.AccessToken, env.resource); err == nil {
		t.Fatal("exchanged token accepted for the original resource")
	}
	for name, tc := range map[string]struct {
		form       url.Values
		id, secret string
		want       string
	}{
		"unknown resource":   {url.Values{"resource": {"https://x.example/"}}, "agent", "agent-secret", "invalid_target"},
		"bad subject":        {url.Values{"subject_token": {"garbage"}}, "agent", "agent-secret", "invalid_grant"},
		"scope widening":     {url.Values{"scope": {"admin"}}, "agent", "agent-secret", "invalid_scope"},
		"client lacks grant": {nil, "svc", "s3cret", "unauthorized_client"},
		"no client auth":     {nil, "", "", "invalid_client"},
	} {
		if r := ex(tc.form, tc.id, tc.secret); r.Error != tc.want || r.ErrorDescription == "" {
			t.Errorf("%s: got %+v, want %s", name, r, tc.want)
		}
	}
}

func TestRevocationIntrospectionUserinfo(t *testing.T) {
	env := newTestEnv(t, func(o *Options) {
		o.Clients = []StaticClient{{ID: "rs", Secret: "rs-secret", GrantTypes: []string{"client_credentials"}}}
	})
	ctx := context.Background()
	redirect := "http://127.0.0.1:5555/cb"
	client := env.register(redirect)
	tr := env.codeFlow(client, redirect)

	// userinfo
	req, _ := http.NewRequest(http.MethodGet, env.issuer+PathUserinfo, nil)
	req.Header.Set("Authorization", "Bearer "+tr.AccessToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var ui map[string]any
	json.NewDecoder(resp.Body).Decode(&ui)
	resp.Body.Close()
	if resp.StatusCode != 200 || ui["sub"] != "u-alice" || ui["email"] != "alice@example.com" {
		t.Fatalf("userinfo: %d %v", resp.StatusCode, ui)
	}
	introspect := func(tok string) map[string]any {
		req, _ := http.NewRequest(http.MethodPost, env.issuer+PathIntrospect, strings.NewReader(url.Values{"token": {tok}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("rs", "rs-secret")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		return out
	}
	if in := introspect(tr.AccessToken); in["active"] != true || in["sub"] != "u-alice" {
		t.Fatalf("introspection: %v", in)
	}
	revoke := func(tok string) int {
		resp, err := http.PostForm(env.issuer+PathRevoke, url.Values{"token": {tok}, "client_id": {client}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := revoke(tr.AccessToken); s != 200 {
		t.Fatalf("revoke access token: %d", s)
	}
	if in := introspect(tr.AccessToken); in["active"] == true {
		t.Fatalf("revoked token still active: %v", in)
	}
	var ae *authn.Error
	if _, _, err := env.as.VerifyAccessToken(ctx, tr.AccessToken, env.resource); !errors.As(err, &ae) || ae.Reason != "revoked" {
		t.Fatalf("verify revoked token: %v", err)
	}
	if s := revoke(tr.RefreshToken); s != 200 {
		t.Fatalf("revoke refresh token: %d", s)
	}
	if r := env.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tr.RefreshToken}, "client_id": {client}}, "", ""); r.Error != "invalid_grant" {
		t.Fatalf("revoked refresh token works: %+v", r)
	}
}

func TestVerifier(t *testing.T) {
	env := newTestEnv(t, nil)
	redirect := "http://127.0.0.1:5555/cb"
	tr := env.codeFlow(env.register(redirect), redirect)
	ctx := context.Background()
	p, err := env.as.Verifier(env.resource).Verify(ctx, tr.AccessToken)
	if err != nil || p.Subject != "u-alice" || p.Email != "alice@example.com" || !slices.Contains(p.Groups, "eng") || !slices.Contains(p.Scopes, "mcp:tools") || p.TokenHash == "" {
		t.Fatalf("principal %+v err %v", p, err)
	}
	var ae *authn.Error
	if _, err := env.as.Verifier(env.srv.URL+"/other").Verify(ctx, tr.AccessToken); !errors.As(err, &ae) || ae.Reason != "wrong_audience" {
		t.Fatalf("wrong audience: %v", err)
	}
	// The ID token is for the client only, and is never accepted as an access token.
	if _, err := env.as.Verifier(env.resource).Verify(ctx, tr.IDToken); !errors.As(err, &ae) || ae.Reason != "not_access_token" {
		t.Fatalf("ID token as access token: %v", err)
	}
	idTok, _ := jwt.ParseSigned(tr.IDToken, []jose.SignatureAlgorithm{jose.ES256})
	var idClaims struct {
		Aud jwt.Audience `json:"aud"`
	}
	idTok.UnsafeClaimsWithoutVerification(&idClaims)
	if len(idClaims.Aud) != 1 || idClaims.Aud[0] == env.resource {
		t.Fatalf("ID token aud = %v, want the client only", idClaims.Aud)
	}
	other := newTestEnv(t, nil) // another server: different keys and issuer
	if _, err := other.as.Verifier(env.resource).Verify(ctx, tr.AccessToken); !errors.As(err, &ae) {
		t.Fatalf("foreign token: %v", err)
	}
	if _, err := env.as.Verifier(env.resource).Verify(ctx, tr.AccessToken[:len(tr.AccessToken)-3]+"AAA"); !errors.As(err, &ae) {
		t.Fatalf("tampered token: %v", err)
	}
}

func TestRegistration(t *testing.T) {
	post := func(env *testEnv, body string) (int, map[string]any) {
		resp, err := http.Post(env.issuer+PathRegister, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	open := newTestEnv(t, nil)
	hosts := newTestEnv(t, func(o *Options) {
		o.Registration = RegistrationAllowedHosts
		o.RegistrationAllowedHosts = []string{"app.example.com"}
	})
	off := newTestEnv(t, func(o *Options) { o.Registration = RegistrationOff })
	limited := newTestEnv(t, func(o *Options) { o.RegistrationsPerLoopbackPerHour = 2 }) // the test calls from 127.0.0.1
	for range 2 {
		if status, out := post(limited, `{"redirect_uris":["http://127.0.0.1:3000/cb"]}`); status != 201 {
			t.Fatalf("registration under the limit: %d %v", status, out)
		}
	}
	tests := []struct {
		name      string
		env       *testEnv
		body      string
		status    int
		wantError string
	}{
		{"loopback", open, `{"redirect_uris":["http://127.0.0.1:3000/cb"]}`, 201, ""},
		{"localhost", open, `{"redirect_uris":["http://localhost:3000/cb"]}`, 201, ""},
		{"https", open, `{"redirect_uris":["https://app.example.org/cb"],"client_name":"X"}`, 201, ""},
		{"confidential", open, `{"redirect_uris":["https://a.example/cb"],"token_endpoint_auth_method":"client_secret_basic"}`, 201, ""},
		{"http non-loopback", open, `{"redirect_uris":["http://app.example.org/cb"]}`, 400, "invalid_redirect_uri"},
		{"custom scheme (native)", open, `{"redirect_uris":["myapp://cb"]}`, 201, ""},
		{"javascript scheme", open, `{"redirect_uris":["javascript://cb"]}`, 400, "invalid_redirect_uri"},
		{"fragment", open, `{"redirect_uris":["https://a.example/cb#x"]}`, 400, "invalid_redirect_uri"},
		{"no redirect", open, `{"client_name":"x"}`, 400, "invalid_redirect_uri"},
		{"bad json", open, `{`, 400, "invalid_client_metadata"},
		{"implicit", open, `{"redirect_uris":["https://a.example/cb"],"response_types":["token"]}`, 400, "invalid_client_metadata"},
		{"allowed host", hosts, `{"redirect_uris":["https://app.example.com/cb"]}`, 201, ""},
		{"allowed hosts: loopback", hosts, `{"redirect_uris":["http://127.0.0.1:9/cb"]}`, 201, ""},
		{"host not allowed", hosts, `{"redirect_uris":["https://evil.example/cb"]}`, 400, "invalid_redirect_uri"},
		{"off", off, `{"redirect_uris":["http://127.0.0.1:3000/cb"]}`, 403, "access_denied"},
		{"rate limited", limited, `{"redirect_uris":["http://127.0.0.1:3000/cb"]}`, 429, "invalid_request"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, out := post(tc.env, tc.body)
			if status != tc.status || (tc.wantError != "" && out["error"] != tc.wantError) {
				t.Fatalf("got %d %v", status, out)
			}
			if status == 201 {
				if out["client_id"] == "" || out["redirect_uris"] == nil {
					t.Fatalf("response lacks client_id/redirect_uris: %v", out)
				}
				if strings.Contains(tc.body, "client_secret_basic") != (out["client_secret"] != nil) {
					t.Fatalf("client_secret presence wrong: %v", out)
				}
			} else if out["error_description"] == "" {
				t.Fatal("no error_description")
			}
		})
	}
}

func TestClientIDMetadataDocument(t *testing.T) {
	redirect := "http://127.0.0.1:5555/cb"
	var docURL string
	docSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/client.json":
			json.NewEncoder(w).Encode(map[string]any{"client_id": docURL, "client_name": "CIMD App", "redirect_uris": []string{redirect}})
		case "/wrong-id.json":
			json.NewEncoder(w).Encode(map[string]any{"client_id": "https://other.example/client.json", "redirect_uris": []string{redirect}})
		case "/big.json":
			w.Write([]byte(`{"client_id":"` + strings.Repeat("x", 100<<10) + `"}`))
		default:
			http.NotFound(w, r)
		}
	}))
	defer docSrv.Close()
	docURL = docSrv.URL + "/client.json"

	t.Run("dev mode allows loopback", func(t *testing.T) {
		env := newTestEnv(t, func(o *Options) { o.CIMD.AllowPrivateAddresses = true })
		tr := env.codeFlow(docURL, redirect)
		c, _, err := env.as.VerifyAccessToken(context.Background(), tr.AccessToken, env.resource)
		if err != nil || c.ClientID != docURL {
			t.Fatalf("claims %+v err %v", c, err)
		}
		for _, bad := range []string{docSrv.URL + "/wrong-id.json", docSrv.URL + "/big.json", docSrv.URL + "/missing.json"} {
			resp, _ := env.browser(redirect).get(env.authorizeURL(bad, redirect, newPKCE(), nil))
			if resp.StatusCode != 400 {
				t.Errorf("%s: status %d, want 400", bad, resp.StatusCode)
			}
		}
		// Exact redirect match.
		resp, _ := env.browser(redirect).get(env.authorizeURL(docURL, "http://127.0.0.1:5555/other", newPKCE(), nil))
		if resp.StatusCode != 400 {
			t.Errorf("unregistered redirect accepted: %d", resp.StatusCode)
		}
	})
	t.Run("no registration needed", func(t *testing.T) {
		// A CIMD client signs in with dynamic registration turned off: the document is its
		// registration, so the registration policy and rate limit never apply to it.
		env := newTestEnv(t, func(o *Options) {
			o.CIMD.AllowPrivateAddresses = true
			o.Registration = RegistrationOff
			o.RegistrationsPerLoopbackPerHour = 1
		})
		for range 3 {
			env.codeFlow(docURL, redirect)
		}
	})
	t.Run("SSRF guard blocks loopback", func(t *testing.T) {
		env := newTestEnv(t, nil)
		_, err := env.as.clients.get(context.Background(), docURL)
		if err == nil {
			t.Fatal("http/loopback document fetched without the development flag")
		}
		f := newCIMDFetcher(CIMDOptions{Timeout: time.Second, MaxBytes: 1 << 10, CacheTTL: time.Minute}, nil, env.as.log)
		// https to a loopback address is refused at dial time, after resolution.
		_, err = f.fetch(context.Background(), "https://localhost:1/client.json")
		if !errors.Is(err, ErrSSRFBlocked) {
			t.Fatalf("got %v, want ErrSSRFBlocked", err)
		}
	})
}

func TestLoginPages(t *testing.T) {
	env := newTestEnv(t, func(o *Options) {
		o.LoginRateLimit = LoginRateLimit{MaxFailuresPerUser: 3, MaxFailuresPerIP: 100, Window: time.Minute}
		o.Clients = []StaticClient{{ID: "trusted-app", Name: "Trusted", RedirectURIs: []string{"http://127.0.0.1:5555/cb"}, Trusted: true}}
	})
	redirect := "http://127.0.0.1:5555/cb"
	client := env.register(redirect)

	t.Run("headers and cookies", func(t *testing.T) {
		b := env.browser(redirect)
		resp, body := b.get(env.authorizeURL(client, redirect, newPKCE(), nil))
		if resp.StatusCode != 200 || !strings.Contains(body, "Test Client") {
			t.Fatalf("login page: %d", resp.StatusCode)
		}
		if !strings.Contains(resp.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") || resp.Header.Get("X-Frame-Options") != "DENY" {
			t.Fatalf("headers: %v", resp.Header)
		}
		for _, c := range resp.Cookies() {
			if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode {
				t.Fatalf("cookie %s flags: %+v", c.Name, c)
			}
		}
	})
	t.Run("missing CSRF", func(t *testing.T) {
		b := env.browser(redirect)
		resp, _ := b.get(env.authorizeURL(client, redirect, newPKCE(), nil))
		id := resp.Request.URL.Query().Get("authRequestID")
		resp, body := b.post(env.issuer+PathLogin, url.Values{"authRequestID": {id}, "username": {"alice"}, "password": {testPassword}})
		if resp.StatusCode != 403 || !strings.Contains(body, "expired") {
			t.Fatalf("got %d", resp.StatusCode)
		}
	})
	t.Run("wrong password then lockout", func(t *testing.T) {
		env.addUser("bob", "Bob", "bob@example.com", nil)
		b := env.browser(redirect)
		resp, body := b.get(env.authorizeURL(client, redirect, newPKCE(), nil))
		id := resp.Request.URL.Query().Get("authRequestID")
		for i := 0; i < 3; i++ {
			resp, body = b.post(env.issuer+PathLogin, url.Values{"csrf": {csrfFrom(t, body)}, "authRequestID": {id}, "username": {"bob"}, "password": {"wrong"}})
			if resp.StatusCode != 401 || !strings.Contains(body, "Wrong username or password") {
				t.Fatalf("attempt %d: %d", i, resp.StatusCode)
			}
		}
		// Locked now, even with the right password.
		resp, body = b.post(env.issuer+PathLogin, url.Values{"csrf": {csrfFrom(t, body)}, "authRequestID": {id}, "username": {"bob"}, "password": {testPassword}})
		if resp.StatusCode != 429 || !strings.Contains(body, "Too many failed sign-in attempts") {
			t.Fatalf("after lockout: %d", resp.StatusCode)
		}
		// Other users are not affected.
		loc := env.browser(redirect).signIn(env.authorizeURL(client, redirect, newPKCE(), nil), "alice", testPassword, true)
		if loc.Query().Get("code") == "" {
			t.Fatal("alice blocked by bob's lockout")
		}
	})
	t.Run("unknown auth request", func(t *testing.T) {
		resp, body := env.browser("").get(env.issuer + PathLogin + "?authRequestID=nope")
		if resp.StatusCode != 400 || !strings.Contains(body, "expired or is unknown") {
			t.Fatalf("got %d", resp.StatusCode)
		}
	})
	t.Run("consent remembered, session reused", func(t *testing.T) {
		b := env.browser(redirect)
		if loc := b.signIn(env.authorizeURL(client, redirect, newPKCE(), nil), "alice", testPassword, true); loc.Query().Get("code") == "" {
			t.Fatal("first sign-in failed")
		}
		// Same browser: no login form, no consent page.
		resp, _ := b.get(env.authorizeURL(client, redirect, newPKCE(), nil))
		if resp.StatusCode/100 != 3 || !strings.Contains(resp.Header.Get("Location"), "code=") {
			t.Fatalf("second sign-in was not silent: %d", resp.StatusCode)
		}
		// A new scope asks again.
		resp, body := b.get(env.authorizeURL(client, redirect, newPKCE(), url.Values{"scope": {"openid mcp:tools email"}}))
		if resp.StatusCode != 200 || !strings.Contains(body, "email") {
			t.Fatalf("new scope did not ask for consent: %d", resp.StatusCode)
		}
	})
	t.Run("trusted client skips consent", func(t *testing.T) {
		b := env.browser(redirect)
		resp, body := b.get(env.authorizeURL("trusted-app", redirect, newPKCE(), nil))
		id := resp.Request.URL.Query().Get("authRequestID")
		resp, _ = b.post(env.issuer+PathLogin, url.Values{"csrf": {csrfFrom(t, body)}, "authRequestID": {id}, "username": {"alice"}, "password": {testPassword}})
		if resp.StatusCode/100 != 3 || !strings.Contains(resp.Header.Get("Location"), "code=") {
			t.Fatalf("trusted client saw consent: %d", resp.StatusCode)
		}
	})
}

// Failures across usernames from one address lock the address.
func TestLoginIPLockout(t *testing.T) {
	env := newTestEnv(t, func(o *Options) {
		o.LoginRateLimit = LoginRateLimit{MaxFailuresPerUser: 100, MaxFailuresPerIP: 3, Window: time.Minute}
	})
	redirect := "http://127.0.0.1:5555/cb"
	client := env.register(redirect)
	b := env.browser(redirect)
	resp, body := b.get(env.authorizeURL(client, redirect, newPKCE(), nil))
	id := resp.Request.URL.Query().Get("authRequestID")
	for i, user := range []string{"x1", "x2", "x3"} {
		resp, body = b.post(env.issuer+PathLogin, url.Values{"csrf": {csrfFrom(t, body)}, "authRequestID": {id}, "username": {user}, "password": {"nope"}})
		if resp.StatusCode != 401 {
			t.Fatalf("attempt %d: %d", i, resp.StatusCode)
		}
	}
	resp, body = b.post(env.issuer+PathLogin, url.Values{"csrf": {csrfFrom(t, body)}, "authRequestID": {id}, "username": {"alice"}, "password": {testPassword}})
	if resp.StatusCode != 429 || !strings.Contains(body, "locked") {
		t.Fatalf("IP not locked: %d", resp.StatusCode)
	}
}

func TestCanonicalResource(t *testing.T) {
	for in, want := range map[string]string{
		"HTTPS://Example.COM/mcp/":     "https://example.com/mcp",
		"https://example.com:443/mcp":  "https://example.com/mcp",
		"https://example.com/mcp#frag": "https://example.com/mcp",
		"http://127.0.0.1:8080/a/b/":   "http://127.0.0.1:8080/a/b",
		"https://example.com":          "https://example.com",
	} {
		got, err := CanonicalResource(in)
		if err != nil || got != want {
			t.Errorf("%s: got %q %v, want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "/mcp", "ftp://x/y", "https://user:pw@x/y", "not a url"} {
		if _, err := CanonicalResource(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestPasswords(t *testing.T) {
	h, err := HashPassword("pw")
	if err != nil || !strings.HasPrefix(h, "$argon2id$") {
		t.Fatal(h, err)
	}
	bh, _ := bcrypt.GenerateFromPassword([]byte("secret"), bcrypt.MinCost)
	for _, tc := range []struct {
		hash, pw string
		ok       bool
	}{
		{h, "pw", true}, {h, "PW", false},
		{string(bh), "secret", true},
		{string(bh), "other", false},
	} {
		ok, err := CheckPassword(tc.hash, tc.pw)
		if ok != tc.ok {
			t.Errorf("CheckPassword(%.12s…, %q) = %v %v", tc.hash, tc.pw, ok, err)
		}
	}
	if _, err := CheckPassword("plaintext", "x"); err == nil {
		t.Error("unknown hash format accepted")
	}
}
