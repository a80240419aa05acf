package client

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpgate/mcpgate/internal/gateway"
)

// headerUpstream is a stateless go-sdk v1.8.0 server (it speaks 2026-07-28) with a tool
// whose "region" argument travels in Mcp-Param-Region too; it records the MCP headers of
// every request it gets.
type headerUpstream struct {
	mu   sync.Mutex
	seen []http.Header
}

func newHeaderUpstream(t *testing.T) (*headerUpstream, string) {
	t.Helper()
	srv := mcp.NewServer(&mcp.Implementation{Name: "weather", Version: "1"}, nil)
	mcp.AddTool(srv, &mcp.Tool{Name: "forecast", InputSchema: map[string]any{"type": "object", "properties": map[string]any{
		"region": map[string]any{"type": "string", "x-mcp-header": "Region"},
		"days":   map[string]any{"type": "integer"}}}},
		func(ctx context.Context, req *mcp.CallToolRequest, in map[string]any) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "sunny in " + in["region"].(string)}}}, nil, nil
		})
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, &mcp.StreamableHTTPOptions{Stateless: true})
	u := &headerUpstream{}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.seen = append(u.seen, r.Header.Clone())
		u.mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	return u, ts.URL
}

func (u *headerUpstream) calls() []http.Header {
	u.mu.Lock()
	defer u.mu.Unlock()
	var out []http.Header
	for _, h := range u.seen {
		if h.Get("Mcp-Method") == "tools/call" {
			out = append(out, h)
		}
	}
	return out
}

// stdioClient connects a go-sdk v1.8.0 client asking for version, over stdio pipes, to a
// Bridge in front of url.
func stdioClient(t *testing.T, url, version string) *mcp.ClientSession {
	t.Helper()
	inR, inW := io.Pipe()   // client → bridge
	outR, outW := io.Pipe() // bridge → client
	b := &Bridge{URL: url, HTTP: http.DefaultClient, In: inR, Out: outW, RetryDelay: 20 * time.Millisecond}
	done := make(chan struct{})
	go func() { b.Run(context.Background()); outW.Close(); close(done) }()
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "stdio", Version: "1"}, nil).Connect(t.Context(),
		&mcp.IOTransport{Reader: outR, Writer: inW}, &mcp.ClientSessionOptions{ProtocolVersion: version})
	if err != nil {
		t.Fatalf("connect through the bridge: %v", err)
	}
	t.Cleanup(func() {
		cs.Close()
		inW.Close()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("the bridge did not stop")
		}
	})
	return cs
}

// TestBridgeProtocolHeaders: a go-sdk v1.8.0 stdio client on 2026-07-28 works through the
// bridge and mcpgate's gateway, which refuses requests whose Mcp-Method, Mcp-Name or
// Mcp-Param-* headers do not match the body: the bridge makes them from each message,
// including Mcp-Param-* for a tool it has not seen listed (it lists the tools itself),
// and a base64-wrapped value for a non-ASCII argument. A 2025-11-25 stdio client stays on
// 2025-11-25.
func TestBridgeProtocolHeaders(t *testing.T) {
	up, upURL := newHeaderUpstream(t)
	gw, err := gateway.New(gateway.Options{Routes: []gateway.RouteOptions{{Name: "weather", Path: "/mcp", Upstream: upURL, Mode: gateway.ModePermissive}}})
	if err != nil {
		t.Fatal(err)
	}
	front := httptest.NewServer(gw.Handler())
	t.Cleanup(front.Close)
	url := front.URL + "/mcp"
	text := func(r *mcp.CallToolResult) string {
		if r == nil || len(r.Content) == 0 {
			return ""
		}
		tc, _ := r.Content[0].(*mcp.TextContent)
		return tc.Text
	}

	// The gateway learns the tool's binding from a list it relays (another client).
	direct, err := mcp.NewClient(&mcp.Implementation{Name: "http", Version: "1"}, nil).Connect(t.Context(), &mcp.StreamableClientTransport{Endpoint: url}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := direct.ListTools(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	direct.Close()

	t.Run("a call before any list: the bridge lists the tools itself", func(t *testing.T) {
		cs := stdioClient(t, url, "2026-07-28")
		before := len(up.calls())
		r, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "forecast", Arguments: map[string]any{"region": "eu-west", "days": 2}})
		if err != nil || r.IsError || text(r) != "sunny in eu-west" {
			t.Fatalf("call: %v %+v", err, r)
		}
		calls := up.calls()[before:]
		if len(calls) != 1 {
			t.Fatalf("the upstream got %d calls", len(calls))
		}
		h := calls[0]
		if h.Get("Mcp-Protocol-Version") != "2026-07-28" || h.Get("Mcp-Name") != "forecast" || h.Get("Mcp-Param-Region") != "eu-west" || h.Get("Mcp-Session-Id") != "" {
			t.Fatalf("headers upstream: %v", h)
		}
	})

	t.Run("after listing: a non-ASCII argument goes base64-wrapped", func(t *testing.T) {
		cs := stdioClient(t, url, "2026-07-28")
		if lt, err := cs.ListTools(t.Context(), nil); err != nil || len(lt.Tools) != 1 {
			t.Fatalf("list: %v %v", lt, err)
		}
		before := len(up.calls())
		r, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "forecast", Arguments: map[string]any{"region": "Île-de-France"}})
		if err != nil || r.IsError || text(r) != "sunny in Île-de-France" {
			t.Fatalf("call: %v %+v", err, r)
		}
		if h := up.calls()[before]; !strings.HasPrefix(h.Get("Mcp-Param-Region"), "=?base64?") {
			t.Fatalf("Mcp-Param-Region = %q", h.Get("Mcp-Param-Region"))
		}
	})

	t.Run("a 2025-11-25 stdio client stays on 2025-11-25", func(t *testing.T) {
		cs := stdioClient(t, url, "2025-11-25")
		if v := cs.InitializeResult().ProtocolVersion; v != "2025-11-25" {
			t.Fatalf("negotiated %q", v)
		}
		r, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "forecast", Arguments: map[string]any{"region": "eu-west"}})
		if err != nil || r.IsError {
			t.Fatalf("call: %v %+v", err, r)
		}
		up.mu.Lock()
		h := up.seen[len(up.seen)-1]
		up.mu.Unlock()
		if h.Get("Mcp-Protocol-Version") != "2025-11-25" || h.Get("Mcp-Method") != "" {
			t.Fatalf("headers upstream: %v", h)
		}
	})
}
