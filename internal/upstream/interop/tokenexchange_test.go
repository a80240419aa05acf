package interop

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/mcpgate/mcpgate/internal/authn"
	"github.com/mcpgate/mcpgate/internal/authserver"
	"github.com/mcpgate/mcpgate/internal/store"
	"github.com/mcpgate/mcpgate/internal/upstream"
)

type asEnv struct {
	srv      *httptest.Server
	as       *authserver.Server
	resource string // the route the user's token is for
	other    string // the upstream the exchanged token is for
}

const (
	mcpClient     = "mcp-client"
	mcpRedirect   = "http://127.0.0.1:5555/cb"
	gatewayClient = "gateway"
	gatewaySecret = "gateway-secret-4b1d"
)

func newAS(t *testing.T) *asEnv {
	t.Helper()
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	e := &asEnv{srv: srv, resource: srv.URL + "/mcp", other: srv.URL + "/inventory/mcp"}
	hash, err := authserver.HashPassword("alice-password")
	if err != nil {
		t.Fatal(err)
	}
	as, err := authserver.New(context.Background(), authserver.Options{
		Issuer: srv.URL, Store: store.NewMemory(), AllowInsecureHTTP: true,
		Logger:    slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})),
		Resources: func() []string { return []string{e.resource, e.other} },
		Scopes:    []string{"mcp:tools", "inventory.read"},
		Users:     []authserver.ConfigUser{{Username: "alice", Email: "alice@example.com", Name: "Alice", PasswordHash: hash, Groups: []string{"eng"}}},
		Clients: []authserver.StaticClient{
			{ID: mcpClient, RedirectURIs: []string{mcpRedirect}},
			{ID: gatewayClient, Secret: gatewaySecret, GrantTypes: []string{"urn:ietf:params:oauth:grant-type:token-exchange"}},
		},
		TrustedClients: []string{mcpClient},
	})
	if err != nil {
		t.Fatal(err)
	}
	e.as = as
	mux.Handle("/", as.Handler())
	return e
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// userToken signs alice in through the login page (authorization code + PKCE) and
// returns her access token for the route.
func (e *asEnv) userToken(t *testing.T) string {
	t.Helper()
	vb := make([]byte, 32)
	rand.Read(vb)
	verifier := base64.RawURLEncoding.EncodeToString(vb)
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{"response_type": {"code"}, "client_id": {mcpClient}, "redirect_uri": {mcpRedirect}, "state": {"s"},
		"scope": {"openid mcp:tools inventory.read"}, "code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])},
		"code_challenge_method": {"S256"}, "resource": {e.resource}}
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(req *http.Request, _ []*http.Request) error {
		if strings.HasPrefix(req.URL.String(), mcpRedirect) {
			return http.ErrUseLastResponse
		}
		return nil
	}}
	resp, err := c.Get(e.srv.URL + authserver.PathAuthorize + "?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := csrfRE.FindStringSubmatch(string(body))
	if m == nil {
		t.Fatalf("no login form: %d %s", resp.StatusCode, body)
	}
	resp, err = c.PostForm(resp.Request.URL.String(), url.Values{"csrf": {m[1]}, "authRequestID": {resp.Request.URL.Query().Get("authRequestID")},
		"username": {"alice"}, "password": {"alice-password"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	code := loc.Query().Get("code")
	if code == "" {
		t.Fatalf("no code: %d %s", resp.StatusCode, loc)
	}
	resp, err = http.PostForm(e.srv.URL+authserver.PathToken, url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {mcpRedirect}, "client_id": {mcpClient}, "code_verifier": {verifier}, "resource": {e.resource}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tr struct {
		AccessToken string `json:"access_token"`
	}
	json.NewDecoder(resp.Body).Decode(&tr)
	if tr.AccessToken == "" {
		t.Fatalf("code exchange failed: %d", resp.StatusCode)
	}
	return tr.AccessToken
}

func TestTokenExchangeAgainstAuthServer(t *testing.T) {
	e := newAS(t)
	tok := e.userToken(t)
	ctx := context.Background()
	pr, err := e.as.Verifier(e.resource).Verify(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	req := upstream.Request{Principal: pr, Token: tok, Route: "inventory"}

	var requests int
	var mu sync.Mutex
	counting := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		mu.Lock()
		requests++
		mu.Unlock()
		return http.DefaultTransport.RoundTrip(r)
	})}
	p, err := upstream.NewTokenExchange(upstream.TokenExchangeConfig{
		TokenURL: e.srv.URL + authserver.PathToken, Auth: upstream.ClientSecretBasic{ID: gatewayClient, Secret: gatewaySecret},
		Resource: []string{e.other}, Scopes: []string{"inventory.read"}, RequestedTokenType: upstream.TokenTypeAccessToken,
		Cache: upstream.CacheOptions{Cache: upstream.NewMemoryCache(10)}, HTTP: counting,
	})
	if err != nil {
		t.Fatal(err)
	}
	c, err := p.Credential(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	exchanged := strings.TrimPrefix(c.Header.Get("Authorization"), "Bearer ")
	// The upstream accepts it for itself, sees alice, and sees mcpgate acting.
	claims, all, err := e.as.VerifyAccessToken(ctx, exchanged, e.other)
	if err != nil {
		t.Fatalf("upstream refuses the exchanged token: %v", err)
	}
	if claims.Subject != pr.Subject || claims.Scope != "inventory.read" || fmt.Sprint(all["act"]) != "map[sub:gateway]" {
		t.Fatalf("exchanged claims: %+v act=%v", claims, all["act"])
	}
	if _, _, err := e.as.VerifyAccessToken(ctx, exchanged, e.resource); err == nil {
		t.Fatal("exchanged token is accepted by the original route too")
	}
	// Cached for the same caller token.
	if c2, _ := p.Credential(ctx, req); !c2.Cached || requests != 1 {
		t.Fatalf("second call not cached (requests=%d)", requests)
	}

	for name, tc := range map[string]struct {
		cfg    upstream.TokenExchangeConfig
		token  string
		reason string
	}{
		"unknown upstream":    {upstream.TokenExchangeConfig{Resource: []string{"https://elsewhere.example/mcp"}}, tok, upstream.ReasonInvalidTarget},
		"scope widening":      {upstream.TokenExchangeConfig{Resource: []string{e.other}, Scopes: []string{"admin"}}, tok, upstream.ReasonInvalidScope},
		"bad subject token":   {upstream.TokenExchangeConfig{Resource: []string{e.other}}, "not-a-token", upstream.ReasonExchangeRefused},
		"wrong client secret": {upstream.TokenExchangeConfig{Resource: []string{e.other}, Auth: upstream.ClientSecretBasic{ID: gatewayClient, Secret: "nope-nope"}}, tok, upstream.ReasonInvalidClient},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.TokenURL = e.srv.URL + authserver.PathToken
			if cfg.Auth == nil {
				cfg.Auth = upstream.ClientSecretBasic{ID: gatewayClient, Secret: gatewaySecret}
			}
			p, _ := upstream.NewTokenExchange(cfg)
			_, err := p.Credential(ctx, upstream.Request{Principal: &authn.Principal{Subject: "x", TokenHash: authn.HashToken(tc.token)}, Token: tc.token})
			var f *upstream.Failure
			if !errors.As(err, &f) || f.Reason != tc.reason || !f.Permanent {
				t.Fatalf("err = %v, want %s", err, tc.reason)
			}
			if strings.Contains(err.Error(), tc.token) {
				t.Fatal("error leaks the subject token")
			}
		})
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
