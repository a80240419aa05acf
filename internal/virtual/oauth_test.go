package virtual_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
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
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpgate/mcpgate/internal/authn"
	"github.com/mcpgate/mcpgate/internal/authserver"
	"github.com/mcpgate/mcpgate/internal/gateway"
	"github.com/mcpgate/mcpgate/internal/secrets"
	"github.com/mcpgate/mcpgate/internal/store"
	"github.com/mcpgate/mcpgate/internal/upstream"
	"github.com/mcpgate/mcpgate/internal/virtual"
)

// oauthUpstream is a third-party MCP server with its own OAuth: a go-sdk server behind
// bearer tokens of its own authorization server (mcpgate's embedded one, a second
// instance), publishing its protected resource metadata. Its whoami tool answers the
// token's subject and scope; its admin tool needs notes.admin and challenges with 403
// insufficient_scope otherwise (step-up).
type oauthUpstream struct {
	URL    string // the MCP endpoint
	as     *authserver.Server
	asURL  string
	mu     sync.Mutex
	tokens []string // the bearer tokens it received, in order
}

const noteUsersPassword = "correct-horse-battery"

func newOAuthUpstream(t *testing.T, trusted func() []string, o authserver.Options) *oauthUpstream {
	t.Helper()
	u := &oauthUpstream{}
	asMux := http.NewServeMux()
	asSrv := httptest.NewServer(asMux)
	t.Cleanup(asSrv.Close)
	u.asURL = asSrv.URL
	mcpMux := http.NewServeMux()
	mcpSrv := httptest.NewServer(mcpMux)
	t.Cleanup(mcpSrv.Close)
	u.URL = mcpSrv.URL + "/mcp"

	hash, err := authserver.HashPassword(noteUsersPassword)
	if err != nil {
		t.Fatal(err)
	}
	o.Issuer, o.Store, o.AllowInsecureHTTP = asSrv.URL, store.NewMemory(), true
	o.Logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	o.Resources = func() []string { return []string{u.URL} }
	o.Scopes = []string{"notes.read", "notes.admin"}
	o.Users = []authserver.ConfigUser{{Username: "alice", Email: "alice@notes.test", PasswordHash: hash}, {Username: "bob", Email: "bob@notes.test", PasswordHash: hash}}
	o.CIMD.AllowPrivateAddresses = true // mcpgate's document is on 127.0.0.1 in this test
	o.TrustedClients = trusted()
	as, err := authserver.New(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	u.as = as
	asMux.Handle("/", as.Handler())

	s := mcp.NewServer(&mcp.Implementation{Name: "notes", Version: "1"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "whoami"}, func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
		c, _, err := as.VerifyAccessToken(ctx, bearerOf(req.Extra.Header), u.URL)
		if err != nil {
			return nil, nil, err
		}
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: c.Email + " " + c.Scope}}}, nil, nil
	})
	mcp.AddTool(s, &mcp.Tool{Name: "admin"}, func(ctx context.Context, _ *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "admin done"}}}, nil, nil
	})
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, nil)
	prm := "/.well-known/oauth-protected-resource/mcp"
	mcpMux.HandleFunc("GET "+prm, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"resource": u.URL, "authorization_servers": []string{asSrv.URL}, "scopes_supported": []string{"notes.read"}})
	})
	mcpMux.HandleFunc("/mcp", func(w http.ResponseWriter, r *http.Request) {
		challenge := func(status int, extra string) {
			w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer resource_metadata="%s%s"%s`, mcpSrv.URL, prm, extra))
			http.Error(w, http.StatusText(status), status)
		}
		tok := bearerOf(r.Header)
		c, _, err := as.VerifyAccessToken(r.Context(), tok, u.URL)
		if err != nil {
			challenge(http.StatusUnauthorized, `, error="invalid_token"`)
			return
		}
		u.mu.Lock()
		u.tokens = append(u.tokens, tok)
		u.mu.Unlock()
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		var msg struct {
			Method string `json:"method"`
			Params struct {
				Name string `json:"name"`
			} `json:"params"`
		}
		json.Unmarshal(body, &msg)
		if msg.Method == "tools/call" && msg.Params.Name == "admin" && !strings.Contains(" "+c.Scope+" ", " notes.admin ") {
			challenge(http.StatusForbidden, `, error="insufficient_scope", scope="notes.read notes.admin"`)
			return
		}
		h.ServeHTTP(w, r)
	})
	return u
}

func bearerOf(h http.Header) string {
	return strings.TrimPrefix(h.Get("Authorization"), "Bearer ")
}

// connectionPages serves mcpgate's connection pages (the first mcpgate's public URL) for
// a discovered connection named notes.
type connectionPages struct {
	URL  string // public base URL
	mu   sync.RWMutex
	h    http.Handler
	Set  *upstream.Set
	Base string // the connection pages' base URL
}

func newConnectionPages(t *testing.T) *connectionPages {
	t.Helper()
	p := &connectionPages{h: http.NotFoundHandler()}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.RLock()
		h := p.h
		p.mu.RUnlock()
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	p.URL, p.Base = srv.URL, srv.URL+"/connections"
	return p
}

// build makes the upstream credentials of route virt: the notes upstream's connection is
// discovered from mcpServer, its metadata hosts allowed explicitly (loopback).
func (p *connectionPages) build(t *testing.T, mcpServer string, st upstream.ConnectionStore, logger *slog.Logger, requiredFor ...string) {
	t.Helper()
	k := make([]byte, secrets.KeySize)
	rand.Read(k)
	keys, err := secrets.NewKeyring("", secrets.Key{ID: "k1", Material: k})
	if err != nil {
		t.Fatal(err)
	}
	set, err := upstream.Build(upstream.Options{PublicURL: p.URL, ConnectionsPath: "/connections",
		Connections: []upstream.OAuthApp{{Name: "notes", DisplayName: "Notes", MCPServer: mcpServer, MetadataHosts: []string{"127.0.0.1"}, RequiredFor: requiredFor}},
		Routes:      []upstream.RouteAuth{{Route: "virt/notes", Mode: upstream.ModeConnection, Connection: "notes"}},
	}, upstream.BuildOptions{Store: st, Keys: keys, Logger: logger, CurrentUser: func(r *http.Request) (string, bool) {
		c, err := r.Cookie("test_user")
		if err != nil {
			return "", false
		}
		return c.Value, true
	}})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	set.Mount(mux)
	p.mu.Lock()
	p.h, p.Set = mux, set
	p.mu.Unlock()
}

var formCSRF = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfOf(t *testing.T, page string) string {
	t.Helper()
	m := formCSRF.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no csrf field:\n%s", page)
	}
	return strings.ReplaceAll(m[1], "&#43;", "+")
}

// link drives the connect flow in user's browser from the URL the prompt carried: the
// connect page, the third party's sign-in (and consent, if asked), the callback.
func link(t *testing.T, pages *connectionPages, browser *http.Client, user, connectURL string) string {
	t.Helper()
	u, _ := url.Parse(pages.URL)
	browser.Jar.SetCookies(u, []*http.Cookie{{Name: "test_user", Value: user, Path: "/"}})
	resp, page := fetch(t, browser, http.MethodGet, connectURL, nil)
	if resp.StatusCode != 200 || !strings.Contains(page, "Connect Notes") {
		t.Fatalf("connect page: %d\n%s", resp.StatusCode, page)
	}
	form := url.Values{"csrf": {csrfOf(t, page)}}
	for _, name := range []string{"scope", "return"} {
		if m := regexp.MustCompile(`name="` + name + `" value="([^"]+)"`).FindStringSubmatch(page); m != nil {
			form.Set(name, m[1])
		}
	}
	resp, page = fetch(t, browser, http.MethodPost, connectURL, form)
	if resp.StatusCode == 200 && strings.Contains(page, `name="password"`) {
		id := resp.Request.URL.Query().Get("authRequestID")
		resp, page = fetch(t, browser, http.MethodPost, resp.Request.URL.String(), url.Values{"csrf": {csrfOf(t, page)}, "authRequestID": {id}, "username": {user}, "password": {noteUsersPassword}})
	}
	if resp.StatusCode == 200 && strings.Contains(page, `value="approve"`) {
		id := resp.Request.URL.Query().Get("authRequestID")
		base := resp.Request.URL.Scheme + "://" + resp.Request.URL.Host
		resp, page = fetch(t, browser, http.MethodPost, base+authserver.PathConsent, url.Values{"csrf": {csrfOf(t, page)}, "authRequestID": {id}, "action": {"approve"}})
	}
	if resp.StatusCode != 200 || !strings.Contains(page, "Notes is connected") {
		t.Fatalf("after signing in at the third party: %d %s\n%s", resp.StatusCode, resp.Request.URL, page)
	}
	return page
}

func fetch(t *testing.T, c *http.Client, method, u string, form url.Values) (*http.Response, string) {
	t.Helper()
	var resp *http.Response
	var err error
	if method == http.MethodPost {
		resp, err = c.PostForm(u, form)
	} else {
		resp, err = c.Get(u)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func newBrowser() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 20 * time.Second}
}

// prompts records the URL elicitations a 2026-07-28 client is asked for (MRTR input
// requests) and answers each with answer(url) ("accept" after linking, or "cancel").
type prompts struct {
	mu     sync.Mutex
	seen   []*mcp.ElicitParams
	answer func(url string) string
}

// client connects user with URL elicitation declared, answering through p.
func (p *prompts) client(t *testing.T, url, user string) *mcp.ClientSession {
	return connect(t, url, user, &mcp.ClientOptions{
		Capabilities: &mcp.ClientCapabilities{Elicitation: &mcp.ElicitationCapabilities{URL: &mcp.URLElicitationCapabilities{}}},
		ElicitationHandler: func(ctx context.Context, req *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
			p.mu.Lock()
			p.seen = append(p.seen, req.Params)
			answer := p.answer
			p.mu.Unlock()
			action := "cancel"
			if answer != nil {
				action = answer(req.Params.URL)
			}
			return &mcp.ElicitResult{Action: action}, nil
		},
	})
}

// last returns the URL of the last prompt, checking that its message says want.
func (p *prompts) last(t *testing.T, want string) string {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.seen) == 0 {
		t.Fatalf("no URL elicitation (input request) was received; want %q", want)
	}
	e := p.seen[len(p.seen)-1]
	if e.Mode != "url" || e.URL == "" || !strings.Contains(e.Message, want) {
		t.Fatalf("elicitation %+v does not say %q", e, want)
	}
	return e.URL
}

// A virtual server aggregating a plain go-sdk server and a third-party MCP server with its
// own OAuth: mcpgate discovers the third party's authorization server from nothing but
// its MCP URL, registers with its client ID metadata document, each user links their own
// account once (URL elicitation), the upstream sees that user's own token, and its
// step-up challenge (403 insufficient_scope) becomes a prompt to connect again with the
// scopes it named.
func TestThirdPartyOAuthUpstream(t *testing.T) {
	pages := newConnectionPages(t)
	cimd := pages.Base + "/notes/client-metadata.json"
	notes := newOAuthUpstream(t, func() []string { return []string{cimd} }, authserver.Options{})
	plain := newHTTPUpstream(t, "plain", false, nil)
	logs := &logBuf{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	pages.build(t, notes.URL, store.NewMemory(), logger)
	rc, _ := pages.Set.Gateway("virt/notes")
	url, _, _ := newGateway(t, virtual.Options{Upstreams: []virtual.Upstream{
		{Name: "plain", URL: plain.URL, Prefix: "plain_"},
		{Name: "notes", URL: notes.URL, Prefix: "notes_", Credentials: upstream.CredentialErrors("virt/notes", rc, "")},
	}})

	aliceBrowser := newBrowser()
	asked := &prompts{}
	alice := asked.client(t, url, "alice")
	names, res := toolNames(t, alice)
	if strings.Contains(strings.Join(names, " "), "notes_") || !strings.Contains(strings.Join(names, " "), "plain_echo") {
		t.Fatalf("before linking: tools = %v", names)
	}
	if un, _ := res.Meta[virtual.MetaUnavailable].([]any); len(un) != 1 || un[0].(map[string]any)["upstream"] != "notes" {
		t.Fatalf("before linking: unavailable = %v", res.Meta)
	}
	// 2026-07-28: the call answers with an input request (URL elicitation); declined, the
	// retry answers with the link in a tool error.
	if _, err := call(t, alice, "notes_whoami", nil); err == nil || !strings.Contains(err.Error(), "/notes/connect") {
		t.Fatalf("declined prompt: %v", err)
	}
	connectURL := asked.last(t, "Connect your Notes account")
	if !strings.HasPrefix(connectURL, pages.Base+"/notes/connect") {
		t.Fatalf("connect URL = %s", connectURL)
	}

	// mcpgate publishes its client ID metadata document; the third party fetches it.
	resp, doc := fetch(t, http.DefaultClient, http.MethodGet, cimd, nil)
	if resp.StatusCode != 200 || !strings.Contains(doc, `"client_id":"`+cimd+`"`) || !strings.Contains(doc, pages.Base+"/notes/callback") {
		t.Fatalf("client metadata document: %d %s", resp.StatusCode, doc)
	}

	// Accepted: the user links in the browser while the client waits, and the retry
	// (through the gateway, which checks its requestState) reaches the upstream.
	asked.mu.Lock()
	asked.answer = func(u string) string { link(t, pages, aliceBrowser, "alice", u); return "accept" }
	asked.mu.Unlock()
	got, err := call(t, alice, "notes_whoami", nil)
	if err != nil || got != "alice@notes.test notes.read offline_access" && got != "alice@notes.test notes.read" {
		t.Fatalf("notes_whoami after linking = %q, %v", got, err)
	}
	if got, err := call(t, alice, "plain_echo", map[string]any{"text": "hi"}); err != nil || got != "plain:hi" {
		t.Fatalf("plain_echo = %q, %v", got, err)
	}
	names, _ = toolNames(t, alice)
	if !strings.Contains(strings.Join(names, " "), "notes_whoami") {
		t.Fatalf("after linking: tools = %v", names)
	}

	// Bob has not linked: he gets his own prompt, never alice's token.
	bob := connect(t, url, "bob", nil)
	if _, err := call(t, bob, "notes_whoami", nil); err == nil {
		t.Fatal("bob reached notes without linking")
	}
	// Bob accepts at once and links a moment later, as a person does in the browser: the
	// client's immediate retry is held until the account is linked.
	bobAsked := &prompts{}
	bobBrowser := newBrowser()
	bobAsked.answer = func(u string) string {
		go func() { time.Sleep(700 * time.Millisecond); link(t, pages, bobBrowser, "bob", u) }()
		return "accept"
	}
	if got, err := call(t, bobAsked.client(t, url, "bob"), "notes_whoami", nil); err != nil || !strings.HasPrefix(got, "bob@notes.test") {
		t.Fatalf("bob's held retry = %q, %v", got, err)
	}

	// Step-up: the upstream wants notes.admin; alice is asked to connect again with it.
	// (the prompt is answered by linking again with the scopes asked for)
	var page string
	asked.mu.Lock()
	asked.answer = func(u string) string { page = link(t, pages, aliceBrowser, "alice", u); return "accept" }
	asked.mu.Unlock()
	if got, err := call(t, alice, "notes_admin", nil); err != nil || got != "admin done" {
		t.Fatalf("notes_admin after granting more = %q, %v", got, err)
	}
	if stepUp := asked.last(t, "Notes needs more access (notes.read notes.admin)"); !strings.Contains(stepUp, "scope=notes.read+notes.admin") {
		t.Fatalf("step-up URL = %s", stepUp)
	}
	if strings.Contains(page, "Needs reconnecting") {
		t.Fatalf("connections page after step-up:\n%s", page)
	}
	if got, _ := call(t, alice, "notes_whoami", nil); !strings.Contains(got, "notes.admin") {
		t.Fatalf("notes_whoami after step-up = %q", got)
	}
	notes.mu.Lock()
	defer notes.mu.Unlock()
	for _, tok := range notes.tokens {
		if tok == "alice" || tok == "bob" || tok == "in-process" {
			t.Fatalf("the upstream received a gateway-side token %q", tok)
		}
	}
	if strings.Contains(logs.String(), notes.tokens[0]) {
		t.Fatal("a linked token was logged")
	}
}

// A connection an administrator requires of a group is asked for at once: that group's
// users get the prompt from their first list, not only when calling one of its tools;
// other users' lists just leave the upstream out until they link it.
func TestRequiredConnectionPromptsOnList(t *testing.T) {
	pages := newConnectionPages(t)
	notes := newOAuthUpstream(t, func() []string { return nil }, authserver.Options{})
	plain := newHTTPUpstream(t, "plain", false, nil)
	pages.build(t, notes.URL, store.NewMemory(), slog.New(slog.DiscardHandler), "ops")
	rc, _ := pages.Set.Gateway("virt/notes")
	url, _, _ := newGateway(t, virtual.Options{Upstreams: []virtual.Upstream{
		{Name: "plain", URL: plain.URL, Prefix: "plain_"},
		{Name: "notes", URL: notes.URL, Prefix: "notes_", Credentials: upstream.CredentialErrors("virt/notes", rc, "")},
	}})
	if names, _ := toolNames(t, connect(t, url, "alice+eng", nil)); len(names) == 0 {
		t.Fatal("alice, not required to link, lists nothing")
	}
	// A list cannot carry an input request: the prompt is an error with the link.
	_, err := connect(t, url, "carol+ops", nil).ListTools(context.Background(), nil)
	if err == nil || !strings.Contains(err.Error(), "Your administrator requires your Notes account to be connected") || !strings.Contains(err.Error(), pages.Base+"/notes/connect") {
		t.Fatalf("carol's list: %v", err)
	}
}

// On an ordinary route in front of the third-party server (no virtual server), the
// upstream's own step-up challenge becomes the same prompt to connect again.
func TestThirdPartyOAuthOrdinaryRoute(t *testing.T) {
	pages := newConnectionPages(t)
	cimd := pages.Base + "/notes/client-metadata.json"
	notes := newOAuthUpstream(t, func() []string { return []string{cimd} }, authserver.Options{})
	pages.build(t, notes.URL, store.NewMemory(), slog.New(slog.DiscardHandler))
	rc, _ := pages.Set.Gateway("virt/notes")
	verifier := authn.VerifierFunc(func(ctx context.Context, token string) (*authn.Principal, error) {
		return &authn.Principal{Issuer: "https://idp.test", Subject: token}, nil
	})
	gw, err := gateway.New(gateway.Options{Routes: []gateway.RouteOptions{{Name: "notes", Path: "/mcp", Upstream: notes.URL, Verifier: verifier,
		Credentials: upstream.CredentialErrors("notes", rc, "")}}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gw.Handler())
	t.Cleanup(func() { srv.CloseClientConnections(); srv.Close() })
	// This server wants a token even to initialize: the first request already asks.
	_, err = mcp.NewClient(&mcp.Implementation{Name: "test", Version: "1"}, nil).Connect(context.Background(),
		&mcp.StreamableClientTransport{Endpoint: srv.URL + "/mcp", HTTPClient: &http.Client{Transport: bearer{"alice"}}}, nil)
	if err == nil || !strings.Contains(err.Error(), "Connect your Notes account") {
		t.Fatalf("initialize before linking: %v", err)
	}
	link(t, pages, newBrowser(), "alice", pages.Base+"/notes/connect")
	alice := connect(t, srv.URL+"/mcp", "alice", nil)
	if got, err := call(t, alice, "whoami", nil); err != nil || !strings.HasPrefix(got, "alice@notes.test notes.read") {
		t.Fatalf("whoami = %q, %v", got, err)
	}
	_, err = call(t, alice, "admin", nil)
	if err == nil || !strings.Contains(err.Error(), "Notes needs more access (notes.read notes.admin)") || !strings.Contains(err.Error(), "scope=notes.read+notes.admin") {
		t.Fatalf("step-up: %v", err)
	}
}

// A 2025-11-25 client (sessions, no input requests) of the same virtual server is still
// asked with the URL elicitation error -32042, on the stateful endpoint.
func TestConnectionPromptOlderClient(t *testing.T) {
	pages := newConnectionPages(t)
	notes := newOAuthUpstream(t, func() []string { return nil }, authserver.Options{})
	pages.build(t, notes.URL, store.NewMemory(), slog.New(slog.DiscardHandler))
	rc, _ := pages.Set.Gateway("virt/notes")
	url, _, _ := newGateway(t, virtual.Options{Upstreams: []virtual.Upstream{
		{Name: "notes", URL: notes.URL, Prefix: "notes_", Credentials: upstream.CredentialErrors("virt/notes", rc, "")},
	}})
	post := func(body, session string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
		for k, v := range map[string]string{"Authorization": "Bearer alice", "Content-Type": "application/json",
			"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2025-11-25"} {
			req.Header.Set(k, v)
		}
		if session != "" {
			req.Header.Set("Mcp-Session-Id", session)
		} else {
			req.Header.Del("MCP-Protocol-Version")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(b)
	}
	resp, body := post(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{"elicitation":{"url":{}}},"clientInfo":{"name":"t","version":"1"}}}`, "")
	sid := resp.Header.Get("Mcp-Session-Id")
	if sid == "" || !strings.Contains(body, `"protocolVersion":"2025-11-25"`) {
		t.Fatalf("initialize: %d %s", resp.StatusCode, body)
	}
	post(`{"jsonrpc":"2.0","method":"notifications/initialized"}`, sid)
	_, body = post(`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"notes_whoami","arguments":{}}}`, sid)
	if !strings.Contains(body, `"code":-32042`) || !strings.Contains(body, "/notes/connect") {
		t.Fatalf("tools/call before linking: %s", body)
	}
}
