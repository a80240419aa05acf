// Package apptest assembles a gateway from a YAML configuration the way internal/app does,
// with a fake identity provider, a go-sdk upstream MCP server and a raw MCP client. It is
// for tests of the packages app wires (routepolicy, upstream, audit).
package apptest

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpgate/mcpgate/internal/app"
	"github.com/mcpgate/mcpgate/internal/audit"
	"github.com/mcpgate/mcpgate/internal/authn"
	"github.com/mcpgate/mcpgate/internal/config"
	"github.com/mcpgate/mcpgate/internal/gateway"
	"github.com/mcpgate/mcpgate/internal/store"
	"github.com/mcpgate/mcpgate/internal/upstream"
	"github.com/mcpgate/mcpgate/internal/virtual"
)

// ---- identity provider: RSA key, real authn verifier

const (
	testIssuer   = "https://idp.test"
	testAudience = "mcpgate-test"
)

var (
	keyOnce sync.Once
	idpKey  *rsa.PrivateKey
)

// IDP is a fake identity provider: an RSA key and a real authn registry that trusts it.
type IDP struct {
	key *rsa.PrivateKey
	Reg *authn.Registry
}

// NewIDP returns the fake identity provider (issuer https://idp.test, audience mcpgate-test).
func NewIDP(t *testing.T) *IDP {
	t.Helper()
	keyOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		idpKey = k
	})
	ctx := context.Background()
	keys := jwkset.NewMemoryStorage()
	jwk, err := jwkset.NewJWKFromKey(&idpKey.PublicKey, jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: "k1", ALG: jwkset.AlgRS256, USE: jwkset.UseSig}})
	if err != nil {
		t.Fatal(err)
	}
	if err := keys.KeyWrite(ctx, jwk); err != nil {
		t.Fatal(err)
	}
	reg, err := authn.NewRegistry(ctx, nil, authn.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	if err := reg.AddStatic(authn.Issuer{Name: "corp", Issuer: testIssuer, Audiences: []string{testAudience}}, keys); err != nil {
		t.Fatal(err)
	}
	return &IDP{key: idpKey, Reg: reg}
}

// Token signs an access token for user sub with groups, client and scopes.
func (p *IDP) Token(t *testing.T, sub string, groups []string, client, scope string) string {
	t.Helper()
	c := jwt.MapClaims{"iss": testIssuer, "aud": testAudience, "sub": sub, "email": sub + "@example.com", "client_id": client,
		"scope": scope, "groups": groups, "iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix()}
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, c)
	tok.Header["kid"] = "k1"
	s, err := tok.SignedString(p.key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// ---- upstream: the official go-sdk MCP server

// Upstream is a go-sdk MCP server with the tools transfer, get_quote, admin_reset,
// debug_dump and balance, served with JSON responses (JSONURL) and as SSE streams (SSEURL).
type Upstream struct {
	JSONURL, SSEURL string
	mu              sync.Mutex
	calls           []string // "tool args" as the upstream received them
	// ListGate, when set, holds a tools/list with a progress token after its progress
	// notification until the channel is closed.
	ListGate atomic.Pointer[chan struct{}]
}

// Called returns the calls the upstream received, as "tool args".
func (u *Upstream) Called() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return slices.Clone(u.calls)
}

// NewUpstream starts the upstream MCP server.
func NewUpstream(t *testing.T) *Upstream {
	t.Helper()
	u := &Upstream{}
	srv := mcp.NewServer(&mcp.Implementation{Name: "bank", Version: "1"}, nil)
	type args struct {
		Amount float64 `json:"amount,omitempty"`
		To     string  `json:"to,omitempty"`
		Pin    string  `json:"pin,omitempty"`
		Symbol string  `json:"symbol,omitempty"`
	}
	for _, name := range []string{"transfer", "get_quote", "admin_reset", "debug_dump", "balance"} {
		mcp.AddTool(srv, &mcp.Tool{Name: name, Description: "the " + name + " tool"}, func(ctx context.Context, req *mcp.CallToolRequest, a args) (*mcp.CallToolResult, any, error) {
			b, _ := json.Marshal(a)
			u.mu.Lock()
			u.calls = append(u.calls, name+" "+string(b))
			u.mu.Unlock()
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: name + " done"}}}, nil, nil
		})
	}
	// tools/list with a progress token: report progress, then wait for the test (to show
	// that events are forwarded as they are produced).
	srv.AddReceivingMiddleware(func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			if method == "tools/list" {
				if p, ok := req.GetParams().(*mcp.ListToolsParams); ok && p != nil && p.GetProgressToken() != nil {
					ss := req.GetSession().(*mcp.ServerSession)
					if err := ss.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: p.GetProgressToken(), Progress: 1, Message: "listing"}); err != nil {
						return nil, err
					}
					if g := u.ListGate.Load(); g != nil {
						select {
						case <-*g:
						case <-ctx.Done():
							return nil, ctx.Err()
						case <-time.After(10 * time.Second):
						}
					}
				}
			}
			return next(ctx, method, req)
		}
	})
	js := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, &mcp.StreamableHTTPOptions{JSONResponse: true}))
	t.Cleanup(js.Close)
	ss := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv },
		&mcp.StreamableHTTPOptions{EventStore: mcp.NewMemoryEventStore(nil)}))
	t.Cleanup(ss.Close)
	u.JSONURL, u.SSEURL = js.URL, ss.URL
	return u
}

// ---- the gateway, assembled from a configuration like the application does

// Harness is a gateway serving the routes of a configuration, with audit to a file and a
// SQLite store, and logs collected.
type Harness struct {
	URL       string
	AuditFile string
	Store     *store.SQL
	Auditor   *audit.Auditor
	Logs      *strings.Builder
}

// Options are a Harness's parts besides the configuration.
type Options struct {
	Creds   *upstream.Set
	Reg     *authn.Registry
	Dynamic func(ctx context.Context, id string) bool
	// RequestStateTTL and InputWait are the gateway's (gateway.Options; 0: its defaults).
	RequestStateTTL, InputWait time.Duration
}

// NewHarness assembles a gateway from yaml the way internal/app does: app.RouteHooks for
// the interceptor and observer, upstream.CredentialErrors for credential errors.
func NewHarness(t *testing.T, yaml string, o Options) *Harness {
	t.Helper()
	cfg, _, err := config.Parse("test.yaml", []byte(yaml), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	h := &Harness{AuditFile: filepath.Join(dir, "audit.jsonl"), Logs: &strings.Builder{}}
	var logMu sync.Mutex
	logger := slog.New(slog.NewJSONHandler(writerFunc(func(b []byte) (int, error) {
		logMu.Lock()
		defer logMu.Unlock()
		return h.Logs.Write(b)
	}), &slog.HandlerOptions{Level: slog.LevelDebug}))
	file, err := audit.NewFile(h.AuditFile, 1<<20, 2)
	if err != nil {
		t.Fatal(err)
	}
	if h.Store, err = store.OpenSQLite(context.Background(), filepath.Join(dir, "s.db"), nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Store.Close() })
	h.Auditor = audit.New(audit.Options{Logger: logger}, file, audit.StoreSink{Store: h.Store})
	t.Cleanup(func() { h.Auditor.Close(context.Background()) })
	deps := app.HookDeps{Auditor: h.Auditor, DynamicClient: o.Dynamic, Logger: logger}
	if o.Creds != nil {
		deps.UpstreamModes = o.Creds.Mode
	}
	var routes []gateway.RouteOptions
	for i, r := range cfg.Routes {
		v, err := o.Reg.Verifier(r.Auth.Issuers, r.Auth.Audiences)
		if err != nil {
			t.Fatal(err)
		}
		in, ob, err := app.RouteHooks(cfg, i, deps)
		if err != nil {
			t.Fatal(err)
		}
		ro := gateway.RouteOptions{Name: r.Name, Path: r.Path, Upstream: r.Upstream.URL, Verifier: v, Scopes: r.Auth.Scopes,
			Interceptor: in, Observer: ob}
		if len(r.Upstreams) > 0 { // an aggregating route, assembled as app does
			vs, err := virtual.New(app.VirtualOptions(cfg, i, o.Creds, logger, nil))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { vs.Close() })
			ro.Handler = vs.Handler()
		}
		if o.Creds != nil {
			if rc, ok := o.Creds.Gateway(r.Name); ok {
				ro.Credentials = upstream.CredentialErrors(r.Name, rc, app.AuthorizationURI(cfg, i))
			}
		}
		routes = append(routes, ro)
	}
	mux := http.NewServeMux()
	if o.Creds != nil {
		o.Creds.Mount(mux)
	}
	gw, err := gateway.New(gateway.Options{Routes: routes, Logger: logger, Fallback: mux, RequestStateTTL: o.RequestStateTTL, InputWait: o.InputWait})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gw.Handler())
	t.Cleanup(func() { srv.CloseClientConnections(); srv.Close() })
	h.URL = srv.URL
	return h
}

// WaitAudit waits until the store holds an event matching f: observers run after the
// response ended, so the client may be faster than the audit record.
func (h *Harness) WaitAudit(t *testing.T, f func(audit.Event) bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		evs, err := h.Store.QueryAudit(context.Background(), audit.Filter{Limit: -1})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			if f(e) {
				return
			}
		}
	}
	t.Fatal("the expected audit event was not recorded within 5s")
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }

// ---- a raw MCP client (to see statuses, headers and events exactly)

// Client is a raw MCP client, to see statuses, headers and events exactly.
type Client struct {
	T       *testing.T
	URL     string
	Token   string
	Proto   string
	Session string
}

// NewClient initializes an MCP session at url with token.
func NewClient(t *testing.T, url, token string) *Client {
	c := &Client{T: t, URL: url, Token: token, Proto: "2025-06-18"}
	resp, msg := c.Post(`{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"` + c.Proto + `","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`)
	if resp.StatusCode != 200 || msg["result"] == nil {
		t.Fatalf("initialize: %d %v", resp.StatusCode, msg)
	}
	c.Session = resp.Header.Get("Mcp-Session-Id")
	r, _ := c.Do(http.MethodPost, `{"jsonrpc":"2.0","method":"notifications/initialized"}`, nil)
	r.Body.Close()
	return c
}

// Do sends body with method and the session's headers.
func (c *Client) Do(method, body string, hdr map[string]string) (*http.Response, error) {
	req, err := http.NewRequest(method, c.URL, strings.NewReader(body))
	if err != nil {
		c.T.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("User-Agent", "hooks-test/1.0")
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	if c.Session != "" {
		req.Header.Set("Mcp-Session-Id", c.Session)
		req.Header.Set("MCP-Protocol-Version", c.Proto)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	return http.DefaultClient.Do(req)
}

// Post sends one message and returns the response and its JSON-RPC answer (from a JSON
// body, or the last SSE event carrying an id).
func (c *Client) Post(body string) (*http.Response, map[string]any) {
	c.T.Helper()
	resp, err := c.Do(http.MethodPost, body, nil)
	if err != nil {
		c.T.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var msg map[string]any
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		for _, d := range SSEData(string(b)) {
			var m map[string]any
			if json.Unmarshal([]byte(d), &m) == nil && m["id"] != nil {
				msg = m
			}
		}
		return resp, msg
	}
	if len(b) > 0 && b[0] == '[' {
		var arr []any
		json.Unmarshal(b, &arr)
		return resp, map[string]any{"batch": arr}
	}
	json.Unmarshal(b, &msg)
	return resp, msg
}

// SSEData returns the data of each event of an SSE body.
func SSEData(s string) []string {
	var out []string
	for _, ev := range strings.Split(s, "\n\n") {
		var data []string
		for _, l := range strings.Split(ev, "\n") {
			if strings.HasPrefix(l, "data:") {
				data = append(data, strings.TrimPrefix(strings.TrimPrefix(l, "data:"), " "))
			}
		}
		if len(data) > 0 {
			out = append(out, strings.Join(data, "\n"))
		}
	}
	return out
}

// CallTool calls a tool with args (JSON, default {}).
func (c *Client) CallTool(id int, name string, args string) (*http.Response, map[string]any) {
	c.T.Helper()
	if args == "" {
		args = "{}"
	}
	return c.Post(fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":%q,"arguments":%s}}`, id, name, args))
}

// ListTools returns the names of the tools listed, sorted.
func (c *Client) ListTools(id int) []string {
	c.T.Helper()
	resp, msg := c.Post(fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/list"}`, id))
	if resp.StatusCode != 200 {
		c.T.Fatalf("tools/list: %d %v", resp.StatusCode, msg)
	}
	return ToolNames(c.T, msg)
}

// ToolNames returns the sorted tool names of a tools/list answer.
func ToolNames(t *testing.T, msg map[string]any) []string {
	t.Helper()
	res, _ := msg["result"].(map[string]any)
	if res == nil {
		t.Fatalf("no tools/list result: %v", msg)
	}
	var names []string
	for _, x := range res["tools"].([]any) {
		names = append(names, x.(map[string]any)["name"].(string))
	}
	slices.Sort(names)
	return names
}

// ErrorOf returns the code and message of a JSON-RPC error answer (0, "" for none).
func ErrorOf(msg map[string]any) (int, string) {
	e, _ := msg["error"].(map[string]any)
	if e == nil {
		return 0, ""
	}
	code, _ := e["code"].(float64)
	m, _ := e["message"].(string)
	return int(code), m
}

// ResultText returns the text of a tool result and its isError flag.
func ResultText(msg map[string]any) (string, bool) {
	res, _ := msg["result"].(map[string]any)
	if res == nil {
		return "", false
	}
	isErr, _ := res["isError"].(bool)
	var b strings.Builder
	for _, c := range res["content"].([]any) {
		b.WriteString(c.(map[string]any)["text"].(string))
	}
	return b.String(), isErr
}
