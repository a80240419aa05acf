package gateway

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpgate/mcpgate/internal/authz"
	"github.com/mcpgate/mcpgate/internal/authz/ruleexpr"
	mcpmsg "github.com/mcpgate/mcpgate/internal/mcp"
)

// protoUpstream is a go-sdk MCP server (stateless or stateful) that records every HTTP
// request reaching it.
type protoUpstream struct {
	url string
	srv *mcp.Server
	mu  sync.Mutex
	got []string // "MCP-Protocol-Version Mcp-Method Mcp-Name body"
}

func (u *protoUpstream) requests() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return slices.Clone(u.got)
}

func newProtoUpstream(t *testing.T, stateless bool, jsonResponse ...bool) *protoUpstream {
	t.Helper()
	srv := mcp.NewServer(&mcp.Implementation{Name: "upstream", Version: "1"}, &mcp.ServerOptions{
		SetCacheable:       func(_ context.Context, _ mcp.Request, c *mcp.Cacheable) { c.TTLMs, c.CacheScope = 600_000, "public" },
		SubscribeHandler:   func(context.Context, *mcp.SubscribeRequest) error { return nil },
		UnsubscribeHandler: func(context.Context, *mcp.UnsubscribeRequest) error { return nil },
	})
	type in struct {
		Text string `json:"text,omitempty"`
	}
	for _, name := range []string{"echo", "secret", "greet"} {
		mcp.AddTool(srv, &mcp.Tool{Name: name, Description: "the " + name + " tool"}, func(_ context.Context, _ *mcp.CallToolRequest, a in) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: name + ": " + a.Text}}}, nil, nil
		})
	}
	// region's argument travels in the Mcp-Param-Region header too (x-mcp-header).
	srv.AddTool(&mcp.Tool{Name: "region", InputSchema: map[string]any{"type": "object", "properties": map[string]any{
		"region": map[string]any{"type": "string", "x-mcp-header": "Region"}}}},
		func(_ context.Context, r *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "region: " + string(r.Params.Arguments)}}}, nil
		})
	for _, uri := range []string{"file:///public", "file:///secret"} {
		srv.AddResource(&mcp.Resource{URI: uri, Name: strings.TrimPrefix(uri, "file:///")}, func(_ context.Context, r *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
			return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: r.Params.URI, Text: "contents"}}}, nil
		})
	}
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, &mcp.StreamableHTTPOptions{Stateless: stateless, JSONResponse: len(jsonResponse) > 0 && jsonResponse[0]})
	u := &protoUpstream{srv: srv}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(strings.NewReader(string(b)))
		u.mu.Lock()
		u.got = append(u.got, strings.Join([]string{r.Header.Get("Mcp-Protocol-Version"), r.Header.Get("Mcp-Method"), r.Header.Get("Mcp-Name"), string(b)}, " "))
		u.mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(hs.Close)
	u.url = hs.URL
	return u
}

// protoPolicy is the route's policy and tools section, as internal/app maps them from
// configuration: secret things are denied, everything else allowed, greet renamed hello.
var protoPolicy = authz.RouteOptions{
	Name: "proto", At: "routes[0].policy",
	Policy: &authz.PolicyOptions{Rules: []authz.Rule{
		{Name: "no-secret", Effect: authz.EffectDeny, Condition: `mcp.tool == "secret" || mcp.uri == "file:///secret"`, Message: "secret things stay secret"},
		{Name: "everyone", Effect: authz.EffectAllow, Condition: "true"},
	}},
	Tools: &authz.ToolsOptions{Overrides: map[string]authz.ToolOverride{"greet": {Name: "hello"}}},
}

// policyInterceptor is the policy and tools section of protoPolicy applied as
// internal/app applies them (Check, list filters, the listen filter).
func policyInterceptor(t *testing.T) Interceptor {
	t.Helper()
	az, err := authz.NewRoute(protoPolicy, nil)
	if err != nil {
		t.Fatal(err)
	}
	rewriter := func(f *authz.ListFilter) Rewriter {
		if f == nil {
			return nil
		}
		return func(_ context.Context, msg []byte) ([]byte, error) { return f.Filter(msg) }
	}
	return InterceptorFunc(func(_ context.Context, c *Call) Verdict {
		vars := func() *authz.Vars {
			return &authz.Vars{User: authz.UserFrom(c.Principal), Request: ruleexpr.Request{Route: c.Route, Time: c.Time}}
		}
		if c.HTTPMethod == http.MethodGet {
			return Verdict{Rewrite: rewriter(az.StreamFilter(vars()))}
		}
		if c.HTTPMethod != http.MethodPost || len(c.Messages) != 1 || c.Messages[0].IsResponse() {
			return Verdict{}
		}
		m := &c.Messages[0]
		v := vars()
		v.MCP = ruleexpr.MCP{Method: m.Method, Tool: m.Tool, Prompt: m.Prompt, URI: m.URI, RawArguments: m.Arguments}
		res := az.Check(v, m.Raw)
		if !res.Forward() {
			return Verdict{Decision: "deny", Tool: res.Tool, Deny: &Denial{Code: res.Error.Code, Message: res.Error.Message}}
		}
		out := Verdict{Tool: res.Tool, Body: res.Message}
		switch {
		case authz.IsListMethod(m.Method):
			out.Rewrite = rewriter(az.ListFilter(vars(), m.Method))
		case m.Method == "subscriptions/listen":
			out.Rewrite = rewriter(az.ListenFilter(vars()))
		}
		return out
	})
}

// protoGateway serves one permissive route to up with the policy above; events receives
// the observer's events.
func protoGateway(t *testing.T, up string) (string, *eventLog) {
	t.Helper()
	ev := &eventLog{}
	_, gw := newGateway(t, Options{Routes: []RouteOptions{{Name: "proto", Path: "/proto/mcp", Upstream: up, Mode: ModePermissive,
		Interceptor: policyInterceptor(t), Observer: ev, ListTTL: 5 * time.Second}}})
	return gw + "/proto/mcp", ev
}

type eventLog struct {
	mu  sync.Mutex
	evs []Event
}

func (l *eventLog) Observe(_ context.Context, e *Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.evs = append(l.evs, *e)
}

// find waits for an event with this MCP method and target.
func (l *eventLog) find(t *testing.T, method, target string) Event {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		l.mu.Lock()
		for _, e := range l.evs {
			if e.MCPMethod == method && firstNonEmpty(e.Tool, e.URI, e.Prompt) == target {
				l.mu.Unlock()
				return e
			}
		}
		l.mu.Unlock()
	}
	t.Fatalf("no event for %s %s", method, target)
	return Event{}
}

// TestProtocolVersionsThroughGateway drives go-sdk v1.8.0 clients on 2026-07-28 and
// 2025-11-25 through the gateway to stateless and stateful go-sdk upstreams: connect
// (server/discover or initialize), a filtered list marked private, a call allowed and one
// denied by the policy, a renamed tool, and the version on the observer's events.
func TestProtocolVersionsThroughGateway(t *testing.T) {
	for _, tc := range []struct {
		name      string
		stateless bool
		ask, want string
		json      bool // the upstream answers application/json instead of SSE
	}{
		{"stateless upstream, 2026-07-28 client", true, "", mcpmsg.Version20260728, false},
		{"stateless JSON upstream, 2026-07-28 client", true, "", mcpmsg.Version20260728, true},
		{"stateless JSON upstream, 2025-11-25 client", true, mcpmsg.Version20251125, mcpmsg.Version20251125, true},
		{"stateless upstream, 2025-11-25 client", true, mcpmsg.Version20251125, mcpmsg.Version20251125, false},
		{"stateful upstream, 2026-07-28 client falls back", false, "", mcpmsg.Version20251125, false},
		{"stateful upstream, 2025-11-25 client", false, mcpmsg.Version20251125, mcpmsg.Version20251125, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := newProtoUpstream(t, tc.stateless, tc.json)
			url, events := protoGateway(t, up.url)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cs, err := mcp.NewClient(&mcp.Implementation{Name: "t", Version: "1"}, nil).Connect(ctx,
				&mcp.StreamableClientTransport{Endpoint: url}, &mcp.ClientSessionOptions{ProtocolVersion: tc.ask})
			if err != nil {
				t.Fatalf("connect: %v", err)
			}
			defer cs.Close()
			if got := cs.InitializeResult().ProtocolVersion; got != tc.want {
				t.Fatalf("negotiated %s, want %s", got, tc.want)
			}

			tools, err := cs.ListTools(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, tl := range tools.Tools {
				names = append(names, tl.Name)
			}
			if slices.Contains(names, "secret") || !slices.Contains(names, "echo") || !slices.Contains(names, "hello") || slices.Contains(names, "greet") {
				t.Errorf("tools = %v, want echo and hello (greet renamed), not secret", names)
			}
			if tools.CacheScope != "private" || tools.TTLMs != 5000 {
				t.Errorf("filtered list: cacheScope %q, ttlMs %d; want private, 5000 (the route's ListTTL)", tools.CacheScope, tools.TTLMs)
			}
			res, err := cs.ListResources(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Resources) != 1 || res.Resources[0].URI != "file:///public" || res.CacheScope != "private" {
				t.Errorf("resources = %+v (cacheScope %q), want only file:///public, private", res.Resources, res.CacheScope)
			}

			r, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "hi"}})
			if err != nil || r.IsError || r.Content[0].(*mcp.TextContent).Text != "echo: hi" {
				t.Fatalf("echo: %v %+v", err, r)
			}
			r, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "hello", Arguments: map[string]any{"text": "x"}})
			if err != nil || r.IsError || r.Content[0].(*mcp.TextContent).Text != "greet: x" {
				t.Fatalf("hello (renamed greet): %v %+v", err, r)
			}
			before := len(up.requests())
			_, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "secret", Arguments: map[string]any{}})
			if err == nil || !strings.Contains(err.Error(), "secret things stay secret") {
				t.Fatalf("secret: %v, want the policy's refusal", err)
			}
			if n := len(up.requests()); n != before {
				t.Errorf("the upstream saw the denied call")
			}

			e := events.find(t, "tools/call", "greet")
			if e.ProtocolVersion != tc.want || e.Decision != "allow" {
				t.Errorf("event: version %q decision %q, want %s allow", e.ProtocolVersion, e.Decision, tc.want)
			}
			if e := events.find(t, "tools/call", "secret"); e.ProtocolVersion != tc.want || e.Decision != "deny" {
				t.Errorf("event: version %q decision %q, want %s deny", e.ProtocolVersion, e.Decision, tc.want)
			}
			if tc.want == mcpmsg.Version20260728 {
				for _, g := range up.requests() {
					if strings.Contains(g, `"tools/call"`) && strings.Contains(g, `"greet"`) && !strings.HasPrefix(g, "2026-07-28 tools/call greet ") {
						t.Errorf("the renamed call reached the upstream with headers that do not name it: %s", g)
					}
				}
			}
		})
	}
}

// TestProtocolHeadersRefusedByGateway sends 2026-07-28 requests whose headers are
// missing, duplicated or disagree with the body, and batches: the gateway answers 400
// with the JSON-RPC error a 2026-07-28 server sends, and the upstream never sees them.
func TestProtocolHeadersRefusedByGateway(t *testing.T) {
	up := newProtoUpstream(t, true)
	url, _ := protoGateway(t, up.url)
	meta := `"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}`
	callSecret := `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"secret","arguments":{},` + meta + `}}`
	list := `{"jsonrpc":"2.0","id":4,"method":"tools/list","params":{` + meta + `}}`
	v26 := "2026-07-28"
	tests := []struct {
		name string
		hdr  [][2]string
		body string
		code int
		msg  string
	}{
		{"missing Mcp-Method", [][2]string{{"Mcp-Protocol-Version", v26}, {"Mcp-Name", "secret"}}, callSecret,
			mcpmsg.CodeHeaderMismatch, "missing required Mcp-Method header"},
		{"Mcp-Method says list, body calls", [][2]string{{"Mcp-Protocol-Version", v26}, {"Mcp-Method", "tools/list"}, {"Mcp-Name", "secret"}}, callSecret,
			mcpmsg.CodeHeaderMismatch, `Mcp-Method header "tools/list" does not match the body's method "tools/call"`},
		{"Mcp-Name names another tool", [][2]string{{"Mcp-Protocol-Version", v26}, {"Mcp-Method", "tools/call"}, {"Mcp-Name", "echo"}}, callSecret,
			mcpmsg.CodeHeaderMismatch, `Mcp-Name header "echo" does not match the body's params.name "secret"`},
		{"Mcp-Name base64 of another tool", [][2]string{{"Mcp-Protocol-Version", v26}, {"Mcp-Method", "tools/call"}, {"Mcp-Name", "=?base64?ZWNobw==?="}}, callSecret,
			mcpmsg.CodeHeaderMismatch, `Mcp-Name header "echo" does not match`},
		{"missing Mcp-Name", [][2]string{{"Mcp-Protocol-Version", v26}, {"Mcp-Method", "tools/call"}}, callSecret,
			mcpmsg.CodeHeaderMismatch, "missing required Mcp-Name header"},
		{"Mcp-Name twice", [][2]string{{"Mcp-Protocol-Version", v26}, {"Mcp-Method", "tools/call"}, {"Mcp-Name", "secret"}, {"Mcp-Name", "echo"}}, callSecret,
			mcpmsg.CodeHeaderMismatch, "Mcp-Name header appears more than once"},
		{"Mcp-Name on a list", [][2]string{{"Mcp-Protocol-Version", v26}, {"Mcp-Method", "tools/list"}, {"Mcp-Name", "secret"}}, list,
			mcpmsg.CodeHeaderMismatch, "names nothing"},
		{"_meta version without the header", [][2]string{{"Mcp-Method", "tools/list"}}, list,
			mcpmsg.CodeHeaderMismatch, "Mcp-Protocol-Version header is required"},
		{"_meta version differs from the header", [][2]string{{"Mcp-Protocol-Version", "2025-11-25"}, {"Mcp-Method", "tools/list"}}, list,
			mcpmsg.CodeHeaderMismatch, `"2025-11-25" does not match`},
		{"header without _meta", [][2]string{{"Mcp-Protocol-Version", v26}, {"Mcp-Method", "tools/list"}}, `{"jsonrpc":"2.0","id":4,"method":"tools/list"}`,
			mcpmsg.CodeInvalidParams, "missing or invalid _meta field"},
		{"batch", [][2]string{{"Mcp-Protocol-Version", v26}, {"Mcp-Method", "tools/list"}}, "[" + list + "]",
			mcpmsg.CodeInvalidRequest, "batches are not allowed in protocol version 2026-07-28"},
		{"batch marked only by _meta", nil, "[" + list + "," + callSecret + "]",
			mcpmsg.CodeInvalidRequest, "batches are not allowed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := len(up.requests())
			req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(tc.body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json, text/event-stream")
			for _, kv := range tc.hdr {
				req.Header.Add(kv[0], kv[1])
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var msg struct {
				ID    json.RawMessage
				Error struct {
					Code    int
					Message string
					Data    map[string]string
				}
			}
			if err := json.Unmarshal(b, &msg); err != nil {
				t.Fatalf("%d %s", resp.StatusCode, b)
			}
			if resp.StatusCode != http.StatusBadRequest || msg.Error.Code != tc.code || !strings.Contains(msg.Error.Message, tc.msg) || msg.Error.Data["route"] != "proto" {
				t.Errorf("got %d %s, want 400 with code %d and a message containing %q", resp.StatusCode, b, tc.code, tc.msg)
			}
			if !strings.HasPrefix(tc.body, "[") && string(msg.ID) == "null" {
				t.Errorf("the error does not answer the request's id: %s", b)
			}
			if got := up.requests(); len(got) != before {
				t.Errorf("the upstream saw it: %v", got[before:])
			}
		})
	}

	// What earlier versions send is forwarded as before: a 2025-11-25 request's stray
	// Mcp-Method is not the gateway's business (its upstream does not read it).
	before := len(up.requests())
	resp, body := post(t, url, `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, map[string]string{"Mcp-Protocol-Version": "2025-11-25", "Mcp-Method": "ping"})
	if resp.StatusCode != http.StatusOK || len(up.requests()) != before+1 || !strings.Contains(body, `"echo"`) || strings.Contains(body, `"secret"`) {
		t.Errorf("2025-11-25 tools/list: %d %s", resp.StatusCode, body)
	}
}

// TestSubscriptionsListenFiltered: on a 2026-07-28 subscriptions/listen stream, an
// update about a resource the policy hides is dropped; one about a visible resource
// arrives, and so do list-changed notifications.
func TestSubscriptionsListenFiltered(t *testing.T) {
	up := newProtoUpstream(t, true)
	url, _ := protoGateway(t, up.url)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	updates := make(chan string, 10)
	toolsChanged := make(chan struct{}, 10)
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "t", Version: "1"}, &mcp.ClientOptions{
		ResourceUpdatedHandler: func(_ context.Context, r *mcp.ResourceUpdatedNotificationRequest) { updates <- r.Params.URI },
		ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) { toolsChanged <- struct{}{} },
	}).Connect(ctx, &mcp.StreamableClientTransport{Endpoint: url}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	if v := cs.InitializeResult().ProtocolVersion; v != mcpmsg.Version20260728 {
		t.Fatalf("negotiated %s", v)
	}
	for _, uri := range []string{"file:///secret", "file:///public"} {
		if err := cs.Subscribe(ctx, &mcp.SubscribeParams{URI: uri}); err != nil {
			t.Fatalf("subscribe %s: %v", uri, err)
		}
	}
	// Send both updates until the listen streams are open upstream and one arrives.
	func() {
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
			for _, uri := range []string{"file:///secret", "file:///public"} {
				if err := up.srv.ResourceUpdated(ctx, &mcp.ResourceUpdatedNotificationParams{URI: uri}); err != nil {
					t.Fatal(err)
				}
			}
			select {
			case got := <-updates:
				if got != "file:///public" {
					t.Fatalf("update about %s reached the client", got)
				}
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
		t.Fatal("no update about file:///public")
	}()
	select {
	case got := <-updates:
		t.Fatalf("update about %s reached the client", got)
	case <-time.After(300 * time.Millisecond):
	}

	// The listen stream Connect opened for list changes carries them through the gateway.
	mcp.AddTool(up.srv, &mcp.Tool{Name: "later"}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{}, nil, nil
	})
	select {
	case <-toolsChanged:
	case <-time.After(5 * time.Second):
		t.Fatal("notifications/tools/list_changed did not reach the client")
	}
}

// TestProtocolHeadersCORSAndLookAlikes: browsers may send and read the 2026-07-28
// headers; names that only fold to an MCP header never reach the upstream.
func TestProtocolHeadersCORSAndLookAlikes(t *testing.T) {
	up, seen := echoUpstream(t)
	_, base := newGateway(t, Options{Routes: []RouteOptions{{Name: "web", Path: "/web/mcp", Upstream: up.URL, Mode: ModePermissive,
		CORS: &CORSOptions{AllowOrigins: []string{"https://app.example.com"}}}}})
	req, _ := http.NewRequest(http.MethodOptions, base+"/web/mcp", nil)
	req.Header.Set("Origin", "https://app.example.com")
	req.Header.Set("Access-Control-Request-Method", "POST")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for _, h := range []string{"Access-Control-Allow-Headers", "Access-Control-Expose-Headers"} {
		if v := resp.Header.Get(h); !strings.Contains(v, "Mcp-Method") || !strings.Contains(v, "Mcp-Name") {
			t.Errorf("%s = %q, want Mcp-Method and Mcp-Name", h, v)
		}
	}

	body := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}`
	req, _ = http.NewRequest(http.MethodPost, base+"/web/mcp", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range map[string]string{"Mcp-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call", "Mcp-Name": "echo",
		"Mcp-Param-Region": "eu"} {
		req.Header.Set(k, v)
	}
	for _, k := range []string{"Mcp_Name", "mcp.method", "Mcp_Session_Id", "Mcp_Param_Region"} {
		req.Header[k] = []string{"secret"}
	}
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	h, _, _ := seen.last()
	if resp.StatusCode != http.StatusOK || h == nil {
		t.Fatalf("status %d", resp.StatusCode)
	}
	for k := range h {
		if strings.ContainsAny(k, "_.") {
			t.Errorf("look-alike %s reached the upstream", k)
		}
	}
	if h.Get("Mcp-Name") != "echo" || h.Get("Mcp-Param-Region") != "eu" {
		t.Errorf("the real headers were not forwarded: %v", h)
	}
}

func TestMarkPrivate(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
		add            bool
	}{
		{"2026: set and cap", `{"jsonrpc":"2.0","id":1,"result":{"tools":[],"ttlMs":600000,"cacheScope":"public"}}`,
			`{"id":1,"jsonrpc":"2.0","result":{"cacheScope":"private","tools":[],"ttlMs":5000}}`, true},
		{"2026: added when absent, a short ttl kept", `{"jsonrpc":"2.0","id":1,"result":{"prompts":[],"ttlMs":10}}`,
			`{"id":1,"jsonrpc":"2.0","result":{"cacheScope":"private","prompts":[],"ttlMs":10}}`, true},
		{"2025: public overwritten", `{"jsonrpc":"2.0","id":1,"result":{"resources":[],"cacheScope":"public"}}`,
			`{"id":1,"jsonrpc":"2.0","result":{"cacheScope":"private","resources":[]}}`, false},
		{"2025: nothing to overwrite", `{"jsonrpc":"2.0","id":1,"result":{"resources":[]}}`, `{"jsonrpc":"2.0","id":1,"result":{"resources":[]}}`, false},
		{"ttl not a number", `{"jsonrpc":"2.0","id":1,"result":{"resourceTemplates":[],"ttlMs":"forever"}}`,
			`{"id":1,"jsonrpc":"2.0","result":{"resourceTemplates":[],"ttlMs":5000}}`, false},
		{"not a list", `{"jsonrpc":"2.0","id":1,"result":{"content":[],"cacheScope":"public"}}`, `{"jsonrpc":"2.0","id":1,"result":{"content":[],"cacheScope":"public"}}`, true},
		{"notification", `{"jsonrpc":"2.0","method":"notifications/tools/list_changed","params":{"tools":[]}}`, `{"jsonrpc":"2.0","method":"notifications/tools/list_changed","params":{"tools":[]}}`, true},
		{"batch", `[{"jsonrpc":"2.0","id":1,"result":{"tools":[],"cacheScope":"public"}},{"jsonrpc":"2.0","id":2,"result":{}}]`,
			`[{"id":1,"jsonrpc":"2.0","result":{"cacheScope":"private","tools":[]}},{"jsonrpc":"2.0","id":2,"result":{}}]`, false},
		{"no HTML escaping", `{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"a<b>&c"}]}}`,
			`{"id":1,"jsonrpc":"2.0","result":{"cacheScope":"private","tools":[{"name":"a<b>&c"}]}}`, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(markPrivate([]byte(tc.in), tc.add, 5000)); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

// TestListenStreamsCapped: a subscriptions/listen stream counts against
// limits.maxStreamsPerUser as a GET stream does.
func TestListenStreamsCapped(t *testing.T) {
	up := newProtoUpstream(t, true)
	_, base := newGateway(t, Options{Routes: []RouteOptions{{Name: "proto", Path: "/proto/mcp", Upstream: up.url, Mode: ModePermissive, MaxStreamsPerUser: 1}}})
	listen := `{"jsonrpc":"2.0","id":1,"method":"subscriptions/listen","params":{"notifications":{"toolsListChanged":true},` +
		`"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}`
	open := func() *http.Response {
		req, _ := http.NewRequest(http.MethodPost, base+"/proto/mcp", strings.NewReader(listen))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header.Set("Mcp-Protocol-Version", "2026-07-28")
		req.Header.Set("Mcp-Method", "subscriptions/listen")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	if r := open(); r.StatusCode != http.StatusOK || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("first listen: %d %s", r.StatusCode, r.Header.Get("Content-Type"))
	}
	if r := open(); r.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("second listen: %d, want 429", r.StatusCode)
	}
}

// TestParamHeadersChecked: once the gateway relayed a 2026-07-28 tools/list, calls to a
// tool with x-mcp-header arguments must carry matching Mcp-Param-* headers; a go-sdk
// client's do, and wrong or missing ones are refused before the upstream.
func TestParamHeadersChecked(t *testing.T) {
	up := newProtoUpstream(t, true)
	url, _ := protoGateway(t, up.url)
	meta := `"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}`
	call := `{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"region","arguments":{"region":"eu-west"},` + meta + `}}`
	send := func(param string) (int, string) {
		h := map[string]string{"Mcp-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call", "Mcp-Name": "region"}
		if param != "" {
			h["Mcp-Param-Region"] = param
		}
		resp, body := post(t, url, call, h)
		return resp.StatusCode, body
	}
	// Before any list, the gateway cannot know the binding: the upstream checks.
	before := len(up.requests())
	if code, body := send("us-east"); code != http.StatusBadRequest || len(up.requests()) != before+1 || !strings.Contains(body, "-32020") {
		t.Fatalf("unlearned tool: %d %s (upstream saw %d)", code, body, len(up.requests())-before)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "t", Version: "1"}, nil).Connect(ctx, &mcp.StreamableClientTransport{Endpoint: url}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	if _, err := cs.ListTools(ctx, nil); err != nil {
		t.Fatal(err)
	}
	r, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "region", Arguments: map[string]any{"region": "eu-west"}})
	if err != nil || r.IsError {
		t.Fatalf("region through a go-sdk client: %v %+v", err, r)
	}

	for _, tc := range []struct{ name, param, msg string }{
		{"wrong value", "us-east", `Mcp-Param-Region header \"us-east\" does not match argument \"region\"`},
		{"missing", "", "missing Mcp-Param-Region header"},
		{"bad base64", "=?base64?***?=", "not valid =?base64?"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(up.requests())
			code, body := send(tc.param)
			if code != http.StatusBadRequest || !strings.Contains(body, tc.msg) || !strings.Contains(body, "-32020") {
				t.Errorf("%d %s, want 400 -32020 %q", code, body, tc.msg)
			}
			if len(up.requests()) != before {
				t.Error("the upstream saw it")
			}
		})
	}
	// The =?base64? form is decoded by the gateway and the go-sdk upstream alike.
	if code, body := send("=?base64?ZXUtd2VzdA==?="); code != http.StatusOK {
		t.Errorf("matching base64 header: %d %s", code, body)
	}
}
