package virtual_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpgate/mcpgate/internal/virtual"
)

// Each 2025-11-25 client session has its own session with an HTTP upstream, created on
// its first request and closed when the client session ends; 2026-07-28 requests, which
// have no session, share the user's.
func TestUpstreamSessionPerClientSession(t *testing.T) {
	up := mcp.NewServer(&mcp.Implementation{Name: "up", Version: "1"}, nil)
	mcp.AddTool(up, &mcp.Tool{Name: "echo"}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "ok"}}}, nil, nil
	})
	srv := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return up }, nil))
	t.Cleanup(srv.Close)
	sessions := func() int {
		n := 0
		for range up.Sessions() {
			n++
		}
		return n
	}
	url, _, _ := newGateway(t, virtual.Options{Upstreams: []virtual.Upstream{{Name: "up", URL: srv.URL, Prefix: "up_"}}})

	first := connectVersion(t, url, "alice", "2025-11-25", nil)
	second := connectVersion(t, url, "alice", "2025-11-25", nil)
	for _, cs := range []*mcp.ClientSession{first, second} {
		if got, err := call(t, cs, "up_echo", nil); err != nil || got != "ok" {
			t.Fatalf("up_echo = %q, %v", got, err)
		}
	}
	waitFor(t, func() bool { return sessions() == 2 }, "an upstream session for each of alice's two client sessions")
	first.Close()
	waitFor(t, func() bool { return sessions() == 1 }, "the first client session's upstream session closed with it")
	if got, err := call(t, second, "up_echo", nil); err != nil || got != "ok" {
		t.Fatalf("the second session after the first ended: %q, %v", got, err)
	}

	for range 3 { // stateless clients: one upstream session for the user, however many
		cs := connectVersion(t, url, "alice", "2026-07-28", nil)
		if got, err := call(t, cs, "up_echo", nil); err != nil || got != "ok" {
			t.Fatalf("2026-07-28 up_echo = %q, %v", got, err)
		}
	}
	if n := sessions(); n != 2 {
		t.Fatalf("upstream sessions = %d, want 2 (the second client session's, and one for alice's stateless requests)", n)
	}
}
