package app

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
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

	"github.com/mcpgate/mcpgate/internal/audit"
	"github.com/mcpgate/mcpgate/internal/authn"
	"github.com/mcpgate/mcpgate/internal/authserver/entra"
	"github.com/mcpgate/mcpgate/internal/authz"
	"github.com/mcpgate/mcpgate/internal/authz/ruleexpr"
	"github.com/mcpgate/mcpgate/internal/config"
	"github.com/mcpgate/mcpgate/internal/gateway"
	"github.com/mcpgate/mcpgate/internal/jsonlimit"
	mcpmsg "github.com/mcpgate/mcpgate/internal/mcp"
	"github.com/mcpgate/mcpgate/internal/secrets"
	"github.com/mcpgate/mcpgate/internal/store"
	"github.com/mcpgate/mcpgate/internal/upstream"
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

type idp struct {
	key *rsa.PrivateKey
	reg *authn.Registry
}

func newIDP(t *testing.T) *idp {
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
	if err := reg.AddStatic(config.Issuer{Name: "corp", Issuer: testIssuer, Audiences: []string{testAudience}}, keys); err != nil {
		t.Fatal(err)
	}
	return &idp{key: idpKey, reg: reg}
}

// token signs an access token for user sub with groups, client and scopes.
func (p *idp) token(t *testing.T, sub string, groups []string, client, scope string) string {
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

type upstreamServer struct {
	jsonURL, sseURL string
	mu              sync.Mutex
	calls           []string // "tool args" as the upstream received them
	listGate        atomic.Pointer[chan struct{}]
}

func (u *upstreamServer) called() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return slices.Clone(u.calls)
}

func newUpstream(t *testing.T) *upstreamServer {
	t.Helper()
	u := &upstreamServer{}
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
					if g := u.listGate.Load(); g != nil {
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
	u.jsonURL, u.sseURL = js.URL, ss.URL
	return u
}

// ---- the gateway, assembled from a configuration like the application does

type harness struct {
	url       string
	auditFile string
	store     *store.SQL
	auditor   *audit.Auditor
	logs      *strings.Builder
}

type gwOptions struct {
	creds   *upstream.Set
	reg     *authn.Registry
	dynamic func(ctx context.Context, id string) bool
}

func newHarness(t *testing.T, yaml string, o gwOptions) *harness {
	t.Helper()
	cfg, _, err := config.Parse("test.yaml", []byte(yaml), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	h := &harness{auditFile: filepath.Join(dir, "audit.jsonl"), logs: &strings.Builder{}}
	var logMu sync.Mutex
	logger := slog.New(slog.NewJSONHandler(writerFunc(func(b []byte) (int, error) {
		logMu.Lock()
		defer logMu.Unlock()
		return h.logs.Write(b)
	}), &slog.HandlerOptions{Level: slog.LevelDebug}))
	file, err := audit.NewFile(h.auditFile, 1<<20, 2)
	if err != nil {
		t.Fatal(err)
	}
	if h.store, err = store.OpenSQLite(context.Background(), filepath.Join(dir, "s.db"), nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.store.Close() })
	h.auditor = audit.New(audit.Options{Logger: logger}, file, audit.StoreSink{Store: h.store})
	t.Cleanup(func() { h.auditor.Close(context.Background()) })
	deps := HookDeps{Auditor: h.auditor, DynamicClient: o.dynamic, Logger: logger}
	if o.creds != nil {
		deps.UpstreamModes = o.creds.Mode
	}
	var routes []gateway.RouteOptions
	for i, r := range cfg.Routes {
		v, err := o.reg.Verifier(r.Auth.Issuers, r.Auth.Audiences)
		if err != nil {
			t.Fatal(err)
		}
		in, ob, err := RouteHooks(cfg, i, deps)
		if err != nil {
			t.Fatal(err)
		}
		ro := gateway.RouteOptions{Name: r.Name, Path: r.Path, Upstream: r.Upstream.URL, Verifier: v, Scopes: r.Auth.Scopes,
			Interceptor: in, Observer: ob}
		if o.creds != nil {
			if rc, ok := o.creds.Gateway(r.Name); ok {
				ro.Credentials = CredentialErrors(r.Name, rc, AuthorizationURI(cfg, i))
			}
		}
		routes = append(routes, ro)
	}
	mux := http.NewServeMux()
	if o.creds != nil {
		o.creds.Mount(mux)
	}
	gw, err := gateway.New(gateway.Options{Routes: routes, Logger: logger, Fallback: mux})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gw.Handler())
	t.Cleanup(func() { srv.CloseClientConnections(); srv.Close() })
	h.url = srv.URL
	return h
}

// waitAudit waits until the store holds an event matching f: observers run after the
// response ended, so the client may be faster than the audit record.
func (h *harness) waitAudit(t *testing.T, f func(audit.Event) bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		evs, err := h.store.QueryAudit(context.Background(), audit.Filter{Limit: -1})
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

type client struct {
	t       *testing.T
	url     string
	token   string
	proto   string
	session string
}

func newClient(t *testing.T, url, token string) *client {
	c := &client{t: t, url: url, token: token, proto: "2025-06-18"}
	resp, msg := c.post(`{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"` + c.proto + `","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`)
	if resp.StatusCode != 200 || msg["result"] == nil {
		t.Fatalf("initialize: %d %v", resp.StatusCode, msg)
	}
	c.session = resp.Header.Get("Mcp-Session-Id")
	r, _ := c.do(http.MethodPost, `{"jsonrpc":"2.0","method":"notifications/initialized"}`, nil)
	r.Body.Close()
	return c
}

func (c *client) do(method, body string, hdr map[string]string) (*http.Response, error) {
	req, err := http.NewRequest(method, c.url, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("User-Agent", "hooks-test/1.0")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if c.session != "" {
		req.Header.Set("Mcp-Session-Id", c.session)
		req.Header.Set("MCP-Protocol-Version", c.proto)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	return http.DefaultClient.Do(req)
}

// post sends one message and returns the response and its JSON-RPC answer (from a JSON
// body, or the last SSE event carrying an id).
func (c *client) post(body string) (*http.Response, map[string]any) {
	c.t.Helper()
	resp, err := c.do(http.MethodPost, body, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var msg map[string]any
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		for _, d := range sseData(string(b)) {
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

func sseData(s string) []string {
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

func (c *client) callTool(id int, name string, args string) (*http.Response, map[string]any) {
	c.t.Helper()
	if args == "" {
		args = "{}"
	}
	return c.post(fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":%q,"arguments":%s}}`, id, name, args))
}

func (c *client) listTools(id int) []string {
	c.t.Helper()
	resp, msg := c.post(fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/list"}`, id))
	if resp.StatusCode != 200 {
		c.t.Fatalf("tools/list: %d %v", resp.StatusCode, msg)
	}
	return toolNames(c.t, msg)
}

func toolNames(t *testing.T, msg map[string]any) []string {
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

func errorOf(msg map[string]any) (int, string) {
	e, _ := msg["error"].(map[string]any)
	if e == nil {
		return 0, ""
	}
	code, _ := e["code"].(float64)
	m, _ := e["message"].(string)
	return int(code), m
}

func resultText(msg map[string]any) (string, bool) {
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

// ---- policy, tools and audit through the gateway

const policyYAML = `
issuers: [{name: corp, issuer: https://idp.test, jwksURL: "https://idp.test/jwks"}]
ruleSets:
  baseline:
    - {name: finance-only-quotes, deny: 'mcp.tool == "get_quote" && !("finance" in user.groups)'}
    - {name: no-dynamic-admin, deny: 'client.dynamic && mcp.tool.startsWith("admin_")'}
routes:
  - name: bank
    path: /bank/mcp
    upstream: {url: "JSONURL"}
    auth: {issuers: [corp], audiences: [mcpgate-test]}
    policy:
      include: [baseline]
      rules:
        - {name: big-transfers, deny: 'mcp.tool == "transfer" && mcp.arguments.amount > 10000', message: "transfers above 10,000 need a human"}
        - {name: console-only-reset, deny: 'mcp.tool == "admin_reset" && !(client.id in ["ops-console", "dcr-ops"])'}
        - {name: banned, deny: 'user.sub == "banned"'}
        - {name: mallory-not-from-here, deny: 'mcp.tool == "balance" && user.sub == "mallory" && request.ip == "127.0.0.1" && request.route == "bank"'}
        - {name: no-time-travel, deny: 'user.sub == "marty" && request.time < timestamp("2020-01-01T00:00:00Z")'}
        - {name: staff, allow: '"staff" in user.groups'}
    tools:
      exclude: ["debug_*"]
      overrides:
        get_quote: {name: stock_quote, description: Latest price of a listed stock}
    auditArguments: {redactFields: [to]}
  - name: bank-sse
    path: /bank-sse/mcp
    upstream: {url: "SSEURL"}
    auth: {issuers: [corp], audiences: [mcpgate-test]}
    policy:
      include: [baseline]
      rules: [{name: staff, allow: '"staff" in user.groups'}]
    tools: {exclude: ["debug_*"]}
  - name: masked
    path: /masked/mcp
    upstream: {url: "JSONURL"}
    auth: {issuers: [corp], audiences: [mcpgate-test]}
    policy:
      refusal: mask
      rules:
        - {name: no-reset, deny: 'mcp.tool == "admin_reset"'}
        - {name: everyone, allow: 'true'}
  - name: stepup
    path: /stepup/mcp
    upstream: {url: "JSONURL"}
    auth: {issuers: [corp], audiences: [mcpgate-test]}
    policy:
      rules:
        - {name: transfers-need-scope, require: 'mcp.tool == "transfer"', scopes: [payments.write]}
        - {name: everyone, allow: 'true'}
  - name: limited
    path: /limited/mcp
    upstream: {url: "JSONURL"}
    auth: {issuers: [corp], audiences: [mcpgate-test]}
    rateLimit: {perUser: {requests: 3, per: 1h}}
`

func policyHarness(t *testing.T) (*harness, *idp, *upstreamServer) {
	t.Helper()
	p := newIDP(t)
	up := newUpstream(t)
	y := strings.NewReplacer("JSONURL", up.jsonURL, "SSEURL", up.sseURL).Replace(policyYAML)
	h := newHarness(t, y, gwOptions{reg: p.reg, dynamic: func(_ context.Context, id string) bool { return strings.HasPrefix(id, "dcr-") }})
	return h, p, up
}

func TestPolicyThroughGateway(t *testing.T) {
	h, p, up := policyHarness(t)
	bank := h.url + "/bank/mcp"
	alice := newClient(t, bank, p.token(t, "alice", []string{"staff", "finance"}, "vscode", "mcp"))
	bob := newClient(t, bank, p.token(t, "bob", []string{"staff"}, "vscode", "mcp"))
	carol := newClient(t, bank, p.token(t, "carol", []string{"sales"}, "vscode", "mcp"))

	opsConsole := newClient(t, bank, p.token(t, "olga", []string{"staff", "finance"}, "ops-console", "mcp"))
	tests := []struct {
		name     string
		c        *client
		tool     string
		args     string
		wantText string // allowed: the upstream's answer
		wantErr  string // refused: part of the JSON-RPC error message
		wantCall string // what the upstream received ("" when it must not be called)
	}{
		{"group-based allow", bob, "transfer", `{"amount":50,"to":"DE1"}`, "transfer done", "", `transfer {"amount":50,"to":"DE1"}`},
		{"no matching allow rule: default deny", carol, "transfer", `{"amount":50}`, "", "denied by policy: no allow rule matched", ""},
		{"argument-based deny", alice, "transfer", `{"amount":50000,"to":"DE2"}`, "", "denied by policy big-transfers: transfers above 10,000 need a human", ""},
		{"deny overrides allow", bob, "stock_quote", `{"symbol":"ACME"}`, "", "denied by policy finance-only-quotes", ""},
		{"renamed tool reaches the upstream under its real name", alice, "stock_quote", `{"symbol":"ACME"}`, "get_quote done", "", `get_quote {"symbol":"ACME"}`},
		{"old name of a renamed tool is unknown", alice, "get_quote", `{"symbol":"ACME"}`, "", "Unknown tool: get_quote", ""},
		{"excluded tool is unknown", alice, "debug_dump", `{}`, "", "Unknown tool: debug_dump", ""},
		{"client-based deny", alice, "admin_reset", `{}`, "", "denied by policy console-only-reset", ""},
		{"dynamic client denied", newClient(t, bank, p.token(t, "alice", []string{"staff"}, "dcr-ops", "mcp")), "admin_reset", `{}`, "", "denied by policy no-dynamic-admin", ""},
		{"request.ip", newClient(t, bank, p.token(t, "mallory", []string{"staff"}, "vscode", "mcp")), "balance", `{}`, "", "denied by policy mallory-not-from-here", ""},
		{"request.time", newClient(t, bank, p.token(t, "marty", []string{"staff"}, "vscode", "mcp")), "balance", `{}`, "balance done", "", `balance {}`},
		{"client-based allow", opsConsole, "admin_reset", `{}`, "admin_reset done", "", `admin_reset {}`},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(up.called())
			resp, msg := tt.c.callTool(100+i, tt.tool, tt.args)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %v", resp.StatusCode, msg)
			}
			if msg["id"] != float64(100+i) {
				t.Fatalf("answer to the wrong id: %v", msg)
			}
			calls := up.called()[before:]
			if tt.wantErr != "" {
				_, m := errorOf(msg)
				if !strings.Contains(m, tt.wantErr) {
					t.Fatalf("error = %q, want %q (%v)", m, tt.wantErr, msg)
				}
				if len(calls) != 0 {
					t.Fatalf("a refused call reached the upstream: %v", calls)
				}
				return
			}
			text, isErr := resultText(msg)
			if isErr || text != tt.wantText {
				t.Fatalf("result = %q (isError %v), want %q: %v", text, isErr, tt.wantText, msg)
			}
			if len(calls) != 1 || calls[0] != tt.wantCall {
				t.Fatalf("upstream received %v, want %q", calls, tt.wantCall)
			}
		})
	}

	t.Run("tools/list in a JSON response", func(t *testing.T) {
		for _, tc := range []struct {
			c    *client
			want []string
		}{
			{alice, []string{"balance", "stock_quote", "transfer"}},                     // admin_reset only from the console
			{bob, []string{"balance", "transfer"}},                                      // no quotes for non-finance
			{opsConsole, []string{"admin_reset", "balance", "stock_quote", "transfer"}}, // never debug_dump
		} {
			if got := tc.c.listTools(7); !slices.Equal(got, tc.want) {
				t.Errorf("tools = %v, want %v", got, tc.want)
			}
		}
		_, msg := alice.post(`{"jsonrpc":"2.0","id":8,"method":"tools/list"}`)
		for _, x := range msg["result"].(map[string]any)["tools"].([]any) {
			if tl := x.(map[string]any); tl["name"] == "stock_quote" && tl["description"] != "Latest price of a listed stock" {
				t.Errorf("description not overridden: %v", tl)
			}
		}
	})

	t.Run("GET stream: a user closed out of the route is refused", func(t *testing.T) {
		for _, tc := range []struct {
			token  string
			denied bool
		}{{p.token(t, "banned", []string{"staff"}, "vscode", "mcp"), true}, {alice.token, false}} {
			c := &client{t: t, url: bank, token: tc.token, session: alice.session, proto: alice.proto}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, bank, nil)
			req.Header.Set("Accept", "text/event-stream")
			req.Header.Set("Authorization", "Bearer "+c.token)
			if !tc.denied { // alice's session is alice's alone (the gateway would answer 404 before the policy)
				req.Header.Set("Mcp-Session-Id", c.session)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				cancel()
				t.Fatal(err)
			}
			var b []byte
			if resp.StatusCode == 403 {
				b, _ = io.ReadAll(resp.Body)
			}
			resp.Body.Close()
			cancel()
			if denied := resp.StatusCode == 403 && strings.Contains(string(b), "denied by policy banned"); denied != tc.denied {
				t.Fatalf("GET: %d %s (want denied=%v)", resp.StatusCode, b, tc.denied)
			}
		}
	})

	t.Run("batch is refused as a whole", func(t *testing.T) {
		before := len(up.called())
		resp, err := alice.do(http.MethodPost, `[{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"balance","arguments":{}}},`+
			`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"transfer","arguments":{"amount":99999}}}]`, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var arr []map[string]any
		if err := json.Unmarshal(b, &arr); err != nil || resp.StatusCode != 200 || len(arr) != 2 {
			t.Fatalf("batch answer %d %s", resp.StatusCode, b)
		}
		_, m1 := errorOf(arr[0])
		_, m2 := errorOf(arr[1])
		if arr[0]["id"] != float64(1) || !strings.Contains(m1, "not forwarded: message 2 of this batch was refused") ||
			arr[1]["id"] != float64(2) || !strings.Contains(m2, "big-transfers") {
			t.Fatalf("batch answers = %s", b)
		}
		if calls := up.called()[before:]; len(calls) != 0 {
			t.Fatalf("a refused batch reached the upstream: %v", calls)
		}
	})

	t.Run("masked refusal looks like an unknown tool", func(t *testing.T) {
		c := newClient(t, h.url+"/masked/mcp", p.token(t, "alice", nil, "vscode", "mcp"))
		_, denied := c.callTool(1, "admin_reset", `{}`)
		code, msg := errorOf(denied)
		if code != -32602 || msg != "Unknown tool: admin_reset" || denied["error"].(map[string]any)["data"] != nil {
			t.Fatalf("masked refusal = %v", denied)
		}
		// The revealing route names the rule instead.
		_, revealed := alice.callTool(2, "admin_reset", `{}`)
		if code, msg := errorOf(revealed); code != -32001 || !strings.Contains(msg, "console-only-reset") {
			t.Fatalf("revealed refusal = %v", revealed)
		}
	})

	t.Run("a case variant of name cannot smuggle a refused tool", func(t *testing.T) {
		// The upstream (like every MCP server: JSON.parse, Python, the Go SDK) reads
		// "name" exactly; a gateway matching "NAME" case-insensitively would decide on
		// "balance" and forward a call that runs admin_reset.
		before := len(up.called())
		_, msg := alice.post(`{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"admin_reset","NAME":"balance","arguments":{}}}`)
		if code, m := errorOf(msg); code != -32001 || !strings.Contains(m, "console-only-reset") {
			t.Fatalf("smuggled call = %v", msg)
		}
		if calls := up.called()[before:]; len(calls) != 0 {
			t.Fatalf("the smuggled call reached the upstream: %v", calls)
		}
	})

	t.Run("require rule: step-up challenge", func(t *testing.T) {
		c := newClient(t, h.url+"/stepup/mcp", p.token(t, "alice", nil, "vscode", "mcp profile"))
		resp, msg := c.callTool(1, "transfer", `{"amount":1}`)
		wa := resp.Header.Get("WWW-Authenticate")
		if resp.StatusCode != 403 || !strings.Contains(wa, `error="insufficient_scope"`) || !strings.Contains(wa, `scope="payments.write mcp profile"`) ||
			!strings.Contains(wa, "resource_metadata=") {
			t.Fatalf("step-up = %d %q %v", resp.StatusCode, wa, msg)
		}
		c2 := newClient(t, h.url+"/stepup/mcp", p.token(t, "alice", nil, "vscode", "mcp payments.write"))
		if _, msg := c2.callTool(2, "transfer", `{"amount":1}`); msg["result"] == nil {
			t.Fatalf("with the scope: %v", msg)
		}
		// Other tools need no step-up.
		if _, msg := c.callTool(3, "balance", `{}`); msg["result"] == nil {
			t.Fatalf("balance: %v", msg)
		}
	})

	t.Run("rate limit: 429 with Retry-After", func(t *testing.T) {
		tok := p.token(t, "dave", nil, "vscode", "mcp")
		c := newClient(t, h.url+"/limited/mcp", tok) // initialize + initialized use 2 of 3
		if _, msg := c.callTool(1, "balance", `{}`); msg["result"] == nil {
			t.Fatalf("third request: %v", msg)
		}
		resp, msg := c.callTool(2, "balance", `{}`)
		ra := resp.Header.Get("Retry-After")
		code, m := errorOf(msg)
		data, _ := msg["error"].(map[string]any)["data"].(map[string]any)
		if resp.StatusCode != 429 || ra == "" || ra == "0" || code != -32000 || !strings.Contains(m, "rateLimit.perUser") ||
			!strings.Contains(m, "retry in "+ra+" s") || data["limit"] != "perUser" || fmt.Sprint(data["retryAfter"]) != ra {
			t.Fatalf("over the limit: %d Retry-After=%q %v", resp.StatusCode, ra, msg)
		}
		// Another user has their own bucket.
		e := newClient(t, h.url+"/limited/mcp", p.token(t, "erin", nil, "vscode", "mcp"))
		if _, msg := e.callTool(3, "balance", `{}`); msg["result"] == nil {
			t.Fatalf("another user: %v", msg)
		}
	})

	t.Run("audit: file and store, no token or secret", func(t *testing.T) {
		_, msg := alice.callTool(500, "transfer", `{"amount":75,"to":"DE89-secret-iban","pin":"4321-secret-pin"}`)
		if msg["result"] == nil {
			t.Fatalf("transfer: %v", msg)
		}
		h.waitAudit(t, func(e audit.Event) bool { return e.RequestID == "500" })
		h.auditor.Close(context.Background()) // drain
		raw, err := os.ReadFile(h.auditFile)
		if err != nil {
			t.Fatal(err)
		}
		for _, secret := range []string{alice.token, bob.token, "4321-secret-pin", "DE89-secret-iban", alice.session} {
			if strings.Contains(string(raw), secret) {
				t.Fatalf("the audit file contains a secret %q", secret[:min(len(secret), 12)])
			}
			if strings.Contains(h.logs.String(), secret) {
				t.Fatalf("the log contains a secret %q", secret[:min(len(secret), 12)])
			}
		}
		events, _, err := audit.ReadJSONLines(strings.NewReader(string(raw)), audit.Filter{Limit: -1})
		if err != nil {
			t.Fatal(err)
		}
		stored, err := h.store.QueryAudit(context.Background(), audit.Filter{Limit: -1})
		if err != nil {
			t.Fatal(err)
		}
		if len(stored) != len(events) || len(events) < 20 {
			t.Fatalf("store has %d events, file %d", len(stored), len(events))
		}
		find := func(evs []audit.Event, f func(e audit.Event) bool) *audit.Event {
			for i := range evs {
				if f(evs[i]) {
					return &evs[i]
				}
			}
			return nil
		}
		for name, evs := range map[string][]audit.Event{"file": events, "store": stored} {
			allowed := find(evs, func(e audit.Event) bool { return e.RequestID == "500" })
			if allowed == nil || allowed.Decision != "allow" || allowed.Tool != "transfer" || allowed.User != "alice" || allowed.ClientID != "vscode" ||
				!slices.Equal(allowed.Rules, []string{"staff"}) || allowed.UpstreamStatus != 200 || allowed.ArgumentsHash == "" ||
				allowed.UserAgent != "hooks-test/1.0" || allowed.UpstreamAuth != "none" || allowed.SessionHash == "" ||
				!strings.Contains(string(allowed.Arguments), `"pin":"[redacted]"`) || !strings.Contains(string(allowed.Arguments), `"to":"[redacted]"`) {
				t.Fatalf("%s: allowed event = %+v", name, allowed)
			}
			denied := find(evs, func(e audit.Event) bool { return e.RequestID == "102" && e.Route == "bank" })
			if denied == nil || denied.Decision != "deny" || !slices.Equal(denied.Rules, []string{"big-transfers"}) || denied.UpstreamStatus != 0 || denied.Tool != "transfer" {
				t.Fatalf("%s: denied event = %+v", name, denied)
			}
			renamed := find(evs, func(e audit.Event) bool { return e.RequestID == "104" && e.Route == "bank" })
			if renamed == nil || renamed.Tool != "get_quote" || renamed.Decision != "allow" {
				t.Fatalf("%s: renamed call recorded as %+v, want the upstream name get_quote", name, renamed)
			}
			limited := find(evs, func(e audit.Event) bool { return e.Route == "limited" && e.Decision == "rate_limited" })
			if limited == nil || limited.Status != 429 || limited.User != "dave" {
				t.Fatalf("%s: rate-limited event = %+v", name, limited)
			}
			stepUp := find(evs, func(e audit.Event) bool { return e.Route == "stepup" && e.Decision == "insufficient_scope" })
			if stepUp == nil || stepUp.Status != 403 || !slices.Equal(stepUp.Rules, []string{"transfers-need-scope"}) {
				t.Fatalf("%s: step-up event = %+v", name, stepUp)
			}
		}
		if got, err := h.store.QueryAudit(context.Background(), audit.Filter{Route: "bank", User: "bob", Decision: "deny"}); err != nil || len(got) != 1 || got[0].Tool != "get_quote" {
			t.Fatalf("store query for bob's denials = %+v, %v", got, err)
		}
	})
}

// tools/list answered as an SSE stream is filtered event by event: the progress event the
// upstream sends before it blocks arrives before the upstream is released, and the list
// that follows is filtered. A GET stream that replays the list (resumption with
// Last-Event-ID) is filtered too.
func TestListFilteringOnSSE(t *testing.T) {
	h, p, up := policyHarness(t)
	bob := newClient(t, h.url+"/bank-sse/mcp", p.token(t, "bob", []string{"staff"}, "vscode", "mcp"))
	gate := make(chan struct{})
	up.listGate.Store(&gate)
	resp, err := bob.do(http.MethodPost, `{"jsonrpc":"2.0","id":9,"method":"tools/list","params":{"_meta":{"progressToken":"p9"}}}`, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("content type %q: the upstream should stream", ct)
	}
	br := bufio.NewReader(resp.Body)
	readEvent := func() (id, data string) {
		t.Helper()
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("stream ended: %v", err)
			}
			l = strings.TrimRight(l, "\r\n")
			switch {
			case l == "" && data != "":
				return id, data
			case strings.HasPrefix(l, "id:"):
				id = strings.TrimSpace(strings.TrimPrefix(l, "id:"))
			case strings.HasPrefix(l, "data:"):
				data += strings.TrimSpace(strings.TrimPrefix(l, "data:"))
			}
		}
	}
	got := make(chan [2]string, 1)
	go func() { i, d := readEvent(); got <- [2]string{i, d} }()
	var progressID string
	select {
	case ev := <-got:
		if !strings.Contains(ev[1], "notifications/progress") {
			t.Fatalf("first event = %s", ev[1])
		}
		progressID = ev[0]
	case <-time.After(5 * time.Second):
		t.Fatal("the progress event did not arrive while the upstream was blocked: the stream is buffered")
	}
	close(gate)
	_, data := readEvent()
	var msg map[string]any
	json.Unmarshal([]byte(data), &msg)
	if names := toolNames(t, msg); !slices.Equal(names, []string{"admin_reset", "balance", "transfer"}) {
		t.Fatalf("bob's tools on the SSE stream = %v (get_quote and debug_dump must be filtered)", names)
	}
	resp.Body.Close()
	up.listGate.Store(nil)

	// Resume the stream after the progress event: the upstream replays the list on a GET.
	if progressID == "" {
		t.Fatal("the upstream sent no event ids; resumption cannot be tested")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, h.url+"/bank-sse/mcp", nil)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Authorization", "Bearer "+bob.token)
	req.Header.Set("Mcp-Session-Id", bob.session)
	req.Header.Set("MCP-Protocol-Version", bob.proto)
	req.Header.Set("Last-Event-ID", progressID)
	gresp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer gresp.Body.Close()
	if gresp.StatusCode != 200 {
		b, _ := io.ReadAll(gresp.Body)
		t.Fatalf("GET resume: %d %s", gresp.StatusCode, b)
	}
	br = bufio.NewReader(gresp.Body)
	_, data = readEvent()
	msg = nil
	json.Unmarshal([]byte(data), &msg)
	if names := toolNames(t, msg); !slices.Equal(names, []string{"admin_reset", "balance", "transfer"}) {
		t.Fatalf("bob's tools replayed on the GET stream = %v", names)
	}
}

// ---- upstream credential errors, produced for real by internal/upstream's providers

const (
	tenantID  = "11111111-1111-4111-8111-111111111111"
	mcpAPIID  = "aaaaaaaa-0000-4000-8000-000000000001" // mcpgate: the OBO middle tier
	filesID   = "aaaaaaaa-0000-4000-8000-000000000002"
	clientID  = "aaaaaaaa-0000-4000-8000-000000000003" // the MCP client
	reportsID = "aaaaaaaa-0000-4000-8000-000000000005" // nobody consented to it
	mcpSecret = "mcp-api-secret-value-42"
)

type entraEnv struct {
	url string
	em  *entra.Emulator
}

func newEntra(t *testing.T) *entraEnv {
	t.Helper()
	cfg := &config.Entra{
		Tenants: []config.EntraTenant{{
			ID: tenantID, Domains: []string{"contoso.com"}, DisplayName: "Contoso",
			Users: []config.EntraUser{
				{ObjectID: "0a11ce00-0000-4000-8000-000000000001", UserPrincipalName: "alice@contoso.com", DisplayName: "Alice", Password: "alice-pw"},
				{ObjectID: "0b0b0000-0000-4000-8000-000000000002", UserPrincipalName: "bob@contoso.com", DisplayName: "Bob", Password: "bob-pw", MFACode: "424242"},
			},
			AdminConsent: []string{"MCP API"},
			ConditionalAccess: []config.EntraConditionalAccess{{Name: "MFA for Files", ID: "cad00000-0000-4000-8000-000000000001",
				Users: []string{"bob@contoso.com"}, Apps: []string{"api://files"}, Require: "mfa"}},
		}},
		Apps: []config.EntraApp{
			{Name: "MCP API", ClientID: mcpAPIID, Tenant: tenantID, IdentifierURIs: []string{"api://mcp-api"}, AccessTokenAcceptedVersion: 2,
				Secrets: []config.EntraSecret{{Value: mcpSecret}}, Scopes: []config.EntraScope{{Value: "access_as_user"}},
				PreAuthorizedApplications: []config.EntraPreAuthorized{{AppID: clientID, Scopes: []string{"access_as_user"}}},
				RequiredResourceAccess:    []config.EntraRequiredAccess{{Resource: "api://files", Scopes: []string{"Files.Read"}}}},
			{Name: "Files API", ClientID: filesID, Tenant: tenantID, IdentifierURIs: []string{"api://files"}, Scopes: []config.EntraScope{{Value: "Files.Read"}}},
			{Name: "Reports API", ClientID: reportsID, Tenant: tenantID, IdentifierURIs: []string{"api://reports"}, AccessTokenAcceptedVersion: 2,
				Scopes: []config.EntraScope{{Value: "Reports.Read"}}},
			{Name: "MCP client", ClientID: clientID, Tenant: tenantID, PublicClient: true, RedirectURIs: []string{"http://localhost:3000/callback"}},
		},
	}
	srv := httptest.NewUnstartedServer(nil)
	srv.Start()
	t.Cleanup(srv.Close)
	em, err := entra.New(entra.Options{Config: cfg, BaseURL: srv.URL, Logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = em.Handler()
	return &entraEnv{url: srv.URL, em: em}
}

// userToken signs a user in (ROPC through the public client) for mcpgate's API.
func (e *entraEnv) userToken(t *testing.T, upn, pw string) string {
	t.Helper()
	resp, err := http.PostForm(e.em.TokenURL(tenantID), url.Values{"grant_type": {"password"}, "client_id": {clientID},
		"username": {upn}, "password": {pw}, "scope": {"api://mcp-api/access_as_user"}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	json.NewDecoder(resp.Body).Decode(&m)
	tok, _ := m["access_token"].(string)
	if tok == "" {
		t.Fatalf("sign-in of %s failed: %v", upn, m)
	}
	return tok
}

// registry verifies the emulator's v2 tokens for mcpgate's API.
func (e *entraEnv) registry(t *testing.T) *authn.Registry {
	t.Helper()
	ctx := context.Background()
	keys := jwkset.NewMemoryStorage()
	jwk, err := jwkset.NewJWKFromKey(e.em.PublicKey(), jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: e.em.KeyID(), ALG: jwkset.AlgRS256, USE: jwkset.UseSig}})
	if err != nil {
		t.Fatal(err)
	}
	keys.KeyWrite(ctx, jwk)
	reg, err := authn.NewRegistry(ctx, nil, authn.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	if err := reg.AddStatic(config.Issuer{Name: "entra", Issuer: e.em.V2Issuer(tenantID), Audiences: []string{mcpAPIID}}, keys); err != nil {
		t.Fatal(err)
	}
	return reg
}

const credsYAML = `
publicURL: PUBLIC
issuers: [{name: entra, issuer: "ISSUER", jwksURL: "ENTRA/jwks"}]
upstreamCredentials:
  connections:
    - {name: tracker, authorizeURL: "ENTRA/tp/authorize", tokenURL: "ENTRA/tp/token", clientId: tp-client, clientSecret: tp-secret-value, scopes: [issues.read]}
routes:
  - name: tracker
    path: /tracker/mcp
    upstream: {url: "JSONURL"}
    auth: {issuers: [entra], audiences: [MCPAPI]}
    upstreamAuth: {connection: {provider: tracker}}
  - name: reports
    path: /reports/mcp
    upstream: {url: "JSONURL"}
    auth: {issuers: [entra], audiences: [MCPAPI]}
    upstreamAuth: {obo: {tokenURL: "TOKENURL", clientId: MCPAPI, clientSecret: SECRET, scope: "api://reports/.default"}}
  - name: files
    path: /files/mcp
    upstream: {url: "JSONURL"}
    auth: {issuers: [entra], audiences: [MCPAPI]}
    upstreamAuth: {obo: {tokenURL: "TOKENURL", clientId: MCPAPI, clientSecret: SECRET, scope: "api://files/.default"}}
  - name: badsecret # another scope than "files": exchanged tokens are cached per app, upstream and scope
    path: /badsecret/mcp
    upstream: {url: "JSONURL"}
    auth: {issuers: [entra], audiences: [MCPAPI]}
    upstreamAuth: {obo: {tokenURL: "TOKENURL", clientId: MCPAPI, clientSecret: wrong-secret-xyz, scope: "api://reports/.default"}}
  - name: down
    path: /down/mcp
    upstream: {url: "JSONURL"}
    auth: {issuers: [entra], audiences: [MCPAPI]}
    upstreamAuth: {obo: {tokenURL: "DOWN/token", clientId: MCPAPI, clientSecret: SECRET, scope: "api://files/.default"}}
`

func TestUpstreamCredentialErrors(t *testing.T) {
	e := newEntra(t)
	up := newUpstream(t)
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	// The gateway's own URL is needed in the configuration (connect pages): reserve it.
	front := httptest.NewUnstartedServer(nil)
	public := "http://" + front.Listener.Addr().String()
	y := strings.NewReplacer("PUBLIC", public, "ISSUER", e.em.V2Issuer(tenantID), "ENTRA", e.url, "JSONURL", up.jsonURL,
		"TOKENURL", e.em.TokenURL(tenantID), "MCPAPI", mcpAPIID, "SECRET", mcpSecret, "DOWN", closed.URL).Replace(credsYAML)
	cfg, _, err := config.Parse("creds.yaml", []byte(y), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	keys, err := secrets.NewKeyring("k1", secrets.Key{ID: "k1", Material: make([]byte, 32)})
	if err != nil {
		t.Fatal(err)
	}
	set, err := upstream.Build(cfg, upstream.BuildOptions{Store: upstream.NewMemoryConnectionStore(), Keys: keys,
		CurrentUser: func(*http.Request) (string, bool) { return "", false }})
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, y, gwOptions{reg: e.registry(t), creds: set})
	// The reserved public address sends browsers on to the gateway (connect URLs resolve).
	front.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.URL.Scheme, r.URL.Host = "", ""
		http.Redirect(w, r, h.url+r.URL.RequestURI(), http.StatusTemporaryRedirect)
	})
	front.Start()
	t.Cleanup(front.Close)

	alice := e.userToken(t, "alice@contoso.com", "alice-pw")
	bob := e.userToken(t, "bob@contoso.com", "bob-pw")
	connectURL := public + "/connections/tracker/connect"
	callBody := `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"balance","arguments":{}}}`
	initBody := func(v string) string {
		return `{"jsonrpc":"2.0","id":7,"method":"initialize","params":{"protocolVersion":"` + v + `","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`
	}

	tests := []struct {
		name, route, token, proto, body string
		status                          int
		check                           func(t *testing.T, resp *http.Response, msg map[string]any)
	}{
		{"no connection, 2025-11-25 client: URL elicitation", "tracker", alice, "2025-11-25", callBody, 200, func(t *testing.T, _ *http.Response, msg map[string]any) {
			code, m := errorOf(msg)
			el := msg["error"].(map[string]any)["data"].(map[string]any)["elicitations"].([]any)[0].(map[string]any)
			if code != -32042 || el["mode"] != "url" || el["url"] != connectURL || !strings.Contains(m, connectURL) || msg["id"] != float64(7) {
				t.Fatalf("answer = %v", msg)
			}
		}},
		{"no connection, older client: tool error with the URL", "tracker", alice, "2025-06-18", callBody, 200, func(t *testing.T, _ *http.Response, msg map[string]any) {
			text, isErr := resultText(msg)
			if !isErr || !strings.Contains(text, connectURL) || msg["id"] != float64(7) {
				t.Fatalf("answer = %v", msg)
			}
		}},
		{"no connection, older client initializing: error with the URL", "tracker", alice, "", initBody("2025-06-18"), 200, func(t *testing.T, _ *http.Response, msg map[string]any) {
			code, m := errorOf(msg)
			if code != -32001 || !strings.Contains(m, connectURL) || msg["error"].(map[string]any)["data"].(map[string]any)["url"] != connectURL {
				t.Fatalf("answer = %v", msg)
			}
		}},
		{"no connection, 2025-11-25 client initializing: URL elicitation", "tracker", alice, "", initBody("2025-11-25"), 200, func(t *testing.T, _ *http.Response, msg map[string]any) {
			if code, _ := errorOf(msg); code != -32042 {
				t.Fatalf("answer = %v", msg)
			}
		}},
		{"admin consent missing: 403", "reports", alice, "2025-06-18", callBody, 403, func(t *testing.T, _ *http.Response, msg map[string]any) {
			_, m := errorOf(msg)
			if !strings.Contains(m, "admin consent is missing for app "+mcpAPIID+" scope api://reports/.default") || !strings.Contains(m, "administrator") {
				t.Fatalf("answer = %v", msg)
			}
		}},
		{"conditional access: 401 claims challenge", "files", bob, "2025-06-18", callBody, 401, func(t *testing.T, resp *http.Response, msg map[string]any) {
			wa := resp.Header.Get("WWW-Authenticate")
			if !strings.Contains(wa, `error="insufficient_claims"`) || !strings.Contains(wa, `claims="`) ||
				!strings.Contains(wa, `authorization_uri="`+e.url+"/"+tenantID+`/oauth2/v2.0/authorize"`) {
				t.Fatalf("WWW-Authenticate = %q", wa)
			}
			if _, m := errorOf(msg); !strings.Contains(m, "additional sign-in") {
				t.Fatalf("answer = %v", msg)
			}
		}},
		{"OBO works for alice: the upstream answers", "files", alice, "", initBody("2025-06-18"), 200, func(t *testing.T, _ *http.Response, msg map[string]any) {
			if msg["result"] == nil {
				t.Fatalf("answer = %v", msg)
			}
		}},
		{"mcpgate's secret refused: 502", "badsecret", alice, "2025-06-18", callBody, 502, func(t *testing.T, _ *http.Response, msg map[string]any) {
			_, m := errorOf(msg)
			d := msg["error"].(map[string]any)["data"].(map[string]any)
			if d["reason"] != "invalid_client" || d["retryable"] != false || !strings.Contains(m, "tell your administrator") {
				t.Fatalf("answer = %v", msg)
			}
		}},
		{"identity provider unreachable: 503", "down", alice, "2025-06-18", callBody, 503, func(t *testing.T, _ *http.Response, msg map[string]any) {
			d := msg["error"].(map[string]any)["data"].(map[string]any)
			if d["reason"] != "idp_unreachable" || d["retryable"] != true {
				t.Fatalf("answer = %v", msg)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &client{t: t, url: h.url + "/" + tt.route + "/mcp", token: tt.token}
			hdr := map[string]string{}
			if tt.proto != "" {
				hdr["MCP-Protocol-Version"] = tt.proto
			}
			resp, err := c.do(http.MethodPost, tt.body, hdr)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var msg map[string]any
			if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
				for _, d := range sseData(string(b)) {
					json.Unmarshal([]byte(d), &msg)
				}
			} else if err := json.Unmarshal(b, &msg); err != nil {
				t.Fatalf("body %q: %v", b, err)
			}
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, b)
			}
			for _, secret := range []string{alice, bob, mcpSecret, "wrong-secret-xyz", "tp-secret-value"} {
				if strings.Contains(string(b), secret) || strings.Contains(resp.Header.Get("WWW-Authenticate"), secret) {
					t.Fatalf("the answer leaks a secret: %s", b)
				}
			}
			tt.check(t, resp, msg)
		})
	}

	t.Run("audit and log carry the reason, never a secret", func(t *testing.T) {
		h.waitAudit(t, func(e audit.Event) bool { return e.Route == "down" })
		h.auditor.Close(context.Background())
		raw, err := os.ReadFile(h.auditFile)
		if err != nil {
			t.Fatal(err)
		}
		for _, secret := range []string{alice, bob, mcpSecret, "wrong-secret-xyz", "tp-secret-value"} {
			if strings.Contains(string(raw), secret) || strings.Contains(h.logs.String(), secret) {
				t.Fatalf("audit file or log contains a secret (%.8s…)", secret)
			}
		}
		events, _, err := audit.ReadJSONLines(strings.NewReader(string(raw)), audit.Filter{Limit: -1})
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{"tracker": "connection_missing", "reports": "consent_required", "badsecret": "invalid_client", "down": "idp_unreachable"}
		for route, reason := range want {
			found := false
			for _, ev := range events {
				if ev.Route == route && ev.Decision == "upstream_credential_error" && strings.Contains(ev.Reason, reason) {
					found = true
					if ev.UpstreamAuth == "" || ev.UpstreamAuth == "none" {
						t.Errorf("%s: upstreamAuth = %q", route, ev.UpstreamAuth)
					}
				}
			}
			if !found {
				t.Errorf("no audit event for %s with reason %s", route, reason)
			}
			if !strings.Contains(h.logs.String(), `"reason":"`+reason+`"`) {
				t.Errorf("the log has no line with reason %s", reason)
			}
		}
	})
}

// ---- benchmarks: the hooks' cost per request, without HTTP

func benchHooks(b *testing.B) (*interceptor, *authn.Principal) {
	cfg, _, err := config.Parse("bench.yaml", []byte(strings.NewReplacer("JSONURL", "http://127.0.0.1:1", "SSEURL", "http://127.0.0.1:1").Replace(policyYAML)),
		func(string) (string, bool) { return "", false })
	if err != nil {
		b.Fatal(err)
	}
	in, _, err := RouteHooks(cfg, 0, HookDeps{DynamicClient: func(context.Context, string) bool { return false }})
	if err != nil {
		b.Fatal(err)
	}
	p := &authn.Principal{Subject: "alice", ClientID: "vscode", Groups: []string{"staff", "finance"}, Scopes: []string{"mcp"}}
	return in.(*interceptor), p
}

func BenchmarkIntercept(b *testing.B) {
	for _, bc := range []struct{ name, body string }{
		{"tools_call", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"transfer","arguments":{"amount":50,"to":"DE1"}}}`},
		{"tools_call_renamed", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"stock_quote","arguments":{"symbol":"ACME"}}}`},
		{"tools_call_denied", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"transfer","arguments":{"amount":50000}}}`},
		{"tools_list", `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`},
	} {
		b.Run(bc.name, func(b *testing.B) {
			ic, p := benchHooks(b)
			msgs, batch, perr := mcpParse([]byte(bc.body))
			call := &gateway.Call{Route: "bank", HTTPMethod: http.MethodPost, Principal: p, Messages: msgs, Batch: batch, ParseErr: perr, Time: time.Now()}
			b.ReportAllocs()
			for b.Loop() {
				ic.Intercept(context.Background(), call)
			}
		})
	}
	// Baseline in the same run: the policy decision alone (authz.Route.Check).
	b.Run("baseline_authz_check", func(b *testing.B) {
		ic, p := benchHooks(b)
		msgs, _, _ := mcpParse([]byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"transfer","arguments":{"amount":50,"to":"DE1"}}}`))
		base := authzVars(p)
		b.ReportAllocs()
		for b.Loop() {
			v := base
			ic.authz.Check(withMessage(&v, &msgs[0]), msgs[0].Raw)
		}
	})
}

func BenchmarkObserve(b *testing.B) {
	a := audit.New(audit.Options{Buffer: 1 << 16}, audit.NewJSONLines(io.Discard))
	defer a.Close(context.Background())
	o := &observer{a: a, red: audit.NewRedactor(&config.AuditArguments{}), mode: "none"}
	e := &gateway.Event{Route: "bank", Start: time.Now(), HTTPMethod: "POST", MCPMethod: "tools/call", Tool: "transfer",
		Arguments: json.RawMessage(`{"amount":50,"to":"DE1","pin":"1234"}`), RequestID: json.RawMessage("1"), SessionID: "s1",
		Principal: &authn.Principal{Subject: "alice", ClientID: "vscode"}, Status: 200, UpstreamStatus: 200, Decision: "allow",
		Rules: []string{"staff"}, UserAgent: "ua/1"}
	b.ReportAllocs()
	for b.Loop() {
		o.Observe(context.Background(), e)
	}
}

func mcpParse(b []byte) ([]mcpmsg.Request, bool, error) {
	return mcpmsg.ParseRequest(b, jsonlimit.Limits{})
}

func authzVars(p *authn.Principal) authz.Vars {
	return authz.Vars{User: authz.UserFrom(p), Client: ruleexpr.Client{ID: p.ClientID}, Request: ruleexpr.Request{Route: "bank", IP: "127.0.0.1", Time: time.Now()}}
}
