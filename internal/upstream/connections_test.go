package upstream

import (
	"context"
	"crypto/rand"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/internal/secrets"

	"github.com/mcpgate/mcpgate/internal/store"
)

// connEnv is mcpgate's connection pages + a real third-party AS + its API.
type connEnv struct {
	tp    *thirdParty
	api   *api
	store *store.Memory
	keys  *secrets.Keyring
	clock *clock
	base  string // mcpgate base URL of the connection pages
	cs    *Connections
}

func newKeyring(t *testing.T, id string) *secrets.Keyring {
	t.Helper()
	k := make([]byte, secrets.KeySize)
	rand.Read(k)
	kr, err := secrets.NewKeyring("", secrets.Key{ID: id, Material: k})
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

func currentUserFromCookie(r *http.Request) (string, bool) {
	c, err := r.Cookie("test_user")
	if err != nil {
		return "", false
	}
	return c.Value, true
}

func setupConnections(t *testing.T) *connEnv {
	t.Helper()
	var h http.Handler = http.NotFoundHandler()
	var mu sync.RWMutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.RLock()
		hh := h
		mu.RUnlock()
		hh.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	e := &connEnv{store: store.NewMemory(), keys: newKeyring(t, "k1"), clock: newClock(), base: srv.URL + "/connections"}
	e.tp = startThirdParty(t, e.base+"/thirdparty/callback")
	e.api = startAPI(t, e.tp.Issuer, e.tp.Issuer+"/jwks", tpResource)
	e.cs = e.newReplica(t)
	mu.Lock()
	h = e.cs.Handler()
	mu.Unlock()
	return e
}

// newReplica returns another Connections sharing the store (a second mcpgate replica).
func (e *connEnv) newReplica(t *testing.T) *Connections {
	cs, err := NewConnections(ConnectionsConfig{
		Apps: []OAuthApp{{
			Name: "thirdparty", DisplayName: "Third Party", AuthorizeURL: e.tp.Issuer + "/auth", TokenURL: e.tp.Issuer + "/token",
			RevocationURL: e.tp.Issuer + "/token/revocation", ClientID: tpClientID, ClientSecret: tpClientSecret,
			Scopes: []string{"openid", "offline_access", "api:read"}, Resource: tpResource, AuthParams: map[string]string{"prompt": "consent"},
		}},
		Store: e.store, Keys: e.keys, BaseURL: e.base, CurrentUser: currentUserFromCookie,
		Logger: testLogger(t), Now: e.clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// link drives the connect flow in a browser as user, starting from the URL a
// NeedsUserAction carried.
func (e *connEnv) link(t *testing.T, user, connectURL string) {
	t.Helper()
	b := browser(t)
	u, _ := url.Parse(e.base)
	b.Jar.SetCookies(u, []*http.Cookie{{Name: "test_user", Value: user, Path: "/"}})
	resp, page := get(t, b, connectURL)
	if resp.StatusCode != 200 || !strings.Contains(page, "act <strong>as you</strong>") || !strings.Contains(page, "api:read") {
		t.Fatalf("connect page: %d\n%s", resp.StatusCode, page)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Fatalf("CSP = %q", csp)
	}
	resp, err := b.PostForm(connectURL, url.Values{"csrf": {csrfFrom(t, page)}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body := make([]byte, 8192)
	n, _ := resp.Body.Read(body)
	if resp.StatusCode != 200 || !strings.Contains(string(body[:n]), "Third Party is connected") {
		t.Fatalf("after the third-party sign-in: %d %s\n%s", resp.StatusCode, resp.Request.URL, body[:n])
	}
}

func wantNeedsAction(t *testing.T, err error, reason string, e *connEnv) {
	t.Helper()
	var nua *NeedsUserAction
	if !errors.As(err, &nua) || nua.Reason != reason || nua.URL != e.base+"/thirdparty/connect" {
		t.Fatalf("err = %v, want NeedsUserAction %s with the connect URL", err, reason)
	}
}

// TestConnectionLifecycle: link → call → expire → refresh (resource sent, token rotated)
// → revoke → invalid_grant → broken (no retry storm) → relink → disconnect, against a real
// third-party authorization server (oidc-provider) and an API verifying its tokens.
func TestConnectionLifecycle(t *testing.T) {
	e := setupConnections(t)
	ctx := context.Background()
	p, err := e.cs.Provider("thirdparty")
	if err != nil {
		t.Fatal(err)
	}
	req := Request{Principal: principal("alice", "caller-token"), Token: "caller-token", Route: "tp"}

	// 1. No connection yet: the user must act.
	_, err = p.Credential(ctx, req)
	wantNeedsAction(t, err, "connection_missing", e)

	// 2. Link through the real AS; then the call works and the API sees the third-party user.
	e.link(t, "alice", e.cs.ConnectURL("thirdparty"))
	c1, err := p.Credential(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if st, claims := e.api.call(t, c1); st != 200 || claims["sub"] != "alice" {
		t.Fatalf("api call with linked token: %d %v", st, claims)
	}
	rec, _ := e.store.GetConnection(ctx, "alice", "thirdparty")
	toks1, _ := e.cs.open(rec)
	if toks1.RefreshToken == "" {
		t.Fatal("no refresh token stored")
	}
	// The sealed row holds no plaintext token, and does not open without the key.
	if strings.Contains(rec.Sealed, toks1.AccessToken) || strings.Contains(rec.Sealed, toks1.RefreshToken) {
		t.Fatal("sealed connection contains a plaintext token")
	}
	other := &Connections{c: ConnectionsConfig{Keys: newKeyring(t, "k1")}}
	if _, err := other.open(rec); !errors.Is(err, secrets.ErrOpen) {
		t.Fatalf("opening with another key: %v, want secrets.ErrOpen", err)
	}
	// A second call is served from the store without touching the AS.
	before := e.tp.stats(t)
	if c, err := p.Credential(ctx, req); err != nil || c.Header.Get("Authorization") != c1.Header.Get("Authorization") {
		t.Fatalf("second call: %v", err)
	}
	if got := e.tp.stats(t).Token["refresh_token"]; got != before.Token["refresh_token"] {
		t.Fatal("a fresh token was refreshed")
	}

	// 3. Expire: the next call refreshes once, with resource (the token is again a JWT
	// for the API), and the rotated refresh token replaces the old one.
	e.clock.Advance(10 * time.Minute)
	c2, err := p.Credential(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if c2.Header.Get("Authorization") == c1.Header.Get("Authorization") {
		t.Fatal("token not refreshed after expiry")
	}
	if got := e.tp.stats(t).Token["refresh_token"]; got != 1 {
		t.Fatalf("refresh_token grants at the AS = %d, want 1", got)
	}
	if st, claims := e.api.call(t, c2); st != 200 || claims["aud"] != tpResource {
		t.Fatalf("api call with refreshed token: %d %v (resource not sent on refresh?)", st, claims)
	}
	rec, _ = e.store.GetConnection(ctx, "alice", "thirdparty")
	toks2, _ := e.cs.open(rec)
	if toks2.RefreshToken == toks1.RefreshToken || toks2.RefreshToken == "" {
		t.Fatal("rotated refresh token was not stored")
	}

	// 4. The user revokes access at the third party (RFC 7009).
	form := url.Values{"token": {toks2.RefreshToken}, "client_id": {tpClientID}, "client_secret": {tpClientSecret}}
	resp, err := http.PostForm(e.tp.Issuer+"/token/revocation", form)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("revocation: %v %v", resp.StatusCode, err)
	}
	e.clock.Advance(10 * time.Minute)
	_, err = p.Credential(ctx, req)
	wantNeedsAction(t, err, "connection_broken", e)
	rec, _ = e.store.GetConnection(ctx, "alice", "thirdparty")
	if rec.Status != StatusBroken || rec.Reason != "invalid_grant" {
		t.Fatalf("connection = %s/%s, want broken/invalid_grant", rec.Status, rec.Reason)
	}
	// Broken stays broken without hammering the AS.
	errsBefore := e.tp.stats(t).TokenErrors["refresh_token:invalid_grant"]
	for range 3 {
		_, err = p.Credential(ctx, req)
		wantNeedsAction(t, err, "connection_broken", e)
	}
	if got := e.tp.stats(t).TokenErrors["refresh_token:invalid_grant"]; got != errsBefore || got != 1 {
		t.Fatalf("invalid_grant refreshes at the AS = %d (before %d), want exactly 1", got, errsBefore)
	}
	// The list page says so.
	b := browser(t)
	u, _ := url.Parse(e.base)
	b.Jar.SetCookies(u, []*http.Cookie{{Name: "test_user", Value: "alice", Path: "/"}})
	if _, page := get(t, b, e.base+"/"); !strings.Contains(page, "Needs reconnecting") || !strings.Contains(page, "Reconnect") {
		t.Fatalf("list page does not show the broken connection:\n%s", page)
	}

	// 5. Relink: the retried call works without further prompts.
	e.link(t, "alice", e.cs.ConnectURL("thirdparty"))
	c3, err := p.Credential(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := e.api.call(t, c3); st != 200 {
		t.Fatal("call after relink failed")
	}

	// 6. Another mcpgate user has no connection: theirs is separate.
	_, err = p.Credential(ctx, Request{Principal: principal("bob", "bob-token"), Token: "bob-token"})
	wantNeedsAction(t, err, "connection_missing", e)

	// 7. Disconnect from the list page.
	_, page := get(t, b, e.base+"/")
	if !strings.Contains(page, "Disconnect") {
		t.Fatalf("list page has no disconnect button:\n%s", page)
	}
	resp, err = b.PostForm(e.base+"/thirdparty/disconnect", url.Values{"csrf": {csrfFrom(t, page)}})
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("disconnect: %v %v", resp.StatusCode, err)
	}
	resp.Body.Close()
	_, err = p.Credential(ctx, req)
	wantNeedsAction(t, err, "connection_missing", e)
}

// TestConnectionConcurrentRefreshOnce: many callers on two replicas sharing one store see
// an expired token at once; the third party receives exactly one refresh request.
func TestConnectionConcurrentRefreshOnce(t *testing.T) {
	e := setupConnections(t)
	ctx := context.Background()
	e.link(t, "alice", e.cs.ConnectURL("thirdparty"))
	replicas := []*Connections{e.cs, e.newReplica(t), e.newReplica(t)}
	var providers []Provider
	for _, r := range replicas {
		p, _ := r.Provider("thirdparty")
		providers = append(providers, p)
	}
	req := Request{Principal: principal("alice", "t"), Token: "t"}
	first, err := providers[0].Credential(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	before := e.tp.stats(t).Token["refresh_token"]
	e.clock.Advance(10 * time.Minute)

	const n = 30
	var wg sync.WaitGroup
	got := make([]string, n)
	errs := make([]error, n)
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			c, err := providers[i%len(providers)].Credential(ctx, req)
			got[i], errs[i] = c.Header.Get("Authorization"), err
		}()
	}
	close(start)
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("caller %d: %v", i, errs[i])
		}
		if got[i] != got[0] || got[i] == first.Header.Get("Authorization") {
			t.Fatalf("caller %d got a different or stale token", i)
		}
	}
	if refreshes := e.tp.stats(t).Token["refresh_token"] - before; refreshes != 1 {
		t.Fatalf("the third party saw %d refresh requests, want exactly 1", refreshes)
	}
	if st := e.tp.stats(t).TokenErrors; len(st) != 0 {
		t.Fatalf("token errors at the AS: %v", st)
	}
}

// TestConnectionPagesRefuse covers the refusals of the pages.
func TestConnectionPagesRefuse(t *testing.T) {
	e := setupConnections(t)
	u, _ := url.Parse(e.base)
	alice := browser(t)
	alice.Jar.SetCookies(u, []*http.Cookie{{Name: "test_user", Value: "alice", Path: "/"}})
	_, page := get(t, alice, e.cs.ConnectURL("thirdparty"))
	aliceCSRF := csrfFrom(t, page)
	bob := browser(t)
	bob.Jar.SetCookies(u, []*http.Cookie{{Name: "test_user", Value: "bob", Path: "/"}})
	noRedirect := func(c *http.Client) *http.Client {
		cc := *c
		cc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		return &cc
	}
	tests := []struct {
		name   string
		do     func() (*http.Response, error)
		status int
		says   string
	}{
		{"anonymous list", func() (*http.Response, error) { return http.Get(e.base + "/") }, 401, "not signed in"},
		{"unknown provider", func() (*http.Response, error) { return alice.Get(e.base + "/nope/connect") }, 404, "No service named"},
		{"connect without csrf", func() (*http.Response, error) {
			return alice.PostForm(e.cs.ConnectURL("thirdparty"), url.Values{})
		}, 403, "form token is missing"},
		{"csrf of another user", func() (*http.Response, error) {
			return bob.PostForm(e.cs.ConnectURL("thirdparty"), url.Values{"csrf": {aliceCSRF}})
		}, 403, "belongs to another user"},
		{"cross-origin post", func() (*http.Response, error) {
			req, _ := http.NewRequest(http.MethodPost, e.cs.ConnectURL("thirdparty"), strings.NewReader(url.Values{"csrf": {aliceCSRF}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Origin", "https://evil.example")
			return alice.Do(req)
		}, 403, "evil.example"},
		{"callback without state cookie", func() (*http.Response, error) {
			return bob.Get(e.base + "/thirdparty/callback?code=x&state=y")
		}, 400, "not started here"},
		{"callback with wrong state", func() (*http.Response, error) {
			resp, err := noRedirect(alice).PostForm(e.cs.ConnectURL("thirdparty"), url.Values{"csrf": {aliceCSRF}})
			if err != nil {
				return nil, err
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("connect start = %d", resp.StatusCode)
			}
			loc, _ := url.Parse(resp.Header.Get("Location"))
			q := loc.Query()
			if q.Get("code_challenge_method") != "S256" || q.Get("resource") != tpResource || q.Get("state") == "" {
				t.Fatalf("authorize request lacks PKCE/resource/state: %s", loc)
			}
			return alice.Get(e.base + "/thirdparty/callback?code=x&state=forged")
		}, 400, "state mismatch"},
		{"provider error", func() (*http.Response, error) {
			resp, _ := noRedirect(alice).PostForm(e.cs.ConnectURL("thirdparty"), url.Values{"csrf": {aliceCSRF}})
			loc, _ := url.Parse(resp.Header.Get("Location"))
			return alice.Get(e.base + "/thirdparty/callback?error=access_denied&error_description=user+said+no&state=" + loc.Query().Get("state"))
		}, 400, "did not grant access"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := tt.do()
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b := make([]byte, 8192)
			n, _ := resp.Body.Read(b)
			if resp.StatusCode != tt.status || !strings.Contains(string(b[:n]), tt.says) {
				t.Fatalf("%d, want %d containing %q:\n%s", resp.StatusCode, tt.status, tt.says, b[:n])
			}
			if resp.Header.Get("X-Frame-Options") != "DENY" {
				t.Fatal("missing X-Frame-Options")
			}
		})
	}
}
