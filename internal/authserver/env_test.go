package authserver

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"golang.org/x/crypto/bcrypt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"

	"github.com/mcpgate/mcpgate/internal/store"
)

// testEnv is an authorization server plus a protected MCP endpoint (official go-sdk
// server behind auth.RequireBearerToken, verifying tokens with the server's keys) on one
// httptest listener.
type testEnv struct {
	t        *testing.T
	srv      *httptest.Server
	as       *Server
	store    store.Store
	issuer   string
	resource string // the MCP endpoint URL
}

const testPassword = "correct horse battery staple"

func newTestEnv(t *testing.T, mutate func(*Options)) *testEnv {
	t.Helper()
	mux := http.NewServeMux()
	srv := httptest.NewUnstartedServer(mux)
	srv.Start()
	t.Cleanup(srv.Close)
	env := &testEnv{t: t, srv: srv, store: store.NewMemory(), issuer: srv.URL, resource: srv.URL + "/mcp"}
	opts := Options{
		Issuer:            env.issuer,
		Store:             env.store,
		Logger:            slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})),
		Resources:         func() []string { return []string{env.resource, srv.URL + "/other"} },
		Scopes:            []string{"mcp:tools"},
		AllowInsecureHTTP: true,
	}
	if mutate != nil {
		mutate(&opts)
	}
	env.store = opts.Store
	as, err := New(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	env.as = as
	env.addUser("alice", "Alice Liddell", "alice@example.com", []string{"eng", "admins"})

	// The protected MCP server.
	ms := mcp.NewServer(&mcp.Implementation{Name: "test", Version: "1"}, nil)
	mcp.AddTool(ms, &mcp.Tool{Name: "whoami", Description: "who is calling"}, func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
		ti := req.Extra.TokenInfo
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: fmt.Sprintf("hello %s (%v)", ti.UserID, ti.Extra["email"])}}}, nil, nil
	})
	verifier := func(ctx context.Context, token string, _ *http.Request) (*auth.TokenInfo, error) {
		c, all, err := as.VerifyAccessToken(ctx, token, env.resource)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", auth.ErrInvalidToken, err)
		}
		return &auth.TokenInfo{Scopes: strings.Fields(c.Scope), Expiration: c.Expiry.Time(), UserID: c.Subject, Extra: all}, nil
	}
	prmURL := srv.URL + "/.well-known/oauth-protected-resource/mcp"
	mcpHandler := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return ms }, nil)
	mux.Handle("/mcp", auth.RequireBearerToken(verifier, &auth.RequireBearerTokenOptions{ResourceMetadataURL: prmURL})(mcpHandler))
	mux.Handle("/.well-known/oauth-protected-resource/mcp", auth.ProtectedResourceMetadataHandler(&oauthex.ProtectedResourceMetadata{
		Resource: env.resource, AuthorizationServers: []string{env.issuer}, ScopesSupported: []string{"mcp:tools"},
	}))
	mux.Handle("/", as.Handler())
	return env
}

func (e *testEnv) addUser(username, name, email string, groups []string) store.User {
	e.t.Helper()
	hb, err := bcrypt.GenerateFromPassword([]byte(testPassword), bcrypt.MinCost)
	h := string(hb)
	if err != nil {
		e.t.Fatal(err)
	}
	u := store.User{ID: "u-" + username, Username: username, Name: name, Email: email, Groups: groups, PasswordHash: h}
	if err := e.store.CreateUser(context.Background(), u); err != nil {
		e.t.Fatal(err)
	}
	return u
}

// browser is a cookie-keeping HTTP client that stops at the client's redirect URI.
type browser struct {
	t        *testing.T
	c        *http.Client
	redirect string
}

func (e *testEnv) browser(redirectPrefix string) *browser {
	jar, _ := cookiejar.New(nil)
	b := &browser{t: e.t, redirect: redirectPrefix}
	b.c = &http.Client{Jar: jar, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if redirectPrefix != "" && strings.HasPrefix(req.URL.String(), redirectPrefix) {
			return http.ErrUseLastResponse
		}
		return nil
	}}
	return b
}

func (b *browser) do(req *http.Request) (*http.Response, string) {
	b.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func (b *browser) get(u string) (*http.Response, string) {
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	return b.do(req)
}

func (b *browser) post(u string, form url.Values) (*http.Response, string) {
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfFrom(t *testing.T, body string) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no csrf token in page:\n%s", body)
	}
	return m[1]
}

// signIn drives an authorization URL through login and consent (approve or deny) and
// returns the redirect to the client.
func (b *browser) signIn(authURL, username, password string, approve bool) *url.URL {
	b.t.Helper()
	resp, body := b.get(authURL)
	if resp.StatusCode == http.StatusOK && strings.Contains(body, `name="password"`) {
		id := resp.Request.URL.Query().Get("authRequestID")
		resp, body = b.post(resp.Request.URL.String(), url.Values{"csrf": {csrfFrom(b.t, body)}, "authRequestID": {id}, "username": {username}, "password": {password}})
	}
	if resp.StatusCode == http.StatusOK && strings.Contains(body, `value="approve"`) {
		action := "deny"
		if approve {
			action = "approve"
		}
		id := resp.Request.URL.Query().Get("authRequestID")
		resp, body = b.post(b.base(resp)+PathConsent, url.Values{"csrf": {csrfFrom(b.t, body)}, "authRequestID": {id}, "action": {action}})
	}
	if resp.StatusCode/100 != 3 {
		b.t.Fatalf("sign-in did not end in a redirect to the client: %d %s\n%s", resp.StatusCode, resp.Request.URL, body)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		b.t.Fatal(err)
	}
	return loc
}

func (b *browser) base(resp *http.Response) string {
	return resp.Request.URL.Scheme + "://" + resp.Request.URL.Host
}

type pkce struct{ verifier, challenge string }

func newPKCE() pkce {
	v := randomToken(32)
	sum := sha256.Sum256([]byte(v))
	return pkce{verifier: v, challenge: base64.RawURLEncoding.EncodeToString(sum[:])}
}

// register registers a public client by DCR.
func (e *testEnv) register(redirects ...string) string {
	e.t.Helper()
	body, _ := json.Marshal(map[string]any{"redirect_uris": redirects, "client_name": "Test Client", "grant_types": []string{"authorization_code", "refresh_token"}})
	resp, err := http.Post(e.issuer+PathRegister, "application/json", strings.NewReader(string(body)))
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode != http.StatusCreated {
		e.t.Fatalf("registration: %d %v", resp.StatusCode, out)
	}
	return out["client_id"].(string)
}

func (e *testEnv) authorizeURL(clientID, redirect string, p pkce, extra url.Values) string {
	q := url.Values{"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {redirect}, "state": {"st-123"},
		"scope": {"openid mcp:tools"}, "code_challenge": {p.challenge}, "code_challenge_method": {"S256"}, "resource": {e.resource}}
	for k, v := range extra {
		if v == nil {
			q.Del(k)
		} else {
			q[k] = v
		}
	}
	return e.issuer + PathAuthorize + "?" + q.Encode()
}

type tokenResponse struct {
	AccessToken      string `json:"access_token"`
	RefreshToken     string `json:"refresh_token"`
	IDToken          string `json:"id_token"`
	ExpiresIn        int    `json:"expires_in"`
	Scope            string `json:"scope"`
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
	status           int
}

func (e *testEnv) token(form url.Values, basicUser, basicPass string) tokenResponse {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.issuer+PathToken, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basicUser != "" {
		req.SetBasicAuth(url.QueryEscape(basicUser), url.QueryEscape(basicPass))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var tr tokenResponse
	if err := json.NewDecoder(resp.Body).Decode(&tr); err != nil && !errors.Is(err, io.EOF) {
		e.t.Fatalf("token response: %v", err)
	}
	tr.status = resp.StatusCode
	return tr
}

// codeFlow registers nothing: it signs in with clientID and returns the token response.
func (e *testEnv) codeFlow(clientID, redirect string) tokenResponse {
	e.t.Helper()
	p := newPKCE()
	loc := e.browser(redirect).signIn(e.authorizeURL(clientID, redirect, p, nil), "alice", testPassword, true)
	code := loc.Query().Get("code")
	if code == "" {
		e.t.Fatalf("no code in %s", loc)
	}
	tr := e.token(url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect}, "client_id": {clientID},
		"code_verifier": {p.verifier}, "resource": {e.resource}}, "", "")
	if tr.status != 200 {
		e.t.Fatalf("code exchange: %d %s: %s", tr.status, tr.Error, tr.ErrorDescription)
	}
	return tr
}

func newTLSServer(t *testing.T, h http.Handler) *httptest.Server {
	srv := httptest.NewTLSServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// metadata fetches the authorization server's RFC 8414 metadata.
func (e *testEnv) metadata(t *testing.T) map[string]any {
	t.Helper()
	resp, err := http.Get(e.issuer + PathOAuthMetadata)
	if err != nil {
		t.Fatal(err)
	}
	var meta map[string]any
	decodeJSON(t, resp, &meta)
	return meta
}

func decodeJSON(t *testing.T, resp *http.Response, v any) {
	t.Helper()
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}
