package demo_test

import (
	"context"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// checkBothVersions: through the demo's gateway, a go-sdk v1.8.0 client gets 2026-07-28
// (the demo's upstreams are stateless) and a client asking for 2025-11-25 (as the
// TypeScript SDK 1.32.2 does) gets 2025-11-25 from the same route; both can call.
func checkBothVersions(t *testing.T, ctx context.Context, latest *mcp.ClientSession, url, user, password string) {
	t.Helper()
	if v := latest.InitializeResult().ProtocolVersion; v != "2026-07-28" {
		t.Errorf("a go-sdk v1.8.0 client negotiated %s through the demo, want 2026-07-28", v)
	}
	c, person := signInClient(t, url, user, password)
	cl := mcp.NewClient(&mcp.Implementation{Name: "demo-test-2025", Version: "1"}, nil)
	old, err := cl.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: url, HTTPClient: c.HTTPClient()},
		&mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		t.Fatalf("connecting to %s on 2025-11-25: %v (pages visited: %v)", url, err, person.Seen)
	}
	defer old.Close()
	if v := old.InitializeResult().ProtocolVersion; v != "2025-11-25" {
		t.Errorf("a client asking for 2025-11-25 got %s", v)
	}
	res, err := old.CallTool(ctx, &mcp.CallToolParams{Name: "get_forecast", Arguments: map[string]any{"city": "Oslo", "days": 1}})
	if err != nil || res.IsError {
		t.Errorf("get_forecast on 2025-11-25: %v", err)
	}
}
