package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpgate/mcpgate/internal/authn"
)

// bearerTransport adds a bearer token to every request (the MCP client's auth layer).
type bearerTransport struct {
	tok  string
	base http.RoundTripper
}

func (b bearerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.tok)
	return b.base.RoundTrip(r)
}

// upstreamLog records what reached the go-sdk upstream.
type upstreamLog struct {
	mu       sync.Mutex
	sessions map[string]string // method/kind → Mcp-Session-Id
	deletes  []int
	auth     []string
	protos   []string
}

type statusRec struct {
	http.ResponseWriter
	code int
}

func (s *statusRec) WriteHeader(c int) { s.code = c; s.ResponseWriter.WriteHeader(c) }
func (s *statusRec) Flush()            { s.ResponseWriter.(http.Flusher).Flush() }
func (s *statusRec) Unwrap() http.ResponseWriter {
	return s.ResponseWriter
}

// sdkUpstream starts a real go-sdk MCP server with a "slow" tool that reports progress and
// then blocks until release is closed.
func sdkUpstream(t *testing.T, release <-chan struct{}, h2c ...bool) (*httptest.Server, *upstreamLog) {
	t.Helper()
	srv := mcp.NewServer(&mcp.Implementation{Name: "upstream", Version: "1.0.0"}, nil)
	type in struct {
		City string `json:"city"`
	}
	mcp.AddTool(srv, &mcp.Tool{Name: "slow", Description: "reports progress, then waits"}, func(ctx context.Context, req *mcp.CallToolRequest, a in) (*mcp.CallToolResult, any, error) {
		if tok := req.Params.GetProgressToken(); tok != nil {
			if err := req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: tok, Progress: 1, Total: 2, Message: "halfway"}); err != nil {
				return nil, nil, err
			}
		}
		select {
		case <-release:
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		case <-time.After(10 * time.Second):
			return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: "progress never reached the client"}}}, nil, nil
		}
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "sunny in " + a.City}}}, nil, nil
	})
	mcp.AddTool(srv, &mcp.Tool{Name: "secret", Description: "hidden by policy"}, func(ctx context.Context, req *mcp.CallToolRequest, a in) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "secret"}}}, nil, nil
	})
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil)
	log := &upstreamLog{sessions: map[string]string{}}
	hs := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		log.mu.Lock()
		log.auth = append(log.auth, r.Header.Get("Authorization"))
		log.protos = append(log.protos, r.Proto)
		key := r.Method
		if r.Method == http.MethodPost {
			key = "POST"
		}
		log.sessions[key] = r.Header.Get("Mcp-Session-Id")
		log.mu.Unlock()
		sr := &statusRec{ResponseWriter: w, code: 200}
		h.ServeHTTP(sr, r)
		if r.Method == http.MethodDelete {
			log.mu.Lock()
			log.deletes = append(log.deletes, sr.code)
			log.mu.Unlock()
		}
	}))
	if len(h2c) > 0 && h2c[0] {
		hs.Config.Protocols = new(http.Protocols)
		hs.Config.Protocols.SetHTTP1(true)
		hs.Config.Protocols.SetUnencryptedHTTP2(true)
	}
	hs.Start()
	t.Cleanup(hs.Close)
	return hs, log
}

// TestProxyRealMCPServer drives the official go-sdk client against the official go-sdk
// server through the gateway.
func TestProxyRealMCPServer(t *testing.T) {
	for _, tc := range []struct {
		name  string
		h2c   bool
		proto string
	}{{"HTTP/1.1 upstream", false, "HTTP/1.1"}, {"h2c upstream", true, "HTTP/2.0"}} {
		t.Run(tc.name, func(t *testing.T) { testProxyRealMCPServer(t, tc.h2c, tc.proto) })
	}
}

func testProxyRealMCPServer(t *testing.T, h2c bool, proto string) {
	release := make(chan struct{})
	up, ulog := sdkUpstream(t, release, h2c)
	var (
		obsMu  sync.Mutex
		events []*Event
	)
	_, base := newGateway(t, Options{Routes: []RouteOptions{{
		Name: "weather", Path: "/weather/mcp", Upstream: up.URL + "/mcp", Verifier: testVerifier(t), Scopes: []string{"mcp.tools"}, H2C: h2c,
		Observer: ObserverFunc(func(_ context.Context, e *Event) { obsMu.Lock(); events = append(events, e); obsMu.Unlock() }),
	}}})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	var (
		progressMu sync.Mutex
		progress   []string
		once       sync.Once
	)
	client := mcp.NewClient(&mcp.Implementation{Name: "test-client", Version: "1.0.0"}, &mcp.ClientOptions{
		ProgressNotificationHandler: func(_ context.Context, req *mcp.ProgressNotificationClientRequest) {
			progressMu.Lock()
			progress = append(progress, req.Params.Message)
			progressMu.Unlock()
			once.Do(func() { close(release) }) // only now may the tool finish
		},
	})
	tr := &mcp.StreamableClientTransport{Endpoint: base + "/weather/mcp", HTTPClient: &http.Client{Timeout: 15 * time.Second, Transport: bearerTransport{tok: mintToken(t, nil), base: http.DefaultTransport}}, MaxRetries: -1}
	cs, err := client.Connect(ctx, tr, nil)
	if err != nil {
		t.Fatalf("initialize through the gateway: %v", err)
	}
	tools, err := cs.ListTools(ctx, nil)
	if err != nil || len(tools.Tools) != 2 {
		t.Fatalf("tools/list: %v %+v", err, tools)
	}
	params := &mcp.CallToolParams{Name: "slow", Arguments: map[string]any{"city": "Paris"}}
	params.SetProgressToken("p1")
	res, err := cs.CallTool(ctx, params)
	if err != nil {
		t.Fatalf("tools/call: %v", err)
	}
	if res.IsError || res.Content[0].(*mcp.TextContent).Text != "sunny in Paris" {
		t.Fatalf("result %+v", res.Content[0])
	}
	progressMu.Lock()
	if len(progress) != 1 || progress[0] != "halfway" {
		t.Errorf("progress %v", progress)
	}
	progressMu.Unlock()

	// The session id the client holds is the upstream's, on every request.
	sid := cs.ID()
	ulog.mu.Lock()
	if sid == "" || ulog.sessions["POST"] != sid {
		t.Errorf("client session %q, upstream saw %q", sid, ulog.sessions["POST"])
	}
	for _, p := range ulog.protos {
		if p != proto {
			t.Errorf("upstream request over %s, want %s", p, proto)
		}
	}
	for _, a := range ulog.auth {
		if a != "" {
			t.Errorf("the upstream received an Authorization header %q", a)
		}
	}
	ulog.mu.Unlock()

	// DELETE ends the session.
	if err := cs.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	ulog.mu.Lock()
	if len(ulog.deletes) != 1 || ulog.deletes[0] >= 300 || ulog.sessions["DELETE"] != sid {
		t.Errorf("DELETE reached the upstream as %v for %q", ulog.deletes, ulog.sessions["DELETE"])
	}
	ulog.mu.Unlock()
	resp, body := post(t, base+"/weather/mcp", `{"jsonrpc":"2.0","id":9,"method":"tools/list"}`, map[string]string{
		"Authorization": "Bearer " + mintToken(t, nil), "Mcp-Session-Id": sid, "MCP-Protocol-Version": "2025-06-18"})
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("after DELETE: %d %s, want 404", resp.StatusCode, body)
	}

	// The observer saw the tools/call with its tool, principal and upstream status. It is
	// told after the response ended, which the client may notice first: wait a little.
	var call *Event
	for deadline := time.Now().Add(2 * time.Second); call == nil && time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		obsMu.Lock()
		for _, e := range events {
			if e.MCPMethod == "tools/call" {
				call = e
			}
		}
		obsMu.Unlock()
	}
	obsMu.Lock()
	defer obsMu.Unlock()
	if call == nil || call.Tool != "slow" || call.Principal == nil || call.Principal.Subject != "alice" || call.UpstreamStatus != 200 || call.Decision != "allow" || string(call.Arguments) != `{"city":"Paris"}` {
		t.Fatalf("observer event %+v", call)
	}
}

// TestInterceptor: a policy refuses a tool, asks for step-up on another, and rewrites the
// tools/list stream event by event.
func TestInterceptor(t *testing.T) {
	up, _ := sdkUpstream(t, make(chan struct{}))
	ic := InterceptorFunc(func(ctx context.Context, c *Call) Verdict {
		if c.Header.Get("Authorization") != "" {
			t.Error("the interceptor saw the token")
		}
		for _, m := range c.Messages {
			switch {
			case m.Tool == "secret" && c.Principal != nil && c.Principal.Subject == "alice":
				return Verdict{Deny: &Denial{Message: "tool secret is not allowed for alice"}, Reasons: []string{"tool-denied"}}
			case m.Tool == "secret":
				return Verdict{Deny: &Denial{InsufficientScope: []string{"mcp.admin"}}}
			case m.Method == "tools/list":
				return Verdict{Rewrite: func(_ context.Context, msg []byte) ([]byte, error) {
					var v map[string]any
					if err := json.Unmarshal(msg, &v); err != nil {
						return nil, err
					}
					res, _ := v["result"].(map[string]any)
					tools, _ := res["tools"].([]any)
					var kept []any
					for _, tl := range tools {
						if tl.(map[string]any)["name"] != "secret" {
							kept = append(kept, tl)
						}
					}
					res["tools"] = kept
					return json.Marshal(v)
				}}
			}
		}
		return Verdict{}
	})
	_, base := newGateway(t, Options{Routes: []RouteOptions{{Name: "weather", Path: "/mcp", Upstream: up.URL, Verifier: testVerifier(t), Interceptor: ic}}})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	connect := func(tok string) *mcp.ClientSession {
		client := mcp.NewClient(&mcp.Implementation{Name: "c", Version: "1"}, nil)
		cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: base + "/mcp", HTTPClient: &http.Client{Transport: bearerTransport{tok: tok, base: http.DefaultTransport}}, MaxRetries: -1, DisableStandaloneSSE: true}, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cs.Close() })
		return cs
	}
	cs := connect(mintToken(t, nil))
	tools, err := cs.ListTools(ctx, nil)
	if err != nil || len(tools.Tools) != 1 || tools.Tools[0].Name != "slow" {
		t.Fatalf("filtered tools/list: %v %+v", err, tools)
	}
	_, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "secret", Arguments: map[string]any{}})
	if err == nil || !strings.Contains(err.Error(), "tool secret is not allowed for alice") {
		t.Fatalf("denied call: %v", err)
	}

	// Step-up: a 403 insufficient_scope challenge listing the wanted and granted scopes.
	bob := mintToken(t, map[string]any{"sub": "bob", "scope": "mcp.tools"})
	cs2 := connect(bob)
	resp, body := post(t, base+"/mcp", `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"secret","arguments":{}}}`, map[string]string{
		"Authorization": "Bearer " + bob, "Mcp-Session-Id": cs2.ID(), "MCP-Protocol-Version": "2025-06-18"})
	www := resp.Header.Get("WWW-Authenticate")
	if resp.StatusCode != 403 || !strings.Contains(www, `error="insufficient_scope"`) || !strings.Contains(www, `scope="mcp.admin mcp.tools"`) {
		t.Fatalf("step-up: %d %q %s", resp.StatusCode, www, body)
	}
	_ = authn.CodeInsufficientScope
}
