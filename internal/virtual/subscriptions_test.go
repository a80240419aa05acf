package virtual_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpgate/mcpgate/internal/virtual"
)

// perUserUpstream serves one go-sdk server per user (told apart by the credential
// keyCredentials sets), each with a subscribable resource docs://readme and a changeable
// tool list, and counts the subscribe and unsubscribe requests each user's server gets.
type perUserUpstream struct {
	URL      string
	mu       sync.Mutex
	srv      *httptest.Server
	servers  map[string]*mcp.Server
	handlers map[string]http.Handler
	subs     map[string]*atomic.Int32 // user → resources/subscribe received
	unsubs   map[string]*atomic.Int32
	opts     *mcp.StreamableHTTPOptions
}

func newPerUserUpstream(t *testing.T, o *mcp.StreamableHTTPOptions) *perUserUpstream {
	u := &perUserUpstream{servers: map[string]*mcp.Server{}, handlers: map[string]http.Handler{}, subs: map[string]*atomic.Int32{}, unsubs: map[string]*atomic.Int32{}, opts: o}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, ok := strings.CutPrefix(r.Header.Get("X-Upstream-Key"), "docs-")
		if !ok {
			http.Error(w, "no key", http.StatusUnauthorized)
			return
		}
		u.server(user)
		u.mu.Lock()
		h := u.handlers[user]
		u.mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	u.URL, u.srv = srv.URL, srv
	return u
}

// restart forgets every server and its sessions and drops the open connections, as an
// upstream that restarted.
func (u *perUserUpstream) restart() {
	u.mu.Lock()
	u.servers, u.handlers = map[string]*mcp.Server{}, map[string]http.Handler{}
	u.subs, u.unsubs = map[string]*atomic.Int32{}, map[string]*atomic.Int32{}
	u.mu.Unlock()
	u.srv.CloseClientConnections()
}

func (u *perUserUpstream) server(user string) *mcp.Server {
	u.mu.Lock()
	defer u.mu.Unlock()
	if s := u.servers[user]; s != nil {
		return s
	}
	subs, unsubs := &atomic.Int32{}, &atomic.Int32{}
	u.subs[user], u.unsubs[user] = subs, unsubs
	s := mcp.NewServer(&mcp.Implementation{Name: "docs", Version: "1"}, &mcp.ServerOptions{
		SubscribeHandler:   func(context.Context, *mcp.SubscribeRequest) error { subs.Add(1); return nil },
		UnsubscribeHandler: func(context.Context, *mcp.UnsubscribeRequest) error { unsubs.Add(1); return nil },
	})
	s.AddResource(&mcp.Resource{Name: "readme", URI: "docs://readme"}, func(_ context.Context, r *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
		return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: r.Params.URI, Text: user + "'s readme"}}}, nil
	})
	mcp.AddTool(s, &mcp.Tool{Name: "first"}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{}, nil, nil
	})
	u.servers[user] = s
	u.handlers[user] = mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, u.opts)
	return s
}

func (u *perUserUpstream) count(m map[string]*atomic.Int32, user string) int32 {
	u.mu.Lock()
	defer u.mu.Unlock()
	if c := m[user]; c != nil {
		return c.Load()
	}
	return 0
}

// counter counts notifications a client session receives.
type counter struct{ updated, tools atomic.Int32 }

func (c *counter) opts() *mcp.ClientOptions {
	return &mcp.ClientOptions{
		ResourceUpdatedHandler: func(_ context.Context, r *mcp.ResourceUpdatedNotificationRequest) {
			if r.Params.URI == "docs://readme" {
				c.updated.Add(1)
			}
		},
		ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) { c.tools.Add(1) },
	}
}

func connectVersion(t *testing.T, url, user, version string, opts *mcp.ClientOptions) *mcp.ClientSession {
	t.Helper()
	c := mcp.NewClient(&mcp.Implementation{Name: "test", Version: "1"}, opts)
	cs, err := c.Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: url, HTTPClient: &http.Client{Transport: bearer{user}}},
		&mcp.ClientSessionOptions{ProtocolVersion: version})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

// Resource subscriptions go through the virtual server to the upstream that serves the
// resource, on the user's own upstream session (once per upstream session, however many of
// the user's 2026-07-28 listen streams subscribe); an update reaches the client sessions of that user only, and so
// does a list change; the last unsubscribe unsubscribes upstream. Clients on 2025-11-25
// (resources/subscribe on a session) and 2026-07-28 (resourceSubscriptions of
// subscriptions/listen), against a stateful and a stateless upstream.
func TestResourceSubscriptionsForwarded(t *testing.T) {
	for _, tc := range []struct {
		name, version string
		upstream      *mcp.StreamableHTTPOptions
	}{
		{"2025-11-25 client, stateful upstream", "2025-11-25", nil},
		{"2026-07-28 client, stateless upstream", "2026-07-28", &mcp.StreamableHTTPOptions{Stateless: true}},
		{"2026-07-28 client, stateful upstream", "2026-07-28", nil},
	} {
		t.Run(tc.name, func(t *testing.T) { testSubscriptions(t, tc.version, tc.upstream) })
	}
}

func testSubscriptions(t *testing.T, version string, o *mcp.StreamableHTTPOptions) {
	up := newPerUserUpstream(t, o)
	other := newHTTPUpstream(t, "other", false, nil)
	url, _, logs := newGateway(t, virtual.Options{Upstreams: []virtual.Upstream{
		{Name: "docs", URL: up.URL, Prefix: "docs_", Credentials: keyCredentials("docs")},
		{Name: "other", URL: other.URL, Prefix: "other_"},
	}})
	var a1, a2, b counter
	alice1 := connectVersion(t, url, "alice", version, a1.opts())
	alice2 := connectVersion(t, url, "alice", version, a2.opts())
	bob := connectVersion(t, url, "bob", version, b.opts())
	if got := alice1.InitializeResult().ProtocolVersion; got != version {
		t.Fatalf("negotiated %s, want %s", got, version)
	}
	if caps := alice1.InitializeResult().Capabilities; caps.Resources == nil || !caps.Resources.Subscribe {
		t.Fatalf("the virtual server does not offer resource subscriptions: %+v", caps.Resources)
	}
	ctx := context.Background()
	for _, cs := range []*mcp.ClientSession{alice1, alice2, bob} {
		if _, err := cs.ListTools(ctx, nil); err != nil { // each client lists first, as clients do
			t.Fatal(err)
		}
		if err := cs.Subscribe(ctx, &mcp.SubscribeParams{URI: "docs://readme"}); err != nil {
			t.Fatalf("subscribe: %v\n%s", err, logs)
		}
	}
	// A 2025-11-25 client session has an upstream session of its own; 2026-07-28 requests
	// share the user's.
	perSession := version == "2025-11-25"
	wantAlice := int32(1)
	if perSession {
		wantAlice = 2
	}
	waitFor(t, func() bool { return up.count(up.subs, "alice") == wantAlice && up.count(up.subs, "bob") == 1 }, "one upstream subscribe per upstream session")

	// alice's readme changes: both of alice's sessions hear it, bob does not.
	if err := up.server("alice").ResourceUpdated(ctx, &mcp.ResourceUpdatedNotificationParams{URI: "docs://readme"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return a1.updated.Load() == 1 && a2.updated.Load() == 1 }, "alice's sessions told of alice's update")
	if err := up.server("bob").ResourceUpdated(ctx, &mcp.ResourceUpdatedNotificationParams{URI: "docs://readme"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return b.updated.Load() == 1 }, "bob told of bob's update")
	time.Sleep(300 * time.Millisecond) // a stray notification would have arrived by now
	if a1.updated.Load() != 1 || a2.updated.Load() != 1 || b.updated.Load() != 1 {
		t.Fatalf("updates heard: alice %d+%d, bob %d; want 1+1 and 1 (each user hears only their own)", a1.updated.Load(), a2.updated.Load(), b.updated.Load())
	}

	// alice's tool list changes: alice's sessions are told, bob's is not. (The SDK client
	// opens its 2026-07-28 listen stream for list changes when it connects.)
	mcp.AddTool(up.server("alice"), &mcp.Tool{Name: "second"}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{}, nil, nil
	})
	waitFor(t, func() bool { return a1.tools.Load() >= 1 && a2.tools.Load() >= 1 }, "alice's sessions told of alice's list change")
	mcp.AddTool(up.server("bob"), &mcp.Tool{Name: "third"}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{}, nil, nil
	})
	waitFor(t, func() bool { return b.tools.Load() >= 1 }, "bob told of bob's list change")
	time.Sleep(300 * time.Millisecond)
	if n := b.tools.Load(); n != 1 {
		t.Fatalf("bob heard %d tool list changes, want 1 (his own)", n)
	}
	if names, _ := toolNames(t, bob); strings.Contains(strings.Join(names, ","), "docs_second") {
		t.Fatalf("bob lists alice's new tool: %v", names)
	}

	// The last of alice's sessions to unsubscribe unsubscribes upstream.
	if err := alice1.Unsubscribe(ctx, &mcp.UnsubscribeParams{URI: "docs://readme"}); err != nil {
		t.Fatal(err)
	}
	if perSession {
		waitFor(t, func() bool { return up.count(up.unsubs, "alice") == 1 }, "the upstream unsubscribe of alice's first session")
	} else {
		time.Sleep(200 * time.Millisecond)
		if n := up.count(up.unsubs, "alice"); n != 0 {
			t.Fatalf("upstream unsubscribed while alice's second session is subscribed (%d)", n)
		}
	}
	if err := alice2.Unsubscribe(ctx, &mcp.UnsubscribeParams{URI: "docs://readme"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return up.count(up.unsubs, "alice") == wantAlice }, "the upstream unsubscribe after alice's last session unsubscribed")
	// A session that ends without unsubscribing releases its subscription too.
	bob.Close()
	waitFor(t, func() bool { return up.count(up.unsubs, "bob") == 1 }, "the upstream unsubscribe after bob's session ended")
}

// A subscription to a resource no upstream serves is refused with a message that says so:
// resources/subscribe (2025-11-25), and a subscriptions/listen naming it (2026-07-28).
func TestSubscribeUnknownResource(t *testing.T) {
	other := newHTTPUpstream(t, "other", false, nil)
	url, _, _ := newGateway(t, virtual.Options{Upstreams: []virtual.Upstream{{Name: "other", URL: other.URL, Prefix: "other_"}}})
	cs := connectVersion(t, url, "alice", "2025-11-25", nil)
	err := cs.Subscribe(context.Background(), &mcp.SubscribeParams{URI: "nowhere://x"})
	if err == nil || !strings.Contains(err.Error(), `no upstream serves resource "nowhere://x"`) {
		t.Fatalf("2025-11-25: subscribe to an unknown resource: %v", err)
	}
	body := `{"jsonrpc":"2.0","id":7,"method":"subscriptions/listen","params":{"notifications":{"resourceSubscriptions":["nowhere://x"]},` +
		`"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{"name":"t","version":"1"},"io.modelcontextprotocol/clientCapabilities":{}}}}`
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	for k, v := range map[string]string{"Authorization": "Bearer alice", "Content-Type": "application/json", "Accept": "application/json, text/event-stream",
		"MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "subscriptions/listen"} {
		req.Header.Set(k, v)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(raw), `"id":7,"error"`) || !strings.Contains(string(raw), `no upstream serves resource \"nowhere://x\"`) {
		t.Fatalf("2026-07-28: subscriptions/listen naming an unknown resource: %d %s", resp.StatusCode, raw)
	}
}

// When the upstream session behind a subscription ends (the upstream restarted and forgot
// its sessions), the virtual server connects again, subscribes again and tells the
// subscriber the resource may have changed; later updates keep arriving.
func TestSubscriptionRenewedAfterUpstreamRestart(t *testing.T) {
	up := newPerUserUpstream(t, nil)
	url, _, logs := newGateway(t, virtual.Options{Upstreams: []virtual.Upstream{
		{Name: "docs", URL: up.URL, Prefix: "docs_", Credentials: keyCredentials("docs")},
	}})
	var a counter
	alice := connectVersion(t, url, "alice", "2025-11-25", a.opts())
	ctx := context.Background()
	if err := alice.Subscribe(ctx, &mcp.SubscribeParams{URI: "docs://readme"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return up.count(up.subs, "alice") == 1 }, "the upstream subscribe")
	up.restart()
	waitFor(t, func() bool { return up.count(up.subs, "alice") == 1 && a.updated.Load() == 1 },
		"the subscription renewed on the restarted upstream, and alice told to read again")
	if !strings.Contains(logs.String(), "resource subscriptions renewed") {
		t.Errorf("the log does not say the subscriptions were renewed:\n%s", logs)
	}
	if err := up.server("alice").ResourceUpdated(ctx, &mcp.ResourceUpdatedNotificationParams{URI: "docs://readme"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return a.updated.Load() == 2 }, "an update from the restarted upstream")
}
