package federation_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"

	"github.com/mcpgate/mcpgate/internal/app"
	"github.com/mcpgate/mcpgate/internal/audit"
	"github.com/mcpgate/mcpgate/internal/authn"
	"github.com/mcpgate/mcpgate/internal/authserver"
	"github.com/mcpgate/mcpgate/internal/authserver/entraemulator"
	"github.com/mcpgate/mcpgate/internal/authserver/federation"
	"github.com/mcpgate/mcpgate/internal/config"
	"github.com/mcpgate/mcpgate/internal/gateway"
	"github.com/mcpgate/mcpgate/internal/secrets"
	"github.com/mcpgate/mcpgate/internal/store"
	"github.com/mcpgate/mcpgate/internal/testutil"
	"github.com/mcpgate/mcpgate/internal/upstream"
)

// Directory ids of testdata/entra-directory.yaml.
const (
	contoso    = "7a1e5f00-0000-4000-8000-00000000c0de"
	fabrikam   = "f4b41c00-0000-4000-8000-00000000fab1"
	aliceOID   = "4b1d9c1e-0000-4000-8000-00000000a11c"
	bobOID     = "b0b00000-0000-4000-8000-00000000b0b0"
	mcpgateApp = "3f6c0a5e-0000-4000-8000-0000000000a1"
	weatherApp = "9e7a0d11-0000-4000-8000-0000000000b2"
	vscodeApp  = "aebc6443-0000-4000-8000-0000000000c3"
	secretVal  = "mcpgate-entra-secret-value"
)

// lazyServer is an httptest server whose handler is set after its URL is known.
type lazyServer struct {
	*httptest.Server
	h atomic.Value
}

func newLazyServer(t *testing.T) *lazyServer {
	l := &lazyServer{}
	l.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, _ := l.h.Load().(http.Handler)
		if h == nil {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(l.Close)
	return l
}

func (l *lazyServer) set(h http.Handler) { l.h.Store(h) }

// env is mcpgate (authorization server + gateway, built from a config file the way
// internal/app does) in front of an upstream MCP server, with an identity provider.
type env struct {
	t        *testing.T
	url      string // mcpgate
	resource string
	as       *authserver.Server
	fed      *federation.Set
	tokens   *store.Memory
	logs     *syncBuffer
	idp      string // the identity provider's base URL
	clock    *clock
	cfg      *config.Config
	keys     *secrets.Keyring
	st       store.Store // the authorization server's store
	audits   *auditLog   // the events the connectors recorded
}

// auditLog collects the audit events of the connectors.
type auditLog struct {
	mu     sync.Mutex
	events []audit.Event
}

func (a *auditLog) record(e audit.Event) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.events = append(a.events, e)
}

func (a *auditLog) all() []audit.Event {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.events)
}

type clock struct{ off atomic.Int64 }

func (c *clock) now() time.Time          { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *clock) advance(d time.Duration) { c.off.Add(int64(d)) }

// emulator starts the Entra emulator with testdata/entra-directory.yaml, changed by mutate.
func emulator(t *testing.T, mcpgateURL string, logs io.Writer, mutate func(*config.Entra), now ...func() time.Time) (*entraemulator.Emulator, string) {
	t.Helper()
	srv := newLazyServer(t)
	data, err := os.ReadFile("testdata/entra-directory.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir, _, err := config.ParseEntra("entra-directory.yaml", data, lookup(map[string]string{"MCPGATE_URL": mcpgateURL, "MCPGATE_ENTRA_SECRET": secretVal}))
	if err != nil {
		t.Fatalf("entra directory: %v", err)
	}
	if mutate != nil {
		mutate(dir)
	}
	o := entraemulator.Options{Config: dir, BaseURL: srv.URL, Logger: slog.New(slog.NewTextHandler(logs, nil)).With("component", "entra-emulator")}
	if len(now) > 0 {
		o.Now = now[0]
	}
	em, err := entraemulator.New(o)
	if err != nil {
		t.Fatalf("emulator: %v", err)
	}
	srv.set(em.Handler())
	return em, srv.URL
}

func lookup(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
}

// weatherServer is the route's upstream MCP server: it verifies the bearer token it gets
// as the Weather API would (Entra preset, its own audience) and reports what it saw.
func weatherServer(t *testing.T, verify authn.Verifier) string {
	up := mcp.NewServer(&mcp.Implementation{Name: "weather", Version: "1"}, nil)
	mcp.AddTool(up, &mcp.Tool{Name: "whoami"}, func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
		tok := strings.TrimPrefix(req.Extra.Header.Get("Authorization"), "Bearer ")
		p, err := verify.Verify(ctx, tok)
		if err != nil {
			return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: "token refused: " + err.Error()}}}, nil, nil
		}
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: fmt.Sprintf("aud=%s sub=%s tid=%s oid=%v scp=%s email=%s",
			strings.Join(p.Audience, ","), p.Subject, p.TenantID, p.Claims["oid"], strings.Join(p.Scopes, " "), p.Email)}}}, nil, nil
	})
	srv := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return up }, nil))
	t.Cleanup(srv.Close)
	return srv.URL
}

func testKeys(t *testing.T) *secrets.Keyring {
	k := make([]byte, 32)
	rand.Read(k)
	kr, err := secrets.NewKeyring("k1", secrets.Key{ID: "k1", Material: k})
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

// newMCPGate builds mcpgate from a config file as internal/app wires it: authorization
// server with the federation connectors, upstream credentials with the connectors'
// SubjectToken, and the gateway (route verifier: mcpgate's own tokens, or the route's
// issuers in direct mode).
// syncBuffer collects log output (tests assert logged codes).
type syncBuffer = testutil.SyncBuffer

func newMCPGate(t *testing.T, front *lazyServer, cfgFile string, vars map[string]string, logs *syncBuffer, mutate func(*config.Config)) *env {
	t.Helper()
	ctx := context.Background()
	data, err := os.ReadFile(cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	vars["MCPGATE_URL"] = front.URL
	cfg, _, err := config.Parse(cfgFile, data, lookup(vars))
	if err != nil {
		t.Fatalf("config %s: %v", cfgFile, err)
	}
	if mutate != nil {
		mutate(cfg)
		if _, err := cfg.Validate(); err != nil {
			t.Fatalf("config after change: %v", err)
		}
	}
	logger := slog.New(slog.NewTextHandler(io.MultiWriter(logs, t.Output()), nil))
	e := &env{t: t, url: front.URL, logs: logs, tokens: store.NewMemory(), clock: &clock{}, cfg: cfg, keys: testKeys(t), audits: &auditLog{}}
	fed, err := app.Federation(cfg, federation.Deps{Store: e.tokens, Keys: e.keys, Logger: logger, Now: e.clock.now, Audit: e.audits.record})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fed.Close() })
	e.fed = fed
	r := cfg.Routes[0]
	e.resource = front.URL + r.Path
	var fallback http.Handler
	if cfg.AuthServer != nil {
		fallback = e.authServer(cfg, logger)
	}
	set, err := upstream.Build(app.UpstreamOptions(cfg), upstream.BuildOptions{SubjectToken: fed.SubjectToken, Logger: logger})
	if err != nil {
		t.Fatalf("upstream.Build: %v", err)
	}
	ro := gateway.RouteOptions{Name: r.Name, Path: r.Path, Upstream: r.Upstream.URL, Scopes: r.Auth.Scopes}
	if creds, ok := set.Gateway(r.Name); ok { // as internal/app: a route without upstreamAuth has none
		ro.Credentials = creds
	}
	if e.as != nil {
		ro.Verifier, ro.AuthorizationServers = e.as.Verifier(e.resource), []string{e.as.Issuer()}
	}
	if len(r.Auth.Issuers) > 0 { // direct mode: the IdP's own tokens
		reg, err := authn.NewRegistry(ctx, app.Issuers(cfg.Issuers), authn.Options{Logger: logger})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { reg.Close() })
		v, err := reg.Verifier(r.Auth.Issuers, r.Auth.Audiences)
		if err != nil {
			t.Fatal(err)
		}
		ro.Verifier, ro.AuthorizationServers = v, nil
		for _, is := range app.Issuers(cfg.Issuers) {
			ro.AuthorizationServers = append(ro.AuthorizationServers, authn.AuthorizationServer(is))
		}
	}
	if ro.Interceptor, _, err = app.RouteHooks(cfg, 0, app.HookDeps{Logger: logger}); err != nil { // the route's policy
		t.Fatalf("route hooks: %v", err)
	}
	gw, err := gateway.New(gateway.Options{Logger: logger, Fallback: fallback, Routes: []gateway.RouteOptions{ro}})
	if err != nil {
		t.Fatalf("gateway: %v", err)
	}
	front.set(gw.Handler())
	return e
}

// authServer builds mcpgate's authorization server with the federation connectors.
func (e *env) authServer(cfg *config.Config, logger *slog.Logger) http.Handler {
	t := e.t
	st := store.NewMemory()
	e.st = st
	opts := authserver.OptionsFromConfig(cfg)
	opts.Store, opts.Logger = st, logger
	opts.Resources = func() []string { return []string{e.resource} }
	opts.Connectors = e.fed.AuthConnectors()
	if app.LocalLogin(cfg) {
		opts.Connectors = append(opts.Connectors, authserver.NewLocalConnector(st, opts.Users))
	}
	as, err := authserver.New(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	e.as = as
	return as.Handler()
}

// replica is another authorization server on the same store and connectors (another
// mcpgate replica), polling revocations every 50ms.
func (e *env) replica() *authserver.Server {
	t := e.t
	opts := authserver.OptionsFromConfig(e.cfg)
	opts.Store, opts.Logger, opts.RevocationPollInterval = e.st, slogTo(io.Discard), 50*time.Millisecond
	opts.Resources = func() []string { return []string{e.resource} }
	opts.Connectors = e.fed.AuthConnectors()
	as, err := authserver.New(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	return as
}

// browser is a user agent with a cookie jar that stops at the MCP client's redirect URI.
type browser struct {
	t        *testing.T
	c        *http.Client
	redirect string
	// stopAt, when set, also stops redirects whose URL starts with it.
	stopAt string
}

func newBrowser(t *testing.T, redirect string) *browser {
	jar, _ := cookiejar.New(nil)
	b := &browser{t: t, redirect: redirect}
	b.c = &http.Client{Jar: jar, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if strings.HasPrefix(req.URL.String(), b.redirect) || (b.stopAt != "" && strings.HasPrefix(req.URL.String(), b.stopAt)) {
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

var (
	formActionRE = regexp.MustCompile(`<form method="post" action="([^"]+)"`)
	hiddenRE     = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)
)

// consent answers mcpgate's consent page (before or after the upstream sign-in): it posts
// the page's form with its hidden fields.
func (b *browser) consent(resp *http.Response, body string, approve bool) (*http.Response, string) {
	b.t.Helper()
	m := formActionRE.FindStringSubmatch(body)
	if m == nil || !isConsentPage(body) {
		b.t.Fatalf("no consent form:\n%s", body)
	}
	form := url.Values{"action": {"deny"}}
	if approve {
		form.Set("action", "approve")
	}
	for _, h := range hiddenRE.FindAllStringSubmatch(body, -1) {
		form.Set(h[1], html.UnescapeString(h[2]))
	}
	u := resp.Request.URL
	return b.post(u.Scheme+"://"+u.Host+html.UnescapeString(m[1]), form)
}

// signIn follows an authorization URL through the upstream sign-in and mcpgate's consent
// page and returns the redirect to the client.
func (b *browser) signIn(authURL string) *url.URL {
	b.t.Helper()
	resp, body := b.get(authURL)
	for i := 0; i < 2 && resp.StatusCode == http.StatusOK && isConsentPage(body); i++ {
		resp, body = b.consent(resp, body, true)
	}
	if resp.StatusCode/100 != 3 || !strings.HasPrefix(resp.Header.Get("Location"), b.redirect) {
		b.t.Fatalf("sign-in did not end in a redirect to the client: %d %s\n%s", resp.StatusCode, resp.Request.URL, body)
	}
	loc, _ := url.Parse(resp.Header.Get("Location"))
	return loc
}

func isConsentPage(body string) bool { return strings.Contains(body, `value="approve"`) }

// mcpClient connects the official go-sdk client (401 → PRM → metadata → DCR → authorize
// → token) with b driving the browser part.
func mcpClient(t *testing.T, resource string, b *browser, name string) (*mcp.ClientSession, *auth.AuthorizationCodeHandler) {
	t.Helper()
	h, err := auth.NewAuthorizationCodeHandler(&auth.AuthorizationCodeHandlerConfig{
		DynamicClientRegistrationConfig: &auth.DynamicClientRegistrationConfig{Metadata: &oauthex.ClientRegistrationMetadata{
			RedirectURIs: []string{b.redirect}, ClientName: name, GrantTypes: []string{"authorization_code", "refresh_token"},
			TokenEndpointAuthMethod: "none",
		}},
		RedirectURL:         b.redirect,
		RequestRefreshToken: true,
		AuthorizationCodeFetcher: func(ctx context.Context, args *auth.AuthorizationArgs) (*auth.AuthorizationResult, error) {
			loc := b.signIn(args.URL)
			return &auth.AuthorizationResult{Code: loc.Query().Get("code"), State: loc.Query().Get("state"), Iss: loc.Query().Get("iss")}, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	sess, err := mcp.NewClient(&mcp.Implementation{Name: name, Version: "1"}, nil).Connect(context.Background(),
		&mcp.StreamableClientTransport{Endpoint: resource, OAuthHandler: h, DisableStandaloneSSE: true}, nil)
	if err != nil {
		t.Fatalf("connect through mcpgate: %v", err)
	}
	t.Cleanup(func() { sess.Close() })
	return sess, h
}

func callWhoami(t *testing.T, sess *mcp.ClientSession) string {
	t.Helper()
	res, err := sess.CallTool(context.Background(), &mcp.CallToolParams{Name: "whoami"})
	if err != nil {
		t.Fatalf("tools/call: %v", err)
	}
	text := res.Content[0].(*mcp.TextContent).Text
	if res.IsError {
		t.Fatalf("tool error: %s", text)
	}
	return text
}

// register registers a public client by DCR and returns its id.
func register(t *testing.T, base, redirect, name string) string {
	t.Helper()
	return registerMeta(t, base, map[string]any{"redirect_uris": []string{redirect}, "client_name": name, "grant_types": []string{"authorization_code", "refresh_token"},
		"token_endpoint_auth_method": "none"})
}

// registerMeta registers a client with the given metadata by DCR and returns its id.
func registerMeta(t *testing.T, base string, meta map[string]any) string {
	t.Helper()
	body, _ := json.Marshal(meta)
	resp, err := http.Post(base+authserver.PathRegister, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("registration: %d %v", resp.StatusCode, out)
	}
	return out["client_id"].(string)
}

// authorizeURL is an authorization request of clientID for the route.
func authorizeURL(e *env, clientID, redirect string) string {
	v := make([]byte, 32)
	rand.Read(v)
	verifier := base64.RawURLEncoding.EncodeToString(v)
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {redirect}, "state": {"st-1"},
		"scope": {"openid mcp:tools"}, "code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
		"resource": {e.resource}}
	return e.url + authserver.PathAuthorize + "?" + q.Encode()
}

func slogTo(w io.Writer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }
