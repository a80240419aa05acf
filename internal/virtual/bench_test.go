package virtual_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpgate/mcpgate/internal/authn"
	"github.com/mcpgate/mcpgate/internal/gateway"
	"github.com/mcpgate/mcpgate/internal/virtual"
)

// manyTools serves a go-sdk server with n echo tools named t_0 … t_<n-1>.
func manyTools(b *testing.B, name string, n int) string {
	s := mcp.NewServer(&mcp.Implementation{Name: name, Version: "1"}, nil)
	for i := range n {
		mcp.AddTool(s, &mcp.Tool{Name: fmt.Sprintf("t_%d", i), Description: "echoes its text"},
			func(ctx context.Context, _ *mcp.CallToolRequest, in echoIn) (*mcp.CallToolResult, any, error) {
				return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: in.Text}}}, nil, nil
			})
	}
	srv := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, nil))
	b.Cleanup(srv.Close)
	return srv.URL
}

// BenchmarkAggregation compares, in one run and through the same gateway, a route in front
// of one upstream with 1,000 tools and a virtual server merging 10 upstreams × 100 tools:
// tools/list (every upstream listed and merged) and tools/call (dispatched by name).
func BenchmarkAggregation(b *testing.B) {
	single := manyTools(b, "one", 1000)
	var ups []virtual.Upstream
	for i := range 10 {
		name := fmt.Sprintf("u%d", i)
		ups = append(ups, virtual.Upstream{Name: name, URL: manyTools(b, name, 100), Prefix: name + "_"})
	}
	vs, err := virtual.New(virtual.Options{Route: "virt", Upstreams: ups})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { vs.Close() })
	verifier := authn.VerifierFunc(func(ctx context.Context, token string) (*authn.Principal, error) {
		return &authn.Principal{Issuer: "https://idp.test", Subject: token}, nil
	})
	gw, err := gateway.New(gateway.Options{Routes: []gateway.RouteOptions{
		{Name: "single", Path: "/single/mcp", Upstream: single, Verifier: verifier},
		{Name: "virt", Path: "/virt/mcp", Handler: vs.Handler(), Verifier: verifier},
	}})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(gw.Handler())
	b.Cleanup(srv.Close)

	for _, tc := range []struct{ name, path, tool string }{
		{"single-1x1000", "/single/mcp", "t_500"},
		{"virtual-10x100", "/virt/mcp", "u5_t_50"},
	} {
		c := mcp.NewClient(&mcp.Implementation{Name: "bench", Version: "1"}, nil)
		cs, err := c.Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: srv.URL + tc.path,
			HTTPClient: &http.Client{Transport: bearer{"alice"}}}, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { cs.Close() })
		b.Run(tc.name+"/list", func(b *testing.B) {
			for b.Loop() {
				res, err := cs.ListTools(context.Background(), nil)
				if err != nil || len(res.Tools) != 1000 {
					b.Fatalf("list: %v tools, %v", len(res.Tools), err)
				}
			}
		})
		b.Run(tc.name+"/call", func(b *testing.B) {
			for b.Loop() {
				if _, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: tc.tool, Arguments: map[string]any{"text": "x"}}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkStdioTransport compares, in one run, a tool call to a stdio server over the
// Go SDK's CommandTransport (unbounded output) and over the virtual server's bounded
// transport (message size checked on every read, output rate limited).
func BenchmarkStdioTransport(b *testing.B) {
	bin := stdioServer(b)
	for _, tc := range []struct {
		name string
		tr   func() mcp.Transport
	}{
		{"sdk-command", func() mcp.Transport { return &mcp.CommandTransport{Command: exec.Command(bin)} }},
		{"bounded", func() mcp.Transport {
			return virtual.ProcessTransport(exec.Command(bin), virtual.DefaultMaxLineBytes, virtual.DefaultMaxOutputRate)
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			cs, err := mcp.NewClient(&mcp.Implementation{Name: "bench", Version: "1"}, nil).Connect(context.Background(), tc.tr(), nil)
			if err != nil {
				b.Fatal(err)
			}
			defer cs.Close()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "whoami"}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
